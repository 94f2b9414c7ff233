# Round 15: what the fine-tuning alone costs. Round 13's Static command (round 10's recipe at 7,000 UNet steps) with
# nothing to prune: `--ratio 1`, so the one expert keeps all 24 prunable layers (the budget fit at T_end makes it so
# if the hypernetwork left one out) and the run fine-tunes the full teacher with ALTER's losses, learning rate, batch
# and cosine decay. About 80 minutes alone on 2 kernel threads; re-running resumes.
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze"
R=""; [ -f runs/r15/dense-control/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js prune $COMMON --method static --ratio 1 --out runs/r15/dense-control $R
