#!/bin/bash
# usage: run.sh TREE NAME DRILL... ; results in loadtest/results/run2/issue10-rerun/NAME of /work/wt10
T=$1; N=$2; shift 2
W=/tmp/wt10-q-$N; rm -rf $W; mkdir -p $W; ln -s /tmp/wt10-drills/a $W/a
R=/work/wt10/loadtest/results/run2/issue10-rerun/$N
mkdir -p $R
if [ "$T" = /work/wt10 ]; then git -C /work/wt10 rev-parse HEAD > $R/commit.txt
else echo "$(git -C /work/wt10 rev-parse HEAD) exported to $T, with: $(grep -n 'A/B' $T/engine/priority.py)" > $R/commit.txt; fi
echo "cd $T && .venv/bin/python -m loadtest.drills $* --results $R --work $W --duration 15 --seed-events 2M   ($W/a -> /tmp/wt10-drills/a, the seeded 2M-event store)" > $R/command.txt
(while true; do echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg) | $(ps -eo pcpu,args --sort=-pcpu | sed -n 2,4p | cut -c1-70 | tr '\n' ';')"; sleep 5; done) > $R/loadavg-during-runs.txt &
LP=$!
cd $T && /work/wt10/.venv/bin/python -m loadtest.drills "$@" --results $R --work $W --duration 15 --seed-events 2M
kill $LP
python3 - "$R" <<'PY'
import json, os, sys
r = sys.argv[1]
for d in "dabc":
    p = os.path.join(r, f"drills-issue10-{d}.json")
    if not os.path.exists(p): continue
    j = json.load(open(p))
    if d == "a":
        print("a", j["baseline"]["p99_ms"], j["with_queries"]["p99_ms"], j["with_queries"]["max_ms"], j["queries"].get("429"), j["checks"], j["server_counters"].get("clickport_event_loop_lag_max_seconds"))
        print("  wait", j.get("server_threads_runqueue_wait_s"), "\n  inside", j.get("inside_server"))
    elif d == "d":
        print("d", j["baseline"]["p50_ms"], j["with_forged_flood"]["p50_ms"], j["checks"], j["cpu"]["flood"].get("victim_inside_server"), j["cpu"]["baseline"].get("victim_inside_server"))
        print("  wait", j["cpu"]["flood"].get("server_threads_runqueue_wait_s"))
    else:
        print(d, j["checks"])
PY
