# Round 13, third arm: round 10's control command as the Manual baseline with 2 experts (t < 500 and t >= 500, fixed;
# the masks learned, no router, so no calibration at T_end). Re-running resumes.
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65"
R=""; [ -f runs/r13/manual2/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=${THREADS:-1} node bin/alter.js prune $COMMON --method manual --experts 2 --out runs/r13/manual2 $R
