"""Rows a (day, a, b) rollup would hold per 30 days of the 100M store's largest site, for every pair
of dimensions (pageviews; run from the repository root) → pair-sizes.txt. Chose PAIRS."""

import itertools
import sys

sys.path.insert(0, ".")

from engine.query.run import settings  # noqa: E402
from loadtest.seed import open_bench_store  # noqa: E402

store = open_bench_store("/work/bench/d100")
params = {"site": 1, "s": "2026-10-31 00:00:00.000", "e": "2026-11-29 00:00:00.000"}
session = ["source", "channel", "referrer_url", "utm_source", "utm_medium", "utm_campaign", "utm_content",
           "utm_term", "country", "region", "city", "device", "browser", "browser_version", "os",
           "os_version", "screen"]
sizes = {}
for a, b in itertools.combinations(["pathname"] + session, 2):
    sql = (f"SELECT count() FROM (SELECT toDate(timestamp), {a}, {b} FROM events "
           "WHERE site_id = {site:UInt32} AND timestamp >= {s:DateTime64(3,'UTC')} "
           "AND timestamp < {e:DateTime64(3,'UTC')} "
           "AND type = 'pageview' GROUP BY ALL)")
    sizes[(a, b)] = store.rows(sql, params, settings=settings(store))[0][0]
for key, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
    print(key, n)
print("total", sum(sizes.values()))
