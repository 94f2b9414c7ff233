# The validation evaluation of refinement rounds 14-18 (the settings of rounds 6-13): `alter eval` of one model beside the dense teacher on the
# validation split (the last 5,000 training images), 1,000 images, 20 DDIM steps, guidance 1, sampling seeds
# $SEEDS (default 0 1 2), $THREADS kernel threads (default 2).
#   bash results/fmnist-reproduction/refinement/eval-validation.sh MODEL_DIR OUT_PREFIX   (writes OUT_PREFIX-seedS/)
# The teacher's rows and the dense 50-step reference images are the same in every round; where round 13's
# `eval-baselines.sh` left them (`--keep-progress`, same settings), they are reused and only the model is sampled
# (its speedup then divides by a dense latency measured in that earlier run).
set -e
MODEL=${1:?usage: eval-validation.sh MODEL_DIR OUT_PREFIX}; PREFIX=${2:?usage: eval-validation.sh MODEL_DIR OUT_PREFIX}
COMMON="--models models/fmnist-teacher $MODEL --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4 --keep-progress"
for S in ${SEEDS:-0 1 2}; do
  OUT=$PREFIX-seed$S; PREV=runs/r13/baselines-eval-seed$S
  if [ ! -e "$OUT/eval-progress.json" ] && [ -e "$PREV/eval-progress.json" ]; then
    mkdir -p "$OUT" && cp "$PREV/eval-progress.json" "$PREV/eval-reference.f32" "$OUT/"
  fi
  ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js eval $COMMON --steps 20 --seed $S --out "$OUT"
done
