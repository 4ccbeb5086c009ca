"""Benchmark of the report queries of issue 13 on a seeded store: custom-property breakdowns and
filters (`prop:<key>`), GET /api/props, and funnels, through the engine's entry points
(`run_query_sync`, `prop_keys_sync`, `funnel_sync`: the exact path of the HTTP routes minus HTTP).

`clickport loadtest bench-reports --data-dir DIR --results DIR` (also `python -m loadtest ...`).

What is measured, on the largest site of the store, over the last 30 days of the seeded history:
- property breakdowns by the most used key, with and without session metrics, with every event
  metric, with a "(none)"-including filter, in a time zone whose days start at half hours (partial
  UTC hours at both edges), a property-filtered totals query, and the key listing; each also
  (`@no_keysets`) without the hourly key-set rollup (`props.KEYSETS_ENABLED = False`: "(none)"
  from a scan of the events) and (`@no_event_props`) without the ``event_props`` table either
  (`props.EVENT_PROPS_ENABLED = False`: every property read from the events' meta arrays); the
  breakdowns with session metrics also (`@no_prop_rollup`) without the per-site-day property rows
  (`props_rollup.ENABLED = False`: every session from event rows, joined to the merged sessions);
  the two earlier variants run without those day rows too;
- funnels of 2, 3 and 4 steps built from the site's own data (its two most viewed pages, a
  wildcard page step, its most sent custom event), unfiltered and with a session filter; each also
  (`@events`) read from ``events`` instead of ``session_events`` (`funnel.SESSION_EVENTS_ENABLED`).
The variants are the engine's earlier SQL: `same_answer` compares each variant's answer with the
query's (a differential check on the seeded data; `targets.all_same_answers`).
Each query runs once to warm up, then `repeat` times (interleaved with its variants); p50/p95/mean.
Targets (issue 13, on the largest site of a 100M-event store): property breakdown ≤ 200 ms p95,
funnel ≤ 500 ms p95.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from loadtest.seed import manifest_site, read_manifest

PROPS_TARGET_MS = 200
FUNNEL_TARGET_MS = 500


def _timings(runs: list[float]) -> dict[str, float]:
    ordered = sorted(runs)

    def pct(p: float) -> float:
        k = (len(ordered) - 1) * p
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)

    return {"runs": len(runs), "p50_ms": pct(0.5), "p95_ms": pct(0.95),
            "mean_ms": round(sum(runs) / len(runs), 1), "max_ms": round(max(runs), 1)}


def _site_facts(store, site_id: int, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    p = {"s": site_id, "a": start.strftime("%Y-%m-%d %H:%M:%S"), "b": end.strftime("%Y-%m-%d %H:%M:%S")}
    where = "site_id = {s:UInt32} AND timestamp >= {a:DateTime64(3)} AND timestamp < {b:DateTime64(3)}"
    pages = [r[0] for r in store.rows(
        f"SELECT pathname FROM events WHERE {where} AND type = 'pageview' GROUP BY pathname "
        "ORDER BY count() DESC LIMIT 2", p)]
    custom = [r[0] for r in store.rows(
        f"SELECT name FROM events WHERE {where} AND type = 'custom' GROUP BY name "
        "ORDER BY count() DESC LIMIT 1", p)]
    events = store.rows(f"SELECT count(), countIf(length(`meta.key`) > 0) FROM events WHERE {where}", p)[0]
    props_rows = store.rows(f"SELECT count() FROM event_props WHERE {where}", p)[0][0]
    return {"pages": pages, "custom": custom[0] if custom else None, "events_30d": int(events[0]),
            "events_with_props_30d": int(events[1]), "event_props_rows_30d": int(props_rows)}


def _same_but_visitors(fast: dict, slow: dict) -> tuple[bool, float]:
    """Every metric of every row equal except visitors, which is within 2% (+1); the largest
    relative difference of visitors."""
    a, b = fast.get("results", []), slow.get("results", [])
    if len(a) != len(b):
        return False, 1.0
    drift = 0.0
    for x, y in zip(a, b, strict=True):
        x, y = dict(x), dict(y)
        vx, vy = x.pop("visitors", 0), y.pop("visitors", 0)
        if x != y or abs(vx - vy) > vy * 0.02 + 1:
            return False, 1.0
        drift = max(drift, abs(vx - vy) / vy if vy else 0.0)
    return True, round(drift, 5)


def run_reports(data_dir: str, repeat: int = 20, site_ref: str = "largest", log=print,
                only: tuple[str, ...] = (), variants_kept: str = "all") -> dict:
    from engine.query import funnel as funnel_mod
    from engine.query import props as props_mod
    from engine.query import props_rollup as props_rollup_mod
    from engine.query import run as run_mod
    from engine.query.funnel import funnel_sync
    from engine.query.periods import resolve_range
    from engine.query.props import prop_keys_sync
    from loadtest.bench_query import store_facts
    from loadtest.seed import open_bench_store

    SWITCHES = [(props_mod, "KEYSETS_ENABLED"), (props_mod, "EVENT_PROPS_ENABLED"),
                (funnel_mod, "SESSION_EVENTS_ENABLED"), (props_rollup_mod, "ENABLED")]
    manifest = read_manifest(data_dir)
    if not manifest:
        raise SystemExit(f"no loadtest manifest in {data_dir}: run `clickport loadtest seed` first")
    site = manifest_site(manifest, site_ref)
    t0 = time.perf_counter()
    store = open_bench_store(data_dir)  # applies pending migrations (event_props backfills here)
    log(f"store open + migrations: {time.perf_counter() - t0:.1f} s")
    try:
        now = dt.datetime.fromisoformat(manifest["seeded_until"])
        settings = run_mod.settings(store)
        rng = resolve_range("30d", None, site.timezone, now)
        facts = _site_facts(store, site.site_id, rng.start, rng.end)
        facts.update(store_facts(store, site.site_id))
        dates = {"start_date": rng.start.astimezone(rng.tz).date().isoformat(),
                 "end_date": (rng.end.astimezone(rng.tz).date() + dt.timedelta(days=1)).isoformat(),
                 "timezone": site.timezone}
        keys = prop_keys_sync(store, site.site_id, dict(dates), now, settings)["results"]
        top_key = keys[0]["key"] if keys else "plan"
        log(f"site {site.domain} (id {site.site_id}): 30d {facts['events_30d']:,} events, "
            f"{facts['events_with_props_30d']:,} with properties; keys {[k['key'] for k in keys]}")

        session_metrics = ["visitors", "sessions", "bounce_rate", "avg_duration", "views_per_visit"]
        cov = run_mod.prop_coverage(store, site, run_mod.parse_query(
            {"metrics": session_metrics, "dimensions": [f"prop:{top_key}"], "period": "30d"}),
            rng)
        facts["prop_rollup_days"] = len(cov.days) if cov else 0
        windows = cov.windows if cov else ()
        facts["prop_rollup_raw_windows"] = [[a.isoformat(), b.isoformat()] for a, b in windows]
        log(f"property day rows answer {facts['prop_rollup_days']} days of the 30; raw windows "
            f"{facts['prop_rollup_raw_windows']}")

        def q(body):
            return lambda: run_mod.run_query_sync(store, site, {**body, "period": "30d",
                                                                "timezone": site.timezone}, now)

        breakdown = {"metrics": ["visitors", "events"], "dimensions": [f"prop:{top_key}"], "limit": 10}
        rows = run_mod.run_query_sync(store, site, {**breakdown, "period": "30d"}, now)["results"]
        top_value = next((r[f"prop:{top_key}"] for r in rows if r[f"prop:{top_key}"] != "(none)"), "x")
        queries = {
            "props_breakdown": q(breakdown),
            "props_breakdown_session_metrics": q({**breakdown, "metrics": [
                "visitors", "events", "sessions", "bounce_rate", "avg_duration"]}),
            "props_breakdown_event_metrics": q({**breakdown, "metrics": [
                "events", "pageviews", "visitors", "sessions"], "filters": [
                {"dimension": f"prop:{top_key}", "operator": "is_not", "value": top_value}]}),
            "props_breakdown_session_metrics_all": q({**breakdown, "metrics": session_metrics}),
            "props_breakdown_session_metrics_half_hour_zone": lambda: run_mod.run_query_sync(
                store, site, {**breakdown, "metrics": session_metrics, "period": "30d",
                              "timezone": "Asia/Kolkata"}, now),
            "props_breakdown_half_hour_zone": lambda: run_mod.run_query_sync(
                store, site, {**breakdown, "period": "30d", "timezone": "Asia/Kolkata"}, now),
            "props_filtered_totals": q({"metrics": ["visitors", "events", "sessions", "bounce_rate"],
                                        "filters": [{"dimension": f"prop:{top_key}", "operator": "is",
                                                     "value": top_value}]}),
            "props_by_date_filtered": q({"metrics": ["visitors", "events"], "dimensions": ["date"],
                                         "filters": [{"dimension": f"prop:{top_key}", "operator": "is",
                                                      "value": top_value}]}),
            "props_keys": lambda: prop_keys_sync(store, site.site_id, dict(dates), now, settings),
        }
        pages, custom = facts["pages"], facts["custom"]
        page_steps = [{"type": "pageview", "match": p} for p in pages]
        wildcard = "/" + pages[1].strip("/").split("/")[0] + "/**" if len(pages) > 1 else "/**"
        funnels = {
            "funnel_2_steps": page_steps[:2],
            "funnel_3_steps": page_steps[:2] + ([{"type": "custom", "match": custom}] if custom else []),
            "funnel_4_steps_wildcard": page_steps[:1] + [{"type": "pageview", "match": wildcard}]
            + page_steps[1:2] + ([{"type": "custom", "match": custom}] if custom else []),
        }
        for name, steps in funnels.items():
            body = {"steps": steps, "period": "30d", "timezone": site.timezone}
            queries[name] = (lambda b=body: funnel_sync(store, site.site_id, b, now))
        queries["funnel_3_steps_filtered"] = (lambda: funnel_sync(store, site.site_id, {
            "steps": funnels["funnel_3_steps"], "period": "30d", "timezone": site.timezone,
            "filters": [{"dimension": "device", "operator": "is", "value": "Desktop"}]}, now))

        results: dict[str, Any] = {}
        answers: dict[str, Any] = {}
        if only:
            queries = {n: f for n, f in queries.items() if n in only}
        for name, fn in queries.items():
            # the query and its reference variants (the engine's earlier SQL), interleaved
            variants = {name: {}}
            no_rollup = {(props_rollup_mod, "ENABLED"): False}
            if name.startswith("props_breakdown_session") and variants_kept != "none":
                variants[name + "@no_prop_rollup"] = no_rollup
            if name.startswith("props_") and variants_kept == "all":
                variants[name + "@no_keysets"] = {(props_mod, "KEYSETS_ENABLED"): False, **no_rollup}
                variants[name + "@no_event_props"] = {(props_mod, "EVENT_PROPS_ENABLED"): False,
                                                      **no_rollup}
            if name.startswith("funnel_") and variants_kept == "all":
                variants[name + "@events"] = {(funnel_mod, "SESSION_EVENTS_ENABLED"): False}
            runs: dict[str, list[float]] = {v: [] for v in variants}
            cpu: dict[str, list[float]] = {v: [] for v in variants}
            for i in range(repeat + 1):
                for variant, switches in variants.items():
                    for (module, flag) in SWITCHES:
                        setattr(module, flag, switches.get((module, flag), True))
                    t, c = time.perf_counter(), time.process_time()
                    answer = fn()
                    ms = (time.perf_counter() - t) * 1000
                    cpu_ms = (time.process_time() - c) * 1000
                    if i == 0:
                        answers[variant] = answer  # the warm-up
                    else:
                        runs[variant].append(ms)
                        cpu[variant].append(cpu_ms)
            for (module, flag) in SWITCHES:
                setattr(module, flag, True)
            for variant in variants:
                results[variant] = _timings(runs[variant])
                # CPU time of the whole process (the embedded engine's threads included): what
                # the query costs whatever else runs on the box; wall time ≈ cpu / threads used.
                results[variant]["cpu_p50_ms"] = _timings(cpu[variant])["p50_ms"]
                results[variant]["runs_ms"] = [round(ms, 1) for ms in runs[variant]]  # in run order
                same = None
                if variant != name:
                    same = answers[variant] == answers[name]
                    if not same and variant.endswith("@no_prop_rollup"):
                        # day rows sum visitors per day (as every rollup): every other metric
                        # equal, visitors within 2% (plus ids carried past midnight)
                        same, drift = _same_but_visitors(answers[name], answers[variant])
                        results[variant]["visitors_max_rel_diff"] = drift
                    results[variant]["same_answer"] = same
                note = "" if same is None else f"  same answer: {same}"
                log(f"{variant:42s} p50 {results[variant]['p50_ms']:8.1f} ms  "
                    f"p95 {results[variant]['p95_ms']:8.1f} ms  cpu p50 "
                    f"{results[variant]['cpu_p50_ms']:8.1f} ms{note}")
        worst_props = max(((results[n]["p95_ms"], n) for n in queries if n.startswith("props_breakdown")),
                          default=(None, None))
        worst_funnel = max(((results[n]["p95_ms"], n) for n in queries if n.startswith("funnel_")),
                           default=(None, None))
        return {
            "data_dir": data_dir, "site": {k: getattr(site, k) for k in ("site_id", "domain", "timezone")},
            "now": now.isoformat(), "range": {"start": rng.start.isoformat(), "end": rng.end.isoformat()},
            "repeat": repeat, "facts": facts, "prop_key": top_key, "prop_value": top_value,
            "funnels": funnels, "answers": {k: v for k, v in answers.items() if "@" not in k},
            "queries": results,
            "targets": {
                "props_breakdown_p95_ms": results.get("props_breakdown", {}).get("p95_ms"),
                "props_breakdown_p95_worst_ms": worst_props[0], "props_breakdown_worst": worst_props[1],
                "props_target_ms": PROPS_TARGET_MS,
                "props_met": worst_props[0] is not None and worst_props[0] <= PROPS_TARGET_MS,
                "funnel_p95_worst_ms": worst_funnel[0], "funnel_worst": worst_funnel[1],
                "funnel_target_ms": FUNNEL_TARGET_MS,
                "funnel_met": worst_funnel[0] is not None and worst_funnel[0] <= FUNNEL_TARGET_MS,
                "events_in_store": facts.get("events", {}).get("rows"),
                "all_same_answers": all(r.get("same_answer", True) for r in results.values()),
            },
        }
    finally:
        store.close()


def run_reports_command(args) -> int:
    from loadtest.cli import _save, command_line

    only = tuple(n for n in args.only.split(",") if n)
    result = run_reports(args.lt_data_dir, repeat=args.repeat, site_ref=args.site, only=only,
                         variants_kept=args.variants)
    result["command"] = command_line()
    path = _save(args.results, "bench-reports.json", result)
    print(json.dumps(result["targets"], indent=2))
    print(f"results: {path}")
    return 0
