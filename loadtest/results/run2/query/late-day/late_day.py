"""The 30-day and filtered 30-day queries of the bench mix through the engine, with `now` at the
bench's (10:38 UTC, 6k events in "today") and at 23:30 the day before (83k): median / max of 9 runs
after a warm-up. See README.md."""

import datetime as dt
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
from engine.query.run import run_query_sync  # noqa: E402
from loadtest.bench_query import dashboard, read_manifest  # noqa: E402
from loadtest.seed import manifest_site, open_bench_store  # noqa: E402

D = "/work/bench/d100"
manifest = read_manifest(D)
store = open_bench_store(D)
site = manifest_site(manifest)
print("load", os.getloadavg())
NOWS = (("10:38 (bench)", dt.datetime.fromisoformat(manifest["seeded_until"])),
        ("23:30 the day before", dt.datetime(2026, 11, 28, 23, 30, tzinfo=dt.UTC)))
out: dict[str, dict] = {}
for label, now in NOWS:
    for spec in dashboard():
        if spec.group not in ("30d", "filtered"):
            continue
        run_query_sync(store, site, spec.body(), now=now)
        times = []
        for _ in range(9):
            t0 = time.perf_counter()
            run_query_sync(store, site, spec.body(), now=now)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        out.setdefault(f"{spec.group}/{spec.name}", {})[label] = (round(statistics.median(times), 1),
                                                                   round(times[-1], 1))
print(store.rows(
    "SELECT countIf(toDate(timestamp) = toDate('2026-11-28')), "
    "countIf(toDate(timestamp) = toDate('2026-11-29')) "
    "FROM events WHERE site_id = {s:UInt32} AND timestamp >= toDateTime64('2026-11-28 00:00:00', 3, 'UTC')",
    {"s": site.site_id}))
for name, by_now in out.items():
    print(f"{name:45s}", by_now)
print("load", os.getloadavg())
