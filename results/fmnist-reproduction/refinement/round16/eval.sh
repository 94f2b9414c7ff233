# Round 16 evaluation (validation, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2; see ../eval-validation.sh).
bash results/fmnist-reproduction/refinement/eval-validation.sh runs/r16/experts2-nofeat runs/r16/eval
