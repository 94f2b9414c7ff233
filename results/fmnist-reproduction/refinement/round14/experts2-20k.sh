# Round 14: round 13's best arm (`--experts 2`, round 10's control command otherwise) fine-tuned to 20,000 UNet steps,
# the length of round 6 (5.00 / 4.59 / 4.43 on the validation split at sampling seeds 0 / 1 / 2). About 2.5 hours alone
# on 2 kernel threads (THREADS=2); it checkpoints every 50 steps, and re-running resumes. Started afresh, run the first
# 601 steps with THREADS=1 (round 13 froze its plan on one thread; two give another plan), then Ctrl-C and resume.
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --steps 20000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze"
R=""; [ -f runs/r14/experts2-20k/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js prune $COMMON --experts 2 --out runs/r14/experts2-20k $R
