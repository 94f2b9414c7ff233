# Round 11, the training-seed-1 run: the same validation evaluation as the other arms (1,000 images, 20 DDIM steps,
# sampling seeds 0 / 1 / 2), the dense teacher beside it as in every round.
set -e
COMMON="--models models/fmnist-teacher runs/r11/seed1 --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4 --keep-progress"
for S in ${SEEDS:-0 1 2}; do ALTER_NUM_THREADS=${THREADS:-1} node bin/alter.js eval $COMMON --steps 20 --seed $S --out runs/r11/seed1-eval-seed$S; done
