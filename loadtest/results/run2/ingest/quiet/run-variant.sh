#!/usr/bin/env bash
# Issue 12 quiet-box re-measure: one variant (a tree) through the run2/ingest commands.
#   bash run-variant.sh TREE OUTDIR [load|import|all] [HISTORY_FILE (default data/history-5M.ndjson.gz)]
# TREE: /work/wt12old (main at 14e2a2b, "before") or /work/wt12 ("after"); same venv, GeoIP
# database and history file for both. Samples /proc/loadavg and the top CPU users every 5 s.
set -euo pipefail
TREE=$1; OUT=$(realpath -m "$2"); WHAT=${3:-all}; FILE=${4:-data/history-5M.ndjson.gz}  # FILE: relative to TREE
PY=/work/wt12/.venv/bin/python
GEO=CLICKPORT_GEOIP_PATH=/work/wt12/data/geo/dbip-city-lite.mmdb
mkdir -p "$OUT"
( while true; do
    echo "$(date -u +%H:%M:%S) $(cat /proc/loadavg) | $(ps -eo pcpu,comm --sort=-pcpu --no-headers | head -4 | tr -s ' ' | tr '\n' ';')"
    sleep 5
  done ) >> "$OUT/loadavg.txt" &
SAMPLER=$!
trap 'kill $SAMPLER' EXIT
cd "$TREE"
echo "tree $TREE at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' +uncommitted')" >> "$OUT/what.txt"
if [ "$WHAT" = load ] || [ "$WHAT" = all ]; then
  rm -rf data/load-issue12
  $PY -m loadtest load --baseline --duration 20 --connections 32 --data-dir data/load-issue12 \
      --server-env $GEO --results "$OUT"
  $PY -m loadtest load --rate 1000 --duration 20 --data-dir data/load-issue12 --server-env $GEO --results "$OUT"
  $PY -m loadtest load --rate 2000 --duration 20 --data-dir data/load-issue12 --server-env $GEO --results "$OUT"
  rm -rf data/load-issue12
fi
if [ "$WHAT" = import ] || [ "$WHAT" = all ]; then
  $PY -m loadtest import --file "$FILE" --data-dir data/import-issue12 --results "$OUT" --no-progress
  rm -rf data/import-issue12
fi
