# Round 20: pruning in three stages, 0.85 -> 0.75 -> 0.65. Round 19 showed that a 0.65 student started from the 0.75
# model beats one started from the teacher; here the 0.75 stage itself starts from round 18's 0.85 model (level with
# the teacher). Round 13's `experts2.sh` flags in every stage; the dense teacher stays the distillation target.
#   STAGE=0.75 bash .../round20/three-stages.sh   0.75 from runs/r18/experts2-ratio0.85 (7,000 steps, ~1 h alone)
#   STAGE=0.65 bash .../round20/three-stages.sh   0.65 from the 0.75 stage (STEPS, default 7,000; 20,000 ~2.5 h alone)
#   SEED=1 STAGE=0.65 ...                          another training seed (hypernetwork draw, data order) -> ...-seed1
# Re-running resumes. Evaluate with ../eval-validation.sh MODEL_DIR OUT_PREFIX.
set -e
COMMON="--teacher models/fmnist-teacher --holdout 5000 --batch 16 --seed ${SEED:-0} --checkpoint-every 50 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --calibrate-at-freeze --experts 2"
case "${STAGE:-}" in
  0.75) FROM=runs/r18/experts2-ratio0.85; OUT=runs/r20/stage0.75; STEPS=7000 ;;
  0.65) FROM=runs/r20/stage0.75; OUT=runs/r20/stage0.65-${STEPS:-7000}${SEED:+-seed$SEED} ;;
  *) echo "set STAGE=0.75 or STAGE=0.65" >&2; exit 2 ;;
esac
[ -f $FROM/alter_plan.json ] || { echo "$FROM is missing: run the stage before it first" >&2; exit 2; }
R=""; [ -f $OUT/checkpoint.safetensors ] && R="--resume"
ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js prune $COMMON --ratio $STAGE --steps ${STEPS:-7000} --student $FROM --out $OUT $R
