#!/bin/bash
# Session 13: what lanes.sh leaves, for a session that starts with one table run left. The runs phase trains each
# unfinished run in turn, alone on two kernel threads (one lane on two threads trains ~88 img/s, one lane on one
# thread ~60), and copies alter-p0.65 from the refinement run; then `eval` (every row not yet evaluated, alter-p0.65's,
# and the dense teacher alone at 50/25/20/15 steps) and `tables` (the paper's tables, the report, publish to
# results/fmnist-reproduction/). Idempotent: every phase skips what is done.
# Start with: setsid nohup bash runs/logs/finish.sh > /dev/null 2>&1 &   (output in runs/logs/final.log)
cd /work/main
export ALTER_NUM_THREADS=2
log() { echo "$(date -u +%F' '%T) finish: $*" >> runs/logs/chain.times; }
for phase in runs eval tables; do
  log "$phase phase"
  node scripts/reproduce.mjs $phase >> runs/logs/final.log 2>&1 || { log "$phase phase FAILED"; exit 1; }
done
log "done"
