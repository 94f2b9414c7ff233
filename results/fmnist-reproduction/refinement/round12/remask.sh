# Round 12: round 10's prefix (the hypernetwork phase, 600 steps) forked into a run whose expert masks are
# re-chosen at T_end by measured single-drop error on the student (--remask-at-freeze: same router, no more of each
# expert's MACs); the control is round 10's control arm (same prefix, same flags otherwise). Re-running resumes.
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --experts 10 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze"
if [ ! -f runs/r12/remask/checkpoint.safetensors ]; then
  node --import tsx scripts/fork-run.ts --from runs/r10/prefix --to runs/r12/remask --remask-at-freeze
  cp runs/r10/prefix/train_log.jsonl runs/r12/remask/
fi
ALTER_NUM_THREADS=${THREADS:-1} node bin/alter.js prune $COMMON --remask-at-freeze --out runs/r12/remask --resume
