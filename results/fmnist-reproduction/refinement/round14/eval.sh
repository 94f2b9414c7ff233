# Round 14 evaluation (validation, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2; see ../eval-validation.sh).
bash results/fmnist-reproduction/refinement/eval-validation.sh runs/r14/experts2-20k runs/r14/eval
