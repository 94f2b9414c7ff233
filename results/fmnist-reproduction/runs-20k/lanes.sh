#!/bin/bash
# Session 12: the remaining table runs in two lanes of one kernel thread each (measured: 60 + 60 img/s after
# the freeze, against 88.5 img/s for one lane on two threads), each lane taking the next unclaimed run.
# Each row's test evaluation runs on two threads with the other lane paused (kill -STOP), so it has the
# machine to itself as the earlier rows' had. Idempotent: reproduce.mjs resumes unfinished runs, a row with
# an eval.json is skipped. Start with: setsid nohup bash runs/logs/lanes.sh > /dev/null 2>&1 &
cd /work/main
rm -rf runs/logs/claims; mkdir -p runs/logs/claims
lane() {
  for name in static-p0.65 manual-p0.65 two-stage-p0.65 alter-p0.65-e5 alter-p0.65-e15 alter-p0.55; do
    [ -f runs/repro/eval-row-$name/eval.json ] && continue
    mkdir runs/logs/claims/$name 2>/dev/null || continue
    echo "$(date -u +%F' '%T) lane $1 start $name" >> runs/logs/chain.times
    ALTER_NUM_THREADS=1 node scripts/reproduce.mjs runs --only $name >> runs/logs/$name.log 2>&1 || { echo "$(date -u +%T) FAILED $name" >> runs/logs/chain.times; continue; }
    echo "$(date -u +%F' '%T) lane $1 trained $name" >> runs/logs/chain.times
    (
      flock 9
      pkill -STOP -f "bin/alter.js prune"
      ALTER_NUM_THREADS=2 node bin/alter.js eval --models models/fmnist-teacher runs/repro/$name --guidance 1 --steps 50,20 --alter-steps 20 --n 2000 --latency-repeats 5 --latency-batch 16 --out runs/repro/eval-row-$name >> runs/logs/eval-row-$name.log 2>&1
      rc=$?
      pkill -CONT -f "bin/alter.js prune"
      [ $rc = 0 ] && echo "$(date -u +%F' '%T) evaluated $name (other lane paused)" >> runs/logs/chain.times || echo "$(date -u +%T) EVAL FAILED $name" >> runs/logs/chain.times
    ) 9> runs/logs/eval.lock
  done
}
lane A & sleep 5; lane B & wait
