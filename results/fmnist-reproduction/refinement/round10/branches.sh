# Round 10: one prefix (the hypernetwork phase, 600 steps, focus off), forked into two fine-tunings that differ only in --focus-steps.
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --experts 10 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze"
mkdir -p runs/r10/control runs/r10/focus20
cp runs/r10/prefix/checkpoint.safetensors runs/r10/prefix/train_log.jsonl runs/r10/control/
node --import tsx scripts/fork-run.ts --from runs/r10/prefix --to runs/r10/focus20 --focus-steps 20 --focus-fraction 1
cp runs/r10/prefix/train_log.jsonl runs/r10/focus20/
ALTER_NUM_THREADS=1 node bin/alter.js prune $COMMON --out runs/r10/control --resume > runs/logs/r10-control.log 2>&1 &
ALTER_NUM_THREADS=1 node bin/alter.js prune $COMMON --focus-steps 20 --out runs/r10/focus20 --resume > runs/logs/r10-focus20.log 2>&1 &
wait
