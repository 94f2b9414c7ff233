# Round 18: where on the budget axis do the pruned students reach the teacher? Round 15 showed the recipe costs the
# unpruned network nothing, so the gap at 0.65 is the sub-networks' capacity. Round 13's `experts2.sh` (7,000 UNet
# steps, 2 experts) at a larger budget: RATIO=0.75 or RATIO=0.85 (required). About 70 minutes alone on 2 kernel
# threads; the thread count is free (no plan to match). Re-running resumes.
set -e
case "${RATIO:-}" in 0.75|0.85) ;; *) echo "set RATIO=0.75 or RATIO=0.85" >&2; exit 2 ;; esac
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --steps 7000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --calibrate-at-freeze"
OUT=runs/r18/experts2-ratio$RATIO
R=""; [ -f $OUT/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js prune $COMMON --ratio $RATIO --experts 2 --out $OUT $R
