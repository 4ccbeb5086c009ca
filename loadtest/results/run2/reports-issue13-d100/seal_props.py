"""Write the property day rows (schema/0015) for the clean sealed days of one site, at their
existing seal versions (engine.rollups.backfill_prop_days), and print what was written.

    flock /work/bench/d100.lock .venv/bin/python loadtest/results/run2/reports-issue13-d100/seal_props.py \
        /work/bench/d100 <site_id> <first YYYY-MM-DD> <last YYYY-MM-DD>
"""

import datetime as dt
import sys
import time

from engine.query.rollup import SealState
from engine.rollups import backfill_prop_days, read_state
from engine.sites import Site
from loadtest.seed import open_bench_store, read_manifest

data_dir, site_id = sys.argv[1], int(sys.argv[2])
first, last = dt.date.fromisoformat(sys.argv[3]), dt.date.fromisoformat(sys.argv[4])
chosen = next(s for s in read_manifest(data_dir)["sites"] if s["site_id"] == site_id)
t0 = time.perf_counter()
store = open_bench_store(data_dir)
print(f"store open + migrations: {time.perf_counter() - t0:.1f} s", flush=True)
try:
    site = Site(site_id, chosen["domain"], chosen["timezone"])
    state = read_state(store, site_id, site.timezone, first, last)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    clean = [d for d in days if d in state.days and state.day_clean(d)]
    print(f"site {site_id} ({site.timezone}) days {first}..{last}: {len(days)} days, "
          f"{len(clean)} sealed and clean; not: {[str(d) for d in days if d not in clean]}", flush=True)
    only = SealState({d: v for d, v in state.days.items() if d in days}, {},
                     {d: t for d, t in state.touched.items() if d in days})
    t = time.perf_counter()
    done = backfill_prop_days(store, site_id, site.timezone, only, max_days=len(days))
    took = time.perf_counter() - t
    print(f"wrote property day rows for {done} days in {took:.1f} s ({took / max(done, 1):.2f} s/day)")
    for row in store.rows("SELECT count(), uniqExact(bucket), uniqExact(key) FROM prop_rollup_days "
                          "WHERE site_id = {s:UInt32} AND bucket >= {a:Date} AND bucket <= {b:Date}",
                          {"s": site_id, "a": first, "b": last}):
        print("prop_rollup_days rows, days, keys:", row)
    span = {"s": site_id, "a": first, "b": last}
    for row in store.rows("SELECT count() FROM prop_rollup_crossers WHERE site_id = {s:UInt32} "
                          "AND bucket >= {a:Date} AND bucket <= {b:Date}", span):
        print("prop_rollup_crossers rows:", row)
finally:
    store.close()
