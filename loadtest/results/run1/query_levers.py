"""What would close the query gap (run1): temporary tables in the seeded bench store, timed against
the current shapes, then dropped. Not part of the harness; kept with the results it produced
(query_levers.txt).

    .venv/bin/python loadtest/results/run1/query_levers.py [data/bench]
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, ROOT)

from engine.store import Store, StoreConfig, default_dsn  # noqa: E402
from loadtest.seed import read_manifest  # noqa: E402

DATA_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "data", "bench")
TEMP = ("lt_daily_src", "lt_pv_lc", "lt_pv_str", "lt_sess_entry")
DT = "DateTime64(3,'UTC')"
EW = f"site_id = {{site:UInt32}} AND timestamp >= {{start:{DT}}} AND timestamp < {{end:{DT}}}"
SW = f"site_id = {{site:UInt32}} AND session_start >= {{start:{DT}}} AND session_start < {{end:{DT}}}"


def main() -> None:
    manifest = read_manifest(DATA_DIR)
    site = max(manifest["sites"], key=lambda s: s["events"])["site_id"]
    now = dt.datetime.fromisoformat(manifest["seeded_until"])
    fmt = "%Y-%m-%d %H:%M:%S.000"
    end = now.strftime(fmt)
    start30 = (now - dt.timedelta(days=29)).strftime("%Y-%m-%d 00:00:00.000")
    months = now.year * 12 + now.month - 1 - 11  # "12m": this month and the 11 before
    start12 = dt.date(months // 12, months % 12 + 1, 1)
    ranges = (("30d", start30), ("12m", start12.strftime("%Y-%m-%d 00:00:00.000")),
              ("all", "2000-01-01 00:00:00.000"))
    store = Store(StoreConfig(dsn=default_dsn(DATA_DIR)))
    p30 = {"site": site, "start": start30, "end": end}

    def timed(label: str, sql: str, params: dict, n: int = 5) -> None:
        store.rows(sql, params)
        runs = []
        for _ in range(n):
            t0 = time.perf_counter()
            store.rows(sql, params)
            runs.append((time.perf_counter() - t0) * 1000)
        runs.sort()
        print(f"{runs[len(runs) // 2]:8.1f} ms p50  {label}")

    for name in TEMP:
        store.command(f"DROP TABLE IF EXISTS {name}")
    try:
        # 1. A daily per-source rollup of visitor states (what a per-dimension daily rollup gives).
        store.command(
            "CREATE TABLE lt_daily_src (site_id UInt32, day Date, source LowCardinality(String), "
            "v AggregateFunction(uniq, UInt64), pv SimpleAggregateFunction(sum, UInt64)) "
            "ENGINE = AggregatingMergeTree ORDER BY (site_id, day, source)")
        t0 = time.perf_counter()
        store.command(
            "INSERT INTO lt_daily_src SELECT site_id, toDate(timestamp), source, uniqState(user_id), "
            "countIf(type = 'pageview') FROM events WHERE site_id = {site:UInt32} "
            "GROUP BY site_id, toDate(timestamp), source", {"site": site})
        print(f"(built lt_daily_src in {time.perf_counter() - t0:.1f} s)")
        for label, start in ranges:
            params = {"site": site, "start": start, "end": end}
            timed(f"visitors by source {label}: raw events uniq (today)",
                  f"SELECT source, uniq(user_id) u FROM events WHERE {EW} GROUP BY source "
                  "ORDER BY u DESC LIMIT 10", params, 3)
            timed(f"visitors by source {label}: daily rollup uniqMerge",
                  "SELECT source, uniqMerge(v) u FROM lt_daily_src WHERE site_id = {site:UInt32} "
                  f"AND day >= toDate({{start:{DT}}}) AND day < toDate({{end:{DT}}}) "
                  "GROUP BY source ORDER BY u DESC LIMIT 10", params, 3)
        # 2. pathname LowCardinality vs String for the page breakdown's events part.
        for name, typ in (("lt_pv_str", "String"), ("lt_pv_lc", "LowCardinality(String)")):
            store.command(f"CREATE TABLE {name} (site_id UInt32, timestamp {DT}, user_id UInt64, "
                          f"pathname {typ}) ENGINE = MergeTree ORDER BY (site_id, toDate(timestamp))")
            store.command(f"INSERT INTO {name} SELECT site_id, timestamp, user_id, pathname FROM events "
                          "WHERE site_id = {site:UInt32} AND type = 'pageview'", {"site": site})
            store.command(f"OPTIMIZE TABLE {name} FINAL")
            timed(f"pages 30d from pageviews, pathname {typ}",
                  f"SELECT pathname, uniq(user_id) u, count() FROM {name} WHERE {EW} "
                  "GROUP BY pathname ORDER BY u DESC LIMIT 10", p30)
        # 3. The entry page as a plain column vs an argMin state.
        store.command(
            "CREATE TABLE lt_sess_entry ENGINE = MergeTree ORDER BY (site_id, session_start) AS "
            "SELECT site_id, session_start, session_id, user_id, pageviews, "
            "finalizeAggregation(entry_page) AS entry FROM sessions FINAL WHERE site_id = {site:UInt32}",
            {"site": site})
        timed("entry pages 30d: sessions FINAL + finalizeAggregation(argMin state)",
              f"SELECT finalizeAggregation(entry_page) e, count() c FROM sessions FINAL WHERE {SW} "
              "GROUP BY e ORDER BY c DESC LIMIT 10", p30)
        timed("entry pages 30d: entry page as a plain String column",
              f"SELECT entry e, count() c FROM lt_sess_entry WHERE {SW} GROUP BY e ORDER BY c DESC LIMIT 10",
              p30)
    finally:
        for name in TEMP:
            store.command(f"DROP TABLE IF EXISTS {name}")
        store.close()


if __name__ == "__main__":
    main()
