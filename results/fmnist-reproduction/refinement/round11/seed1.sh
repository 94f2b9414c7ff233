# Round 11, second arm: round 10's control command (relative calibration at T_end) with training seed 1: how far the
# frozen plan alone moves the validation score (round 10's control is seed 0).
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --checkpoint-every 50 --experts 10 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze"
R=""; [ -f runs/r11/seed1/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=1 node bin/alter.js prune $COMMON --seed 1 --out runs/r11/seed1 $R
