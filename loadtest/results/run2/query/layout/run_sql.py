"""Run the statements of a .sql file (separated by lines holding only ';') on the 101M bench store:
'!' runs a command once; anything else runs 5 times and prints median / max ms and the first rows.
$W stands for the pair rows of 29 sealed days of site 1 under dim 'source|page'. With a second
argument (comma-separated table names) the file is a template run once per table, TBL its name.

    run_sql.py bench_b.sql rollup_pairs,rp_t0,rp_t1,rp_t2,rp_t3,rp_t4
"""

import datetime as dt
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
from engine.query.run import settings  # noqa: E402
from loadtest.seed import open_bench_store  # noqa: E402

store = open_bench_store("/work/bench/d100")
days = [dt.date(2026, 10, 31) + dt.timedelta(days=i) for i in range(29)]
P = {"site": 1, "rollup_dim": "source|page", "r_day0": days[0], "r_day1": days[-1], "r_days": days,
     "p10": "Google"}
W = ("site_id = {site:UInt32} AND dim = {rollup_dim:String} AND grain = 1 "
     "AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date}")
text = open(sys.argv[1]).read()
if len(sys.argv) > 2:
    text = "\n;\n".join(text.replace("TBL", t) for t in sys.argv[2].split(","))
for line in text.split("\n;\n"):
    sql = line.strip().replace("$W", W)
    if not sql:
        continue
    if sql.startswith("!"):
        store.command(sql[1:], P)
        print("cmd", sql[:80])
        continue
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        rows = store.rows(sql, P, settings=settings(store))
        times.append((time.perf_counter() - t0) * 1000)
    print(round(statistics.median(times)), round(max(times)), str(rows[:2])[:100], "<-", sql[:150])
print("load", os.getloadavg())
