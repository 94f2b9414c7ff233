# Round 11: round 10's prefix (the hypernetwork phase, 600 steps) forked into a run whose calibration at T_end
# minimises the absolute output error (larger experts at low noise) instead of the relative one; the control is
# round 10's control arm (same prefix, relative calibration, same flags otherwise).
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --experts 10 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze"
node --import tsx scripts/fork-run.ts --from runs/r10/prefix --to runs/r11/absolute --calibrate-objective absolute
cp runs/r10/prefix/train_log.jsonl runs/r11/absolute/
ALTER_NUM_THREADS=2 node bin/alter.js prune $COMMON --calibrate-objective absolute --out runs/r11/absolute --resume
