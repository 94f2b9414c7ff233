#!/bin/bash
# The table runs still to do (20,000 UNet steps each, with the budget fit), each followed by a test-set eval of its
# row. Idempotent: reproduce.mjs skips finished runs and resumes unfinished ones; a row with an eval.json is skipped.
# Start with: setsid nohup bash runs/logs/chain.sh > /dev/null 2>&1 &
cd /work/main
for name in alter-p0.50 static-p0.65 manual-p0.65 two-stage-p0.65 alter-p0.65-e5 alter-p0.65-e15 alter-p0.55; do
  [ -f runs/repro/eval-row-$name/eval.json ] && continue
  echo "$(date -u +%F' '%T) start $name" >> runs/logs/chain.times
  ALTER_NUM_THREADS=2 node scripts/reproduce.mjs runs --only $name >> runs/logs/$name.log 2>&1 || { echo "$(date -u +%T) FAILED $name" >> runs/logs/chain.times; exit 1; }
  echo "$(date -u +%F' '%T) trained $name" >> runs/logs/chain.times
  ALTER_NUM_THREADS=2 node bin/alter.js eval --models models/fmnist-teacher runs/repro/$name --guidance 1 --steps 50,20 --alter-steps 20 --n 2000 --latency-repeats 5 --latency-batch 16 --out runs/repro/eval-row-$name >> runs/logs/eval-row-$name.log 2>&1 || { echo "$(date -u +%T) EVAL FAILED $name" >> runs/logs/chain.times; exit 1; }
  echo "$(date -u +%F' '%T) evaluated $name" >> runs/logs/chain.times
done
