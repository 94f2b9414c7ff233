# Round 13 evaluation: validation split, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2 (as rounds 6-12), the
# dense teacher beside each model. ARMS: the run folders under runs/r13 to evaluate (default experts2).
set -e
for A in ${ARMS:-experts2}; do
  COMMON="--models models/fmnist-teacher runs/r13/$A --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4 --keep-progress"
  for S in ${SEEDS:-0 1 2}; do ALTER_NUM_THREADS=${THREADS:-1} node bin/alter.js eval $COMMON --steps 20 --seed $S --out runs/r13/$A-eval-seed$S; done
done
