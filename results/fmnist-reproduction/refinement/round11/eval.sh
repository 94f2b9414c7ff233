# Round 11 evaluation: validation split, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2 (as rounds 6-10).
# (As run: the loop was stopped after seed 1; seed 2 ran later by the same command.)
set -e
while pgrep -f "prune .*runs/r11/absolute" > /dev/null; do sleep 20; done
COMMON="--models models/fmnist-teacher runs/r11/absolute --reference validation --holdout 5000 --guidance 1 --n 1000 --latency-repeats 1 --latency-batch 4 --keep-progress"
for S in 0 1 2; do ALTER_NUM_THREADS=2 node bin/alter.js eval $COMMON --steps 20 --seed $S --out runs/r11/eval-seed$S; done
