# Round 15 evaluation (validation, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2; see ../eval-validation.sh).
bash results/fmnist-reproduction/refinement/eval-validation.sh runs/r15/dense-control runs/r15/eval
