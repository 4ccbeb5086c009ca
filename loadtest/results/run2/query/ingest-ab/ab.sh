#!/bin/bash
# HTTP ingest with and without the rollup's cost, interleaved (same code, same box):
#   with:       as shipped: rollup_touched_mv in every insert, the maintenance thread at its defaults
#               (every 30 s, days quiet for 60 s: under continuous load it reads the state only);
#   aggressive: the same, the thread every 5 s with no quiet time (it reseals today during the load);
#   without:    rollup_touched_mv dropped from the store and the maintenance thread off.
# Each run: `loadtest load` at max throughput (wrk, 32 connections, 20 s after a 3 s warm-up) against
# a `clickport serve` it starts on its own data dir.
set -e
cd "$(dirname "$0")/../../../../.."
# SIDES / ROUNDS / OUT / WORK override what runs (../ingest-ab2/ab.sh: with, without; 3 rounds)
OUT=${OUT:-loadtest/results/run2/query/ingest-ab}
WORK=${WORK:-/work/bench/ingest-ab}
SIDES=${SIDES:-with aggressive without}
ROUNDS=${ROUNDS:-1 2}
PY=${PY:-.venv/bin/python}
for side in $SIDES; do
  dir=$WORK-$side; rm -rf $dir; mkdir -p $dir
  $PY - "$dir" "$side" <<'PYEOF'
import sys
from loadtest.seed import open_bench_store
store = open_bench_store(sys.argv[1])  # the schema as `clickport serve` applies it
if sys.argv[2] == "without":
    store.command("DROP VIEW IF EXISTS rollup_touched_mv")
store.close()
PYEOF
done
for round in $ROUNDS; do
  for side in $SIDES; do
    case $side in
      with) env="--server-env CLICKPORT_ROLLUP_INTERVAL_S=30 --server-env CLICKPORT_ROLLUP_QUIET_S=60";;
      aggressive) env="--server-env CLICKPORT_ROLLUP_INTERVAL_S=5 --server-env CLICKPORT_ROLLUP_QUIET_S=0";;
      without) env="--server-env CLICKPORT_ROLLUP_INTERVAL_S=0";;
    esac
    uptime > $OUT/$side-$round.log
    $PY -m loadtest load --data-dir $WORK-$side --duration 20 --warmup 3 --driver wrk \
        --connections 32 $env --results $OUT/$side-$round >> $OUT/$side-$round.log 2>&1 || true
    uptime >> $OUT/$side-$round.log
  done
done
