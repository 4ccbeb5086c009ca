#!/usr/bin/env bash
# HTTP ingest before/after (issue 12): the unchanged code (commit 8fc62c8, unpacked in $BEFORE) and
# this tree, back to back on the same box, same commands, same venv, same GeoIP database.
#   bash loadtest/results/run2/ingest/run-issue12-load.sh /tmp/wt12-before /work/wt12 OUTDIR
set -euo pipefail
BEFORE=$1; AFTER=$2; OUT=$3
PY=/work/wt12/.venv/bin/python
GEO=CLICKPORT_GEOIP_PATH=/work/wt12/data/geo/dbip-city-lite.mmdb
for variant in before after; do
  dir=$BEFORE; [ "$variant" = after ] && dir=$AFTER
  res=$OUT/$variant
  mkdir -p "$res"
  (cd "$dir" && rm -rf data/load-issue12 &&
   $PY -m loadtest load --baseline --duration 20 --connections 32 --data-dir data/load-issue12 \
       --server-env $GEO --results "$res" &&
   $PY -m loadtest load --rate 1000 --duration 20 --data-dir data/load-issue12 --server-env $GEO --results "$res" &&
   $PY -m loadtest load --rate 2000 --duration 20 --data-dir data/load-issue12 --server-env $GEO --results "$res")
done
