# Round 19 evaluation (validation, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2; see ../eval-validation.sh).
bash results/fmnist-reproduction/refinement/eval-validation.sh runs/r19/staged runs/r19/eval
