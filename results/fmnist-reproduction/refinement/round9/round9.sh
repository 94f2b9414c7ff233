#!/bin/bash
# Round 9: round 6's command (the chosen recipe + --calibrate-at-freeze, with the budget fit) with the feature
# distillation weighted 0.1 instead of 1. Why: in round 6 the normalised feature term is 12 times the output term at
# T_end and 60 times at the end (0.045 vs 0.0007), so it decides both the plan and the fine-tuning, while the samples
# depend on the output; and the plan gives its largest experts to the high-noise steps, where the dense teacher
# recovers least of the Fréchet gap (refinement/hybrid/). Validation only; resumable (run the script again).
cd /work/main
out=runs/repro/search/refine/na0.25-20k-cosf-caf-fit-lf0.1
ALTER_NUM_THREADS=2 node bin/alter.js prune --teacher models/fmnist-teacher --out $out --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --experts 10 --steps 20000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze --lambda-feature 0.1 $([ -f $out/checkpoint.safetensors ] && echo --resume) >> runs/logs/round9.log 2>&1 || exit 1
for s in 0 1 2; do
  [ -f runs/repro/search/refine/eval-round9-seed$s/eval.json ] && continue
  ALTER_NUM_THREADS=2 node bin/alter.js eval --models models/fmnist-teacher $out --reference validation --holdout 5000 --guidance 1 --steps 20 --n 1000 --latency-repeats 1 --latency-batch 4 --seed $s --out runs/repro/search/refine/eval-round9-seed$s >> runs/logs/round9.log 2>&1
done
echo "$(date -u +%T) round9 done" >> runs/logs/round9.log
