# Round 13 evaluation of the Static and 2-expert Manual arms in one `alter eval` call (the dense teacher's rows are
# sampled once for both): validation split, 1,000 images, 20 DDIM steps, the same images and seeds as eval.sh.
set -e
COMMON="--models models/fmnist-teacher runs/r13/static runs/r13/manual2 --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4 --keep-progress"
for S in ${SEEDS:-0 1 2}; do ALTER_NUM_THREADS=${THREADS:-1} node bin/alter.js eval $COMMON --steps 20 --seed $S --out runs/r13/baselines-eval-seed$S; done
