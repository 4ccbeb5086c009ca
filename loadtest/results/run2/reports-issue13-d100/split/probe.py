"""The measurements behind the choices of this folder's change, on the 101M-event bench store
(largest site, key `url`, 30 days), each variant interleaved with the others, N runs each
(median and min ms, wall time around the engine call):

1. the day rows' versions as `has(array parameter, (bucket, version))` vs `(bucket, version) IN`;
2. the event-row statement of a session-metric breakdown with and without the engine's join
   runtime filters (`enable_join_runtime_filters`), in UTC and in Asia/Kolkata (two raw windows);
3. the device-filtered funnel with and without the sessions set used for index analysis
   (`use_index_for_in_with_subqueries`);
4. the whole breakdown (run_query_sync) as two concurrent statements (compile.Split) vs the
   equivalent single statement (`Compiled.sql`, the earlier shape).

    flock /work/bench/d100.lock .venv/bin/python loadtest/results/run2/reports-issue13-d100/split/probe.py
"""

import dataclasses
import datetime as dt
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
from engine.query import run as run_mod  # noqa: E402
from engine.query.funnel import FILTERED_SETTINGS, compile_funnel, parse_funnel  # noqa: E402
from engine.query.parse import parse_query  # noqa: E402
from engine.query.periods import resolve_range  # noqa: E402
from loadtest.seed import manifest_site, open_bench_store, read_manifest  # noqa: E402

D = "/work/bench/d100"
N = int(os.environ.get("N", 15))
manifest = read_manifest(D)
store = open_bench_store(D)
site = manifest_site(manifest)
now = dt.datetime.fromisoformat(manifest["seeded_until"])
base = run_mod.settings(store)
SM = ["visitors", "sessions", "bounce_rate", "avg_duration", "views_per_visit"]


def body(tz: str) -> dict:
    return {"metrics": SM, "dimensions": ["prop:url"], "limit": 10, "period": "30d", "timezone": tz}


def interleaved(title: str, variants: dict) -> None:
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(N):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    print(f"\n{title} ({N} runs each, load {os.getloadavg()[0]:.2f})")
    for name, ts in times.items():
        print(f"  {name:44s} median {statistics.median(ts):7.1f}  min {min(ts):7.1f} ms")


def rows(sql, params, extra=None):
    return sorted(store.rows(sql, params, settings={**base, **(extra or {})}))


print("load at start", os.getloadavg())
# 1 and 2: the statements of the UTC and Kolkata breakdowns
def statements(tz: str) -> None:
    q = parse_query(body(tz))
    compiled = run_mod._compile(store, site, q, run_mod.resolve(q, now, None))
    events_part, day_rows = compiled.split.parts
    p, kept = compiled.params, compiled.split.settings
    if tz == "UTC":
        in_set = "(bucket, version) IN {pr_pairs:Array(Tuple(Date, UInt64))}"
        has = "has({pr_pairs:Array(Tuple(Date, UInt64))}, (bucket, version))"
        assert in_set in day_rows
        assert rows(day_rows, p) == rows(day_rows.replace(in_set, has), p)
        interleaved("1. day rows statement: versions by IN vs has()", {
            "IN": lambda: rows(day_rows, p), "has()": lambda: rows(day_rows.replace(in_set, has), p)})
    on = {"enable_join_runtime_filters": 1}
    assert rows(events_part, p, kept) == rows(events_part, p, on)
    interleaved(f"2. event-row statement ({tz}): join runtime filters off (kept) vs on", {
        "off": lambda: rows(events_part, p, kept), "on": lambda: rows(events_part, p, on)})


statements("UTC")
statements("Asia/Kolkata")

# 3: the device-filtered funnel of the bench
reports = json.load(open("loadtest/results/run2/reports-issue13-d100/quiet-2/bench-reports.json"))
funnel = parse_funnel({"steps": reports["funnels"]["funnel_3_steps"], "period": "30d", "timezone": "UTC",
                       "filters": [{"dimension": "device", "operator": "is", "value": "Desktop"}]})
fsql, fparams = compile_funnel(funnel, site.site_id, resolve_range("30d", None, "UTC", now))
assert rows(fsql, fparams, FILTERED_SETTINGS) == rows(fsql, fparams)
interleaved("3. funnel, 3 steps, device = Desktop: sessions set for index analysis off (kept) vs on", {
    "off": lambda: rows(fsql, fparams, FILTERED_SETTINGS), "on": lambda: rows(fsql, fparams)})

# 4: the whole query, split vs one statement
original = run_mod._compile


def single(*args, **kwargs):
    return dataclasses.replace(original(*args, **kwargs), split=None)


def answer(tz, compile_fn):
    run_mod._compile = compile_fn
    try:
        return run_mod.run_query_sync(store, site, body(tz), now)
    finally:
        run_mod._compile = original


for tz in ("UTC", "Asia/Kolkata"):
    assert answer(tz, original) == answer(tz, single)
    interleaved(f"4. breakdown with session metrics ({tz}): two statements (kept) vs one", {
        "split": lambda tz=tz: answer(tz, original), "single": lambda tz=tz: answer(tz, single)})
print("\nload at end", os.getloadavg())
store.close()
