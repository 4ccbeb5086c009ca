#!/bin/bash
# usage: ab_gc.sh A|B N  -> drill a once with tree /tmp/wt10-ab2/$1, results .../issue10-rerun/9-gc-$1-$2
T=/tmp/wt10-ab2/$1; N=9-gc-$1-$2
W=/tmp/wt10-q-$N; rm -rf $W; mkdir -p $W; ln -s /tmp/wt10-drills/a $W/a
R=/work/wt10/loadtest/results/run2/issue10-rerun/$N
mkdir -p $R
case $1 in A) C=92119ef;; B) C=8a7fd62;; C) C=fe2ec03;; E) C='92119ef + server/http_protocol.py of fe2ec03';; esac
echo "$C (issue10 branch) exported with git archive to $T" > $R/commit.txt
echo "cd $T && /work/wt10/.venv/bin/python -m loadtest.drills a --results $R --work $W --duration 15 --seed-events 2M   ($W/a -> /tmp/wt10-drills/a, the seeded 2M-event store)" > $R/command.txt
(while true; do echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg) | $(ps -eo pcpu,args --sort=-pcpu | sed -n 2,4p | cut -c1-70 | tr '\n' ';')"; sleep 5; done) > $R/loadavg-during-runs.txt &
LP=$!
cd $T && /work/wt10/.venv/bin/python -m loadtest.drills a --results $R --work $W --duration 15 --seed-events 2M > $R/drill.log 2>&1
kill $LP
/work/wt10/.venv/bin/python - "$R" <<'PY'
import json, sys
j = json.load(open(sys.argv[1] + "/drills-issue10-a.json"))
c = j["server_counters"]
g = {k.replace("clickport_gc_", ""): round(float(v), 4) for k, v in c.items() if k.startswith("clickport_gc_") and ("max" in k or "total" in k)}
print(sys.argv[1].split("/")[-1], "base p99", j["baseline"]["p99_ms"], "q p99", j["with_queries"]["p99_ms"], "max", j["with_queries"]["max_ms"],
      "ratio", round(j["with_queries"]["p99_ms"] / j["baseline"]["p99_ms"], 2), "lagmax", c.get("clickport_event_loop_lag_max_seconds"), j["checks"])
print("  gc", g)
PY
