# Round 12 evaluation: validation split, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2 (as rounds 6-11),
# the dense teacher beside it. Waits for the training run to finish.
set -e
while pgrep -f "prune .*runs/r12/remask" > /dev/null; do sleep 20; done
COMMON="--models models/fmnist-teacher runs/r12/remask --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4 --keep-progress"
for S in ${SEEDS:-0 1 2}; do ALTER_NUM_THREADS=${THREADS:-1} node bin/alter.js eval $COMMON --steps 20 --seed $S --out runs/r12/eval-seed$S; done
