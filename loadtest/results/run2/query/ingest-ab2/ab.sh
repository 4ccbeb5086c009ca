#!/bin/bash
# HTTP ingest with and without the rollup's cost, interleaved three times (same code, same box):
#   with:    as shipped: rollup_touched_mv in every insert, the maintenance thread at its defaults;
#   without: rollup_touched_mv dropped from the store and the maintenance thread off.
# ../ingest-ab/ab.sh without its "aggressive" side, three rounds; each run's load average before
# and after in its log.
cd "$(dirname "$0")/../../../../.."
OUT=loadtest/results/run2/query/ingest-ab2 WORK=/work/bench/ingest-ab2 SIDES="with without" \
  ROUNDS="1 2 3" bash loadtest/results/run2/query/ingest-ab/ab.sh
grep -H "^ingest:" loadtest/results/run2/query/ingest-ab2/*.log
