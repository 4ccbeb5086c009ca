"""Run each statement of an SQL file (separated by lines holding only ';') on the 100M store, three
times each for SELECTs, printing the times in ms (run from the repository root)."""

import sys
import time

sys.path.insert(0, ".")

from engine.query.run import settings  # noqa: E402
from loadtest.seed import open_bench_store  # noqa: E402

store = open_bench_store("/work/bench/d100")
params = {"site": 1, "s": "2026-10-31 00:00:00.000", "e": "2026-11-29 10:38:16.680"}
for sql in (s.strip() for s in open(sys.argv[1], encoding="utf-8").read().split("\n;\n")):
    if not sql:
        continue
    if sql.startswith(("DROP", "CREATE", "ALTER", "INSERT", "OPTIMIZE")):
        store.command(sql, params)
        continue
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        rows = store.rows(sql, params, settings=settings(store))
        times.append(round((time.perf_counter() - t0) * 1000))
    print(times, str(rows[:3])[:150], "<-", sql[:110].replace("\n", " "))
