# Round 14 evaluation: validation split, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2 (as rounds 6-13), the
# dense teacher beside the model.
set -e
COMMON="--models models/fmnist-teacher runs/r14/experts2-20k --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4 --keep-progress"
for S in ${SEEDS:-0 1 2}; do ALTER_NUM_THREADS=${THREADS:-2} node bin/alter.js eval $COMMON --steps 20 --seed $S --out runs/r14/eval-seed$S; done
