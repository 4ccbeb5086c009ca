"""Where the one slow run per query comes from: the same bench queries (10 runs each after the
warm-up, no variants) with the engine's JIT compilation of expressions off (`nojit`:
compile_expressions, compile_aggregate_expressions, compile_sort_description = 0) and on (`jit`,
the default: an expression is compiled on its 3rd use, min_count_to_compile_expression = 3).

    flock /work/bench/d100.lock .venv/bin/python \\
        loadtest/results/run2/reports-issue13-d100/split/jit_probe.py \\
        props_breakdown_session_metrics,funnel_2_steps,props_breakdown nojit   # then: ... jit
"""

import os
import sys

sys.path.insert(0, os.getcwd())
from engine.query import run as run_mod  # noqa: E402
from loadtest.bench_reports import run_reports  # noqa: E402

mode = sys.argv[2]
if mode == "nojit":
    run_mod.READ_SETTINGS.update({"compile_expressions": 0, "compile_aggregate_expressions": 0,
                                  "compile_sort_description": 0})
r = run_reports("/work/bench/d100", repeat=10, only=tuple(sys.argv[1].split(",")), variants_kept="none",
                log=lambda *a: None)
for k, v in r["queries"].items():
    print(mode, k, "p50", v["p50_ms"], v["runs_ms"])
print("load", os.getloadavg())
