# Round 19: pruning in stages. Round 13's `experts2.sh` (2 experts, budget 0.65, 7,000 UNet steps) with the student
# started from round 18's 0.75 model (`--student`) instead of the teacher; the dense teacher stays the distillation
# target. About 60 minutes alone on 2 kernel threads (the thread count is free). Re-running resumes.
# STEPS=20000 trains the longer last stage (into runs/r19/staged-20000; about 2.5 hours alone).
set -e
STAGE1=runs/r18/experts2-ratio0.75
[ -f $STAGE1/alter_plan.json ] || { echo "$STAGE1 is missing: run RATIO=0.75 bash results/fmnist-reproduction/refinement/round18/experts2-ratio.sh first" >&2; exit 2; }
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --steps ${STEPS:-7000} --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze"
OUT=runs/r19/staged; [ "${STEPS:-7000}" = 7000 ] || OUT=runs/r19/staged-$STEPS
R=""; [ -f $OUT/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js prune $COMMON --experts 2 --student $STAGE1 --out $OUT $R
