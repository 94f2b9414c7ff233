# Round 19 evaluation (validation, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2; see ../eval-validation.sh).
# STEPS=20000 evaluates the longer run (runs/r19/staged-20000).
if [ "${STEPS:-7000}" = 7000 ]; then M=runs/r19/staged; P=runs/r19/eval; else M=runs/r19/staged-$STEPS; P=runs/r19/eval-$STEPS; fi
bash results/fmnist-reproduction/refinement/eval-validation.sh $M $P
