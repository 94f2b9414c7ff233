#!/bin/bash
# Round 6: the chosen recipe plus --calibrate-at-freeze, ALTER 0.65, validation only. Session 11: started again with
# the budget fit (the first attempt, na0.25-20k-cosf-caf, froze at 59.5 % without it and stopped at step 1,097).
cd /work/main
out=runs/repro/search/refine/na0.25-20k-cosf-caf-fit
ALTER_NUM_THREADS=2 node bin/alter.js prune --teacher models/fmnist-teacher --out $out --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --experts 10 --steps 20000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --calibrate-at-freeze $([ -f $out/checkpoint.safetensors ] && echo --resume) >> runs/logs/round6.log 2>&1 || exit 1
for s in 0 1 2; do
  [ -f runs/repro/search/refine/eval-round6-fit-seed$s/eval.json ] && continue
  ALTER_NUM_THREADS=2 node bin/alter.js eval --models models/fmnist-teacher $out --reference validation --holdout 5000 --guidance 1 --steps 20 --n 1000 --latency-repeats 1 --latency-batch 4 --seed $s --out runs/repro/search/refine/eval-round6-fit-seed$s >> runs/logs/round6.log 2>&1
done
echo "$(date -u +%T) round6 done" >> runs/logs/round6.log
