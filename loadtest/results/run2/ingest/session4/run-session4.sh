#!/usr/bin/env bash
# Issue 12, session 4: the quiet-window measurements (run from /work/wt12; /work/bench/QUIET.12 held).
#   bash loadtest/results/run2/ingest/session4/run-session4.sh STEP...
# Steps: after-1M after-1M-seq after-5M after-5M-seq before-1M stages inprocess. (after-1M and after-5M ran when
# the client's default was 2 parts in flight: the flag now says so.) "before" is main at a3f0a7d (this
# session's start) unpacked in /tmp/wt12-before (git archive a3f0a7d | tar -x; data/ linked to
# /work/wt12/data). Same venv, GeoIP database and history files for all. Each step samples
# /proc/loadavg and the top CPU users every 5 s into its folder.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/work/wt12/.venv/bin/python
sample() {  # sample OUTDIR: start the sampler, print its pid
  ( while true; do
      echo "$(date -u +%H:%M:%S) $(cat /proc/loadavg) | $(ps -eo pcpu,comm --sort=-pcpu --no-headers | head -4 | tr -s ' ' | tr '\n' ';')"
      sleep 5
    done ) >> "$1/loadavg.txt" &
  echo $!
}
run_import() {  # run_import TREE OUTDIR FILE [extra loadtest import options]
  local tree=$1 out=$2 file=$3; shift 3
  mkdir -p "$out"
  local sampler; sampler=$(sample "$out")
  ( cd "$tree" && echo "tree $tree at $(git rev-parse --short HEAD 2>/dev/null || echo a3f0a7d)" > "$out/what.txt"
    $PY -m loadtest import --file "$file" --data-dir data/import-session4 --results "$out" --no-progress "$@"
    rm -rf data/import-session4 ) 2>&1 | tail -3 | cut -c1-2000
  kill "$sampler"
}
for step in "$@"; do
  echo "== $step $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  case $step in
    after-1M) run_import /work/wt12 "$HERE/import-1M" data/history-1M.ndjson.gz --in-flight 2 ;;
    after-1M-seq) run_import /work/wt12 "$HERE/import-1M-in-flight-1" data/history-1M.ndjson.gz --in-flight 1 ;;
    after-5M) run_import /work/wt12 "$HERE/import-5M" data/history-5M.ndjson.gz --in-flight 2 ;;
    after-5M-seq) run_import /work/wt12 "$HERE/import-5M-in-flight-1" data/history-5M.ndjson.gz --in-flight 1 ;;
    before-1M) run_import /tmp/wt12-before "$HERE/import-1M-before" data/history-1M.ndjson.gz ;;
    stages)
      s=$(sample "$HERE"); (cd /work/wt12 && $PY "$HERE/stage_costs.py" 100000) > "$HERE/stage_costs.txt" 2>&1; kill "$s" ;;
    inprocess)
      s=$(sample "$HERE")
      for v in "0 1" "2 1" "0 2"; do set -- $v
        (cd /work/wt12 && CLICKPORT_IMPORT_WORKERS=$1 $PY "$HERE/inprocess_import.py" 50000 3 "$2" 2>&1 | tail -1)
      done > "$HERE/inprocess_import.txt"; kill "$s" ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
done
echo "== done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
