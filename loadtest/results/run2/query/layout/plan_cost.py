"""How much of one engine query is ClickHouse's planning: the compiled SQL of "pages filtered by
source = Google, 30 days" on the 101M bench store, run and EXPLAIN PLAN'ed 9 times each (median ms).

    flock /work/bench/d100.lock .venv/bin/python loadtest/results/run2/query/layout/plan_cost.py
"""

import datetime as dt
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
from engine.query.parse import parse_query  # noqa: E402
from engine.query.run import _compile, resolve, settings  # noqa: E402
from loadtest.bench_query import dashboard, read_manifest  # noqa: E402
from loadtest.seed import manifest_site, open_bench_store  # noqa: E402

D = "/work/bench/d100"
manifest = read_manifest(D)
store = open_bench_store(D)
site = manifest_site(manifest)
now = dt.datetime.fromisoformat(manifest["seeded_until"])
spec = next(s for s in dashboard() if s.name == "by_page_source_Google" and s.group == "filtered")
query = parse_query(spec.body())
compiled = _compile(store, site, query, resolve(query, now, None))


def median_ms(sql: str) -> float:
    store.rows(sql, compiled.params, settings=settings(store))
    times = []
    for _ in range(9):
        t0 = time.perf_counter()
        store.rows(sql, compiled.params, settings=settings(store))
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


print("load", os.getloadavg())
print("query", median_ms(compiled.sql), "ms; EXPLAIN PLAN", median_ms("EXPLAIN PLAN " + compiled.sql), "ms")
