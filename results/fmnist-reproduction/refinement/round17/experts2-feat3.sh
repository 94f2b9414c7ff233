# Round 17: round 13's best arm (`experts2.sh`: 2 experts, round 10's recipe at 7,000 UNet steps) with the feature
# distillation weighted 3 in the fine-tuning after the freeze (`--lambda-feature-after-freeze 3`): the hypernetwork phase
# and the plan are round 13's, the fine-tuning leans further on the teacher's features (round 16: 0 was worse). About
# 80 minutes alone on 2 kernel threads; re-running resumes. Run the first 601 steps with THREADS=1 (round 13 froze its plan on
# one thread; two give another plan), then stop with Ctrl-C and resume with THREADS=2.
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze"
R=""; [ -f runs/r17/experts2-feat3/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js prune $COMMON --experts 2 --lambda-feature-after-freeze 3 --out runs/r17/experts2-feat3 $R
