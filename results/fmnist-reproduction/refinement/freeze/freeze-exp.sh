#!/bin/bash
# Session 11: where the plan freezes (the first 601 steps of the table command), with and without a noise-free tail.
cd /work/main
run() { # name ratio seed tail
  out=runs/freeze/$1
  [ -f $out/alter_plan.json ] && return
  ALTER_NUM_THREADS=1 node bin/alter.js prune --teacher models/fmnist-teacher --out $out --holdout 5000 --batch 16 --seed $3 --checkpoint-every 1000 --experts 10 --steps 601 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio $2 --noise-free-tail $4 > runs/freeze/$1.log 2>&1
}
mkdir -p runs/freeze
for seed in 0 1 2; do
  for r in 0.50 0.65; do
    run p$r-s$seed-tail0.1 $r $seed 0.1 & run p$r-s$seed-tail0 $r $seed 0 & wait
  done
done
echo done > runs/freeze/DONE
