# Round 13: round 10's control command with 2 experts instead of 10 (training seed 0). Round 11's seed-1 run, whose
# router collapsed to two contiguous experts (89 % / 11 % of the timesteps), scored 5.42 against the control's 6.41
# (validation, sampling seed 0): does a plan with few experts fine-tune better? Re-running resumes.
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze"
R=""; [ -f runs/r13/experts2/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=${THREADS:-1} node bin/alter.js prune $COMMON --experts 2 --out runs/r13/experts2 $R
