#!/usr/bin/env bash
# Issue 12, session 5: the final measurements on main (quiet box, /work/bench/QUIET.12 held).
#   bash loadtest/results/run2/ingest/session5/run-session5.sh TREE
# Every run: the repo's own load tool, a fresh data dir, the DB-IP GeoIP database, wrk 4.1.0
# (default driver when installed: max throughput, or a target rate paced open-loop), 32
# connections, 20 s after a 3 s warm-up. Each step samples /proc/loadavg and the top CPU users
# every 5 s into loadavg.txt.
set -uo pipefail
TREE=${1:-/work/main}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$TREE/.venv/bin/python
GEO=CLICKPORT_GEOIP_PATH=$TREE/data/geo/dbip-city-lite.mmdb
( while true; do
    echo "$(date -u +%H:%M:%S) $(cat /proc/loadavg) | $(ps -eo pcpu,comm --sort=-pcpu --no-headers | head -4 | tr -s ' ' | tr '\n' ';')"
    sleep 5
  done ) >> "$HERE/loadavg.txt" &
SAMPLER=$!
trap 'kill $SAMPLER' EXIT
load() {  # load NAME [options...]
  local name=$1; shift
  rm -rf /tmp/session5-load
  echo "== $name $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$TREE" && $PY -m loadtest load --duration 20 --data-dir /tmp/session5-load --server-env "$GEO" \
      --results "$HERE/$name" "$@") 2>&1 | grep -E "^(baseline|ingest|server side|accounting|store|ingest /)" | cut -c1-400
  rm -rf /tmp/session5-load
}
echo "tree $TREE at $(git -C "$TREE" rev-parse --short HEAD)"
for i in 1 2 3; do
  load sat-$i --rate 0 --baseline
  load r1000-$i --rate 1000
  load r2000-$i --rate 2000
done
load fsync-r1000 --rate 1000 --server-env CLICKPORT_SPOOL_SYNC=fsync
load fsync-r2000 --rate 2000 --server-env CLICKPORT_SPOOL_SYNC=fsync
load asyncio-r1000 --rate 1000 --driver asyncio
load asyncio-r2000 --rate 2000 --driver asyncio
echo "== import-1M $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$TREE" && rm -rf /tmp/session5-import && $PY -m loadtest import --file /work/wt12/data/history-1M.ndjson.gz \
    --data-dir /tmp/session5-import --results "$HERE/import-1M" --no-progress) 2>&1 | tail -3 | cut -c1-1500
rm -rf /tmp/session5-import
echo "== done $(date -u +%H:%M:%S)"
