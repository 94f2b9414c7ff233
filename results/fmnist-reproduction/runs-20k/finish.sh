#!/bin/bash
# Session 13: what lanes.sh leaves, for a session that starts with one table run left. Each unfinished run alone
# on two kernel threads (one lane on two threads trains ~88 img/s, one lane on one thread ~60), then the rest of
# the reproduction: `runs` (copies alter-p0.65 from the refinement run), `eval` (every row not yet evaluated,
# alter-p0.65's, and the dense teacher alone at 50/25/20/15 steps), `tables` (the paper's tables, the report,
# publish to results/fmnist-reproduction/). Idempotent: every phase skips what is done.
# Start with: setsid nohup bash runs/logs/finish.sh > /dev/null 2>&1 &
cd /work/main
log() { echo "$(date -u +%F' '%T) finish: $*" >> runs/logs/chain.times; }
for name in alter-p0.65-e5 alter-p0.65-e15 alter-p0.55; do
  grep -q '"finished": true' runs/repro/$name/model_index.json 2>/dev/null && continue   # reproduce.mjs's own test, less the step count
  log "start $name"
  ALTER_NUM_THREADS=2 node scripts/reproduce.mjs runs --only $name >> runs/logs/$name.log 2>&1 || { log "FAILED $name"; exit 1; }
  log "trained $name"
done
node scripts/reproduce.mjs runs >> runs/logs/final.log 2>&1 || { log "runs phase FAILED"; exit 1; }
log "eval phase"
node scripts/reproduce.mjs eval >> runs/logs/final.log 2>&1 || { log "eval phase FAILED"; exit 1; }
log "tables phase"
node scripts/reproduce.mjs tables >> runs/logs/final.log 2>&1 || { log "tables phase FAILED"; exit 1; }
log "done"
