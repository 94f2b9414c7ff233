# Round 18, fewer sampler steps: the 0.85 model and the dense teacher at 14, 16, 18 and 20 DDIM steps (validation,
# 1,000 images, guidance 1, sampling seeds $SEEDS, default 0; seed 0 committed). Does a model that is level with the teacher at 20
# steps trade its per-step savings for the 3.3x, and does it beat the teacher at equal MACs?
# Rows at 20 steps are reused from eval.sh's progress files (run it first).
set -e
MODEL=runs/r18/experts2-ratio0.85
COMMON="--models models/fmnist-teacher $MODEL --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4 --keep-progress"
for S in ${SEEDS:-0}; do
  OUT=runs/r18/eval-steps-ratio0.85-seed$S; PREV=runs/r18/eval-ratio0.85-seed$S
  if [ ! -e "$OUT/eval-progress.json" ] && [ -e "$PREV/eval-progress.json" ]; then
    mkdir -p "$OUT" && cp "$PREV/eval-progress.json" "$PREV/eval-reference.f32" "$OUT/"
  fi
  ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js eval $COMMON --steps 14,16,18,20 --seed $S --out "$OUT"
done
