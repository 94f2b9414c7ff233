# Round 18 evaluation (validation, 1,000 images, 20 DDIM steps, sampling seeds 0 / 1 / 2; see ../eval-validation.sh).
case "${RATIO:-}" in 0.75|0.85) ;; *) echo "set RATIO=0.75 or RATIO=0.85" >&2; exit 2 ;; esac
bash results/fmnist-reproduction/refinement/eval-validation.sh runs/r18/experts2-ratio$RATIO runs/r18/eval-ratio$RATIO
