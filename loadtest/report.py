"""Report: markdown + JSON summary and PNG plots from a results folder.

Reads whatever is there: seed.json (`loadtest seed`), load*.json (`loadtest load`), bench.json
(`loadtest bench`), and writes report.md, summary.json, latency_distribution.png, throughput.png,
query_latency.png and range_latency.png into the output folder.
"""

from __future__ import annotations

import glob
import json
import os
import platform
from typing import Any


def machine() -> dict:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as handle:
            info["mem_gib"] = round(int(handle.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    for pkg in ("chdb", "chdb-core", "clickhouse-connect", "starlette", "uvicorn"):
        try:
            from importlib.metadata import version

            info[pkg] = version(pkg)
        except Exception:  # noqa: BLE001
            pass
    return info


def _load(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_report(results_dir: str, out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    seed = _load(os.path.join(results_dir, "seed.json"))
    seed_1cpu = _load(os.path.join(results_dir, "seed-1cpu.json"))
    load_files = sorted(glob.glob(os.path.join(results_dir, "load*.json")))
    loads = {os.path.basename(p)[:-5]: _load(p) for p in load_files}
    bench = _load(os.path.join(results_dir, "bench.json"))
    summary = summarize(seed, seed_1cpu, loads, bench)
    paths = []
    paths += plot_load(loads, out_dir)
    paths += plot_bench(bench, out_dir)
    md = markdown(summary, seed, seed_1cpu, loads, bench, [os.path.basename(p) for p in paths])
    md_path = os.path.join(out_dir, "report.md")
    with open(md_path, "w", encoding="utf-8") as handle:
        handle.write(md)
    js_path = os.path.join(out_dir, "summary.json")
    with open(js_path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    return [md_path, js_path, *paths]


def summarize(seed, seed_1cpu, loads: dict, bench) -> dict:
    s: dict[str, Any] = {"machine": machine(), "targets": {}}
    if seed:
        s["seed"] = {k: seed.get(k) for k in (
            "events", "sessions", "wall_s", "events_per_s", "events_per_cpu_s", "generate_events_per_s",
            "enrich_us_per_session", "insert_rows_per_s", "cpus", "enrich", "geo_database", "peak_rss_mib",
            "command")}
    if seed_1cpu:
        s["seed_1cpu"] = {k: seed_1cpu.get(k) for k in (
            "events", "wall_s", "events_per_s", "events_per_cpu_s", "generate_events_per_s",
            "enrich_us_per_session", "insert_rows_per_s", "cpus", "enrich", "command")}
    one_core = (seed_1cpu or {}).get("events_per_s") or (seed or {}).get("events_per_cpu_s")
    if one_core:
        s["targets"]["bulk_enriched_events_per_s_one_core"] = {
            "value": round(one_core), "target": 100_000, "met": one_core >= 100_000,
            "how": "seed --cpus 1 (wall)" if seed_1cpu else "seed events per CPU-second"}
    max_load = loads.get("load")
    if max_load:
        s["load"] = {}
        for name, run in max_load["runs"].items():
            s["load"][name] = {k: run.get(k) for k in (
                "requests_per_s", "ok_per_s", "accepted_per_s", "error_count", "server_cpu_us_per_request",
                "server_rss_mib_max")}
            s["load"][name]["latency_ms"] = {k: run["latency_ms"].get(k)
                                             for k in ("p50", "p95", "p99", "max")}
            if "accounting" in run:
                s["load"][name]["accounting_ok"] = run["accounting"]["ok"]
        s["load"]["ingest_vs_baseline"] = max_load.get("ingest_vs_baseline")
        s["load"]["command"] = max_load.get("command")
        ratio = max_load.get("ingest_vs_baseline")
        p99 = max_load["runs"]["ingest"]["latency_ms"]["p99"]
        if ratio is not None:
            s["targets"]["ingest_vs_echo_baseline"] = {"value": ratio, "target": 0.9, "met": ratio >= 0.9}
        s["targets"]["ingest_p99_ms"] = {"value": round(p99, 2), "target": 20, "met": p99 < 20}
    for name, data in loads.items():
        if name != "load" and data:
            run = data["runs"]["ingest"]
            s.setdefault("load_rate", {})[name] = {
                "target_rate": data.get("target_rate"), "achieved_per_s": run["requests_per_s"],
                "p50_ms": run["latency_ms"]["p50"], "p95_ms": run["latency_ms"]["p95"],
                "p99_ms": run["latency_ms"]["p99"], "accounting_ok": run["accounting"]["ok"],
                "command": data.get("command")}
    if bench:
        t = bench.get("targets", {})
        s["bench"] = {"events_in_store": t.get("events_in_store"), "site": bench.get("site"),
                      "site_events": bench["store"].get("site_events"), "command": bench.get("command")}
        s["targets"]["p95_30d_ms"] = {"value": t.get("p95_30d_worst_ms"),
                                      "query": t.get("p95_30d_worst_query"),
                                      "target": t.get("p95_30d_target_ms"), "met": t.get("p95_30d_met"),
                                      "over": t.get("p95_30d_over_target")}
        s["targets"]["p95_all_time_ms"] = {"value": t.get("p95_all_worst_ms"),
                                           "query": t.get("p95_all_worst_query"),
                                           "target": t.get("p95_all_target_ms"), "met": t.get("p95_all_met")}
        s["targets"]["engine_vs_hand"] = {"value": t.get("engine_vs_hand_worst"),
                                          "query": t.get("engine_vs_hand_worst_query"),
                                          "median": t.get("engine_vs_hand_median"),
                                          "target": t.get("engine_vs_hand_target"),
                                          "met": t.get("engine_vs_hand_met")}
        ratios = t.get("all_over_30d_p50") or {}
        s["targets"]["all_over_30d_p50"] = {"value": max(ratios.values()) if ratios else None,
                                            "per_query": ratios, "target": t.get("all_over_30d_target"),
                                            "met": t.get("all_over_30d_met")}
        s["targets"]["preaggregated_share"] = {"value": t.get("preaggregated_share_of_events"),
                                               "target": t.get("preaggregated_share_target"),
                                               "met": (t.get("preaggregated_share_of_events") or 1) <= 0.30}
    return s


# --------------------------------------------------------------------------------------------
# Plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_load(loads: dict, out_dir: str) -> list[str]:
    data = loads.get("load")
    if not data:
        return []
    plt = _plt()
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, run in data["runs"].items():
        pts = sorted((float(k[1:]), v) for k, v in run["latency_ms"].items()
                     if k.startswith("p") and k[1:].replace(".", "").isdigit())
        ax.plot([p / 100 for p, _ in pts], [v for _, v in pts], marker="o",
                label=f"{name} ({run['requests_per_s']:,.0f} req/s)")
    for name, extra in loads.items():
        if name == "load" or not extra:
            continue
        run = extra["runs"]["ingest"]
        pts = sorted((float(k[1:]), v) for k, v in run["latency_ms"].items()
                     if k.startswith("p") and k[1:].replace(".", "").isdigit())
        ax.plot([p / 100 for p, _ in pts], [v for _, v in pts], marker=".", linestyle="--",
                label=f"ingest at {extra.get('target_rate'):,.0f}/s target")
    ax.set_xscale("logit")
    ax.set_yscale("log")
    ax.set_xlabel("quantile")
    ax.set_ylabel("latency (ms)")
    ax.axhline(20, color="grey", linewidth=0.8, linestyle=":")
    ax.set_title("POST /api/event latency by percentile")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    paths.append(_save(fig, out_dir, "latency_distribution.png"))

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, run in data["runs"].items():
        tl = run.get("timeline") or []
        if len(tl) > 2:
            t0 = tl[0][0]
            tl = tl[1:-1]  # first and last seconds are partial
            ax.plot([t - t0 for t, _ in tl], [v for _, v in tl], marker=".", label=name)
    ax.set_xlabel("second of the run")
    ax.set_ylabel("responses / s")
    ax.set_title("Throughput over time (same driver, same request pool)")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.grid(True, alpha=0.3)
    paths.append(_save(fig, out_dir, "throughput.png"))
    return paths


def plot_bench(bench, out_dir: str) -> list[str]:
    if not bench:
        return []
    plt = _plt()
    paths = []
    qs = [q for q in bench["queries"] if q.get("hand")]
    if qs:
        fig, ax = plt.subplots(figsize=(11, 5.5))
        labels = [f"{q['group']}/{q['name']}" for q in qs]
        x = range(len(qs))
        w = 0.27
        ax.bar([i - w for i in x], [q["engine"]["p50_ms"] for q in qs], w, label="engine p50")
        ax.bar(list(x), [q["hand"]["p50_ms"] for q in qs], w, label="hand-written SQL p50")
        raw = [(q.get("raw") or {}).get("p50_ms", 0) for q in qs]
        if any(raw):  # not with --skip-raw
            ax.bar([i + w for i in x], raw, w, label="raw events p50")
        ax.scatter(list(x), [q["engine"]["p95_ms"] for q in qs], marker="_", s=120, color="black",
                   label="engine p95", zorder=3)
        ax.set_yscale("log")
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, rotation=70, ha="right", fontsize=7)
        ax.set_ylabel("ms (log)")
        # the bench's own p95 targets (30 days, all time), as it recorded them
        targets = bench.get("targets", {})
        for key, style, label in (("p95_30d_target_ms", ":", "30d p95 target"),
                                  ("p95_all_target_ms", "--", "all-time p95 target")):
            if targets.get(key):
                ax.axhline(targets[key], color="grey", linestyle=style, linewidth=0.8, label=label)
        events = bench.get("targets", {}).get("events_in_store", 0)
        ax.set_title(f"Dashboard queries, {events / 1e6:.0f}M events "
                     f"(site {bench['store'].get('site_events', 0) / 1e6:.1f}M)")
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", which="both", alpha=0.3)
        paths.append(_save(fig, out_dir, "query_latency.png"))
    if bench.get("ranges"):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        order = ["7d", "30d", "90d", "12m", "all"]
        shapes = []
        for r in bench["ranges"]:
            if r["shape"] not in shapes:
                shapes.append(r["shape"])
        for shape in shapes:
            by = {r["period"]: r for r in bench["ranges"] if r["shape"] == shape}
            ps = [p for p in order if p in by]
            ax.plot(ps, [by[p]["engine"]["p50_ms"] for p in ps], marker="o", label=f"{shape} engine p50")
            ax.plot(ps, [by[p]["hand"]["p50_ms"] for p in ps], marker="x", linestyle=":",
                    label=f"{shape} hand p50")
        ax.set_yscale("log")
        ax.set_xlabel("range")
        ax.set_ylabel("ms (log)")
        ax.set_title("Latency vs range length")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        paths.append(_save(fig, out_dir, "range_latency.png"))
    return paths


# --------------------------------------------------------------------------------------------
# Markdown


def _met(t: dict | None) -> str:
    if not t:
        return "not measured"
    return "**met**" if t.get("met") else "**missed**"


def markdown(s: dict, seed, seed_1cpu, loads: dict, bench, images: list[str]) -> str:
    m = s["machine"]
    out = ["# Clickport load-test report", ""]
    out.append(f"Machine: {m.get('cpus')} CPUs ({m.get('cpu', '?')}), {m.get('mem_gib', '?')} GiB, "
               f"Python {m.get('python')}, chDB {m.get('chdb', '?')} / chdb-core {m.get('chdb-core', '?')}, "
               f"embedded store. Load generator and server share the same cores.")
    out.append("")
    out += ["## Targets", "", "| target | measured | goal | |", "|---|---|---|---|"]
    t = s["targets"]
    rows = [
        ("bulk enriched events/s, one core", t.get("bulk_enriched_events_per_s_one_core"), "≥ 100,000"),
        ("ingest throughput / echo baseline", t.get("ingest_vs_echo_baseline"), "≥ 0.90"),
        ("ingest p99 latency (ms)", t.get("ingest_p99_ms"), "< 20"),
        ("worst 30-day dashboard query p95 (ms)", t.get("p95_30d_ms"), "≤ 100 at ≥ 100M events"),
        ("worst all-time query p95 (ms)", t.get("p95_all_time_ms"), "≤ 250"),
        ("engine / hand-written SQL (worst p50 ratio)", t.get("engine_vs_hand"), "median ≤ 1.1, worst ≤ 1.3"),
        ("all-time p50 / 30-day p50 (worst query)", t.get("all_over_30d_p50"), "≤ 2.5×"),
        ("pre-aggregated tables / events on disk", t.get("preaggregated_share"), "≤ 0.30"),
    ]
    for label, val, goal in rows:
        value = "—" if not val else val.get("value")
        if val and val.get("query"):
            value = f"{value} ({val['query']})"
        out.append(f"| {label} | {value} | {goal} | {_met(val)} |")
    out.append("")
    if seed:
        out += ["## Bulk seeding", "", f"Command: `{seed.get('command')}`", ""]
        out.append(f"- {seed['events']:,} events, {seed['sessions']:,} sessions, "
                   f"{len(seed.get('sites', []))} sites, "
                   f"in {seed['wall_s']:.0f} s: **{seed['events_per_s']:,.0f} events/s** wall on "
                   f"{seed['cpus']} CPU(s) "
                   f"({seed.get('events_per_cpu_s') or 0:,.0f} events per CPU-second of the whole process).")
        out.append(f"- Generation + enrichment alone: {seed.get('generate_events_per_s') or 0:,.0f} events/s "
                   f"(main thread); enrichment {seed.get('enrich_us_per_session') or 0:.1f} µs per session "
                   f"(enrich = `{seed['enrich']}`, GeoIP database: {seed['geo_database']}).")
        out.append(f"- Inserts (`insert_arrow` into events and its materialized views): "
                   f"{seed.get('insert_rows_per_s') or 0:,.0f} rows/s of insert wall time; peak RSS "
                   f"{seed['peak_rss_mib']:.0f} MiB.")
        out.append("")
    if seed_1cpu:
        out.append(f"One core (`{seed_1cpu.get('command')}`): **{seed_1cpu['events_per_s']:,.0f} events/s** "
                   f"({seed_1cpu['events']:,} events, generate+enrich "
                   f"{seed_1cpu.get('generate_events_per_s') or 0:,.0f}/s, "
                   f"inserts {seed_1cpu.get('insert_rows_per_s') or 0:,.0f} rows/s).")
        out.append("")
    data = loads.get("load")
    if data:
        out += ["## HTTP ingest (POST /api/event)", "", f"Command: `{data.get('command')}`", "",
                f"Driver {data['driver']}, {data['connections']} connections, {data['duration_s']} s per run "
                "after a warm-up; the same request pool (modelled visits) for both servers.", "",
                "| run | req/s | 200/s | stored acks/s | p50 ms | p95 ms | p99 ms | max ms | errors "
                "| server CPU µs/req | RSS MiB |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, run in data["runs"].items():
            lat = run["latency_ms"]
            out.append(f"| {name} | {run['requests_per_s']:,.0f} | {run['ok_per_s']:,.0f} | "
                       f"{run['accepted_per_s']:,.0f} | "
                       f"{lat['p50']:.2f} | {lat['p95']:.2f} | {lat['p99']:.2f} | {lat['max']:.1f} "
                       f"| {run['error_count']} | "
                       f"{run.get('server_cpu_us_per_request', '—')} | "
                       f"{run.get('server_rss_mib_max', '—')} |")
        out.append("")
        acc = data["runs"]["ingest"].get("accounting")
        if acc:
            out.append(f"Accounting: {acc['acknowledged_stored']:,} acknowledged stored events; the "
                       "server accepted "
                       f"{acc['server_accepted_delta']:,} ({acc['unacknowledged_accepted']} were in "
                       "flight when the "
                       f"driver stopped) and inserted {acc['server_inserted_delta']:,}; drops acknowledged "
                       f"{acc['acknowledged_dropped']:,} = server {acc['server_dropped_delta']} → "
                       f"{'every acknowledged event is stored' if acc['ok'] else 'MISMATCH'}.")
            sc = data["runs"]["ingest"].get("store_count")
            if sc:
                out.append(f" After shutdown the store holds {sc['rows_added']:,} new rows = server-accepted "
                           f"{sc['server_accepted_incl_warmup']:,} (≥ "
                           f"{sc['acknowledged_stored_incl_warmup']:,} "
                           f"acknowledged, warm-up included) → {'OK' if sc['ok'] else 'MISMATCH'}.")
            out.append("")
        if data.get("ingest_vs_baseline") is not None:
            out.append(f"Ingest / echo baseline throughput: **{data['ingest_vs_baseline']:.3f}**.")
            out.append("")
    fixed = sorted((x for n, x in loads.items() if n != "load" and x),
                   key=lambda x: x.get("target_rate") or 0)
    for extra in fixed:
        run = extra["runs"]["ingest"]
        lat = run["latency_ms"]
        out.append(f"At a target of {extra.get('target_rate'):,.0f} req/s "
                   f"(`{extra.get('command')}`): achieved "
                   f"{run['requests_per_s']:,.0f}/s, p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms, "
                   f"p99 {lat['p99']:.2f} ms, accounting {'OK' if run['accounting']['ok'] else 'MISMATCH'}.")
        out.append("")
    if bench:
        st = bench["store"]
        out += ["## Query benchmark", "", f"Command: `{bench.get('command')}`", "",
                f"Store: {st['events']['rows']:,} events ({st['events']['parts']} parts, "
                f"{st['events']['bytes_on_disk'] / 2**30:.2f} GiB), sessions "
                f"{st.get('sessions', {}).get('rows', 0):,} rows, "
                f"page_visits {st.get('page_visits', {}).get('rows', 0):,} rows. Site "
                f"{bench['site']['domain']}: "
                f"{st['site_events']:,} events. `now` = {bench['now']}. {bench['repeat']} timed "
                "runs per query "
                f"after a warm-up ({bench['raw_repeat']} for raw).", "",
                "| group | query | engine p50 | engine p95 | hand p50 | engine/hand | raw p50 | "
                "raw/hand | answers |",
                "|---|---|---|---|---|---|---|---|---|"]
        for q in bench["queries"]:
            e, h, r = q["engine"], q.get("hand") or {}, q.get("raw") or {}
            checks = q.get("check") or {}
            ok = "—" if not checks else ("same" if all(v["ok"] for v in checks.values()) else "DIFFER")
            out.append(f"| {q['group']} | {q['name']} | {e['p50_ms']:.1f} | {e['p95_ms']:.1f} | "
                       f"{h.get('p50_ms', '—')} | {q.get('engine_vs_hand') or '—'} | "
                       f"{r.get('p50_ms', '—')} | "
                       f"{q.get('raw_vs_hand', '—')} | {ok} |")
        out.append("")
        if bench.get("ranges"):
            out += ["Latency vs range length (p50 ms, engine / hand):", "",
                    "| shape | 7d | 30d | 90d | 12m | all | 12m/30d |", "|---|---|---|---|---|---|---|"]
            shapes = []
            for r in bench["ranges"]:
                if r["shape"] not in shapes:
                    shapes.append(r["shape"])
            for shape in shapes:
                by = {r["period"]: r for r in bench["ranges"] if r["shape"] == shape}
                cells = [f"{by[p]['engine']['p50_ms']:.0f} / {by[p]['hand']['p50_ms']:.0f}"
                         if p in by else "—" for p in ("7d", "30d", "90d", "12m", "all")]
                ratio = 0.0
                if "12m" in by and "30d" in by:
                    ratio = by["12m"]["engine"]["p50_ms"] / by["30d"]["engine"]["p50_ms"]
                out.append(f"| {shape} | {' | '.join(cells)} | {ratio:.2f} |")
            out.append("")
    if images:
        out += ["## Plots", ""] + [f"![{name}]({name})" for name in images] + [""]
    out += ["## How each number is measured", "",
            "See docs/loadtest.md. In short: bulk events/s = events inserted / wall time of `loadtest seed` "
            "(the `--cpus 1` run pins the whole process, engine threads included, to one CPU); HTTP numbers "
            "come from wrk's own latency histogram and per-response counting in the generated Lua script; "
            "query latencies are wall time around `run_query_sync` (engine) or `store.dicts` (SQL) in one "
            "process, warm caches.", ""]
    return "\n".join(out)


def _save(fig, out_dir: str, name: str) -> str:
    import matplotlib.pyplot as plt

    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
