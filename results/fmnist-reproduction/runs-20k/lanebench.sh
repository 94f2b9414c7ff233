#!/bin/bash
# Throughput after the freeze: one lane on 2 threads vs two lanes on 1 thread each (chain paused).
cd /work/main
P=$(pgrep -f "bin/alter.js prune" | head -1)
kill -STOP $P
for d in a b; do rm -rf /tmp/lb-$d; mkdir -p /tmp/lb-$d; cp runs/repro/static-p0.65/* /tmp/lb-$d/; done
cmd() { node bin/alter.js prune --teacher models/fmnist-teacher --out /tmp/lb-$1 --holdout 5000 --batch 16 --seed 0 --checkpoint-every 50 --experts 10 --steps 20000 --hyper-steps 600 --variant paper --lr-hyper 2e-2 --normalize-features --lr-unet 1e-3 --lr-hyper-schedule constant --noise-anneal 0.25 --lr-unet-schedule cosine-after-freeze --ratio 0.65 --method static --resume; }
ALTER_NUM_THREADS=2 timeout 75 bash -c "$(declare -f cmd); cmd a" > /tmp/lb-2t.log 2>&1
for d in a b; do rm -rf /tmp/lb-$d; mkdir -p /tmp/lb-$d; cp runs/repro/static-p0.65/* /tmp/lb-$d/; done
ALTER_NUM_THREADS=1 timeout 75 bash -c "$(declare -f cmd); cmd a" > /tmp/lb-1a.log 2>&1 &
ALTER_NUM_THREADS=1 timeout 75 bash -c "$(declare -f cmd); cmd b" > /tmp/lb-1b.log 2>&1 &
wait
kill -CONT $P
rm -rf /tmp/lb-a /tmp/lb-b
for f in /tmp/lb-2t.log /tmp/lb-1a.log /tmp/lb-1b.log; do echo "$f: $(tail -c 400 $f | tr '\r' '\n' | grep img/s | tail -1)"; done
