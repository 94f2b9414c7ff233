# Round 10 evaluation: validation split, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2 (as rounds 6-9);
# seed 0 also at 25 steps, to see what the focus on the 20-step grid costs at another step count.
set -e
while pgrep -f "prune .*runs/r10/(control|focus20)" > /dev/null; do sleep 20; done
D=results/fmnist-reproduction/refinement/round10
mkdir -p $D
COMMON="--models models/fmnist-teacher runs/r10/control runs/r10/focus20 --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4"
ALTER_NUM_THREADS=2 node bin/alter.js eval $COMMON --steps 20 --alter-steps 20,25 --seed 0 --out runs/r10/eval-seed0
for S in 1 2; do ALTER_NUM_THREADS=2 node bin/alter.js eval $COMMON --steps 20 --seed $S --out runs/r10/eval-seed$S; done
