"""Embedded vs single server vs 2-shard cluster on the same data: bulk ingest, HTTP ingest and the
dashboard queries (loadtest/bench_query.py's `dashboard()` set), one mode per process.

    python -m loadtest.bench_modes --mode embedded --events 1M --out loadtest/results/run2
    python -m loadtest.bench_modes --mode server   --events 1M --out loadtest/results/run2
    python -m loadtest.bench_modes --mode cluster  --events 1M --out loadtest/results/run2
    python -m loadtest.bench_modes --compare loadtest/results/run2   # the table (report-issue11-modes.md)

Every mode seeds the same modelled history (same seed and `now`), so every query runs on the same
data; the answers' digests are recorded and must agree across modes. server / cluster start local
chDB nodes (engine/chserver.py) in --work and stop them afterwards. On one machine a cluster cannot
be faster (both shards share the cores): the figure to read is the per-query overhead of going
through Distributed tables (cluster minus server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import time

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def _open(mode: str, work: str):
    from engine.chserver import start_cluster, start_single
    from engine.migrations import apply_migrations
    from engine.store import Store, StoreConfig, default_dsn

    nodes = []
    if mode == "embedded":
        config = StoreConfig(dsn=default_dsn(work), pool_size=2)
    elif mode == "server":
        nodes = [start_single(os.path.join(work, "ch"))]
        config = StoreConfig(dsn=nodes[0].dsn("clickport"), pool_size=2)
    else:
        nodes = start_cluster(os.path.join(work, "ch"), "clickport", 2)
        config = StoreConfig(dsn=nodes[0].dsn("clickport"), pool_size=2, cluster="clickport")
    store = Store(config)
    apply_migrations(store)
    return store, nodes, config


def _digest(answer) -> str:
    return hashlib.sha256(json.dumps(answer, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_mode(mode: str, events: int, work: str, repeat: int, load_s: float, rate: float) -> dict:
    from engine.query.run import run_query_sync
    from loadtest.bench_query import dashboard
    from loadtest.load import LoadOptions, run_load
    from loadtest.seed import SeedOptions, seed

    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    store, nodes, config = _open(mode, work)
    result: dict = {"mode": mode, "events": events, "now": NOW.isoformat(), "cpus": os.cpu_count(),
                    "load_average_at_start": os.getloadavg()}
    try:
        t0 = time.perf_counter()
        seeded = seed(SeedOptions(data_dir=work, events=events, now=NOW, progress=False), store=store)
        wall = time.perf_counter() - t0
        stored = store.rows("SELECT count() FROM events")[0][0]
        result["bulk_ingest"] = {"events": stored, "wall_s": round(wall, 1),
                                 "events_per_s": round(stored / wall), "insert_s": round(seeded.insert_s, 1)}
        site_id = store.rows(
            "SELECT site_id FROM events GROUP BY site_id ORDER BY count() DESC LIMIT 1")[0][0]
        queries = []
        for spec in dashboard():
            body = spec.body()
            answer = run_query_sync(store, site_id, body, NOW)  # warm-up
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                run_query_sync(store, site_id, body, NOW)
                times.append((time.perf_counter() - started) * 1000)
            queries.append({"name": f"{spec.name}@{spec.period}",
                            "median_ms": round(statistics.median(times), 1),
                            "min_ms": round(min(times), 1), "digest": _digest(answer)})
        result["queries"] = queries
        result["query_median_sum_ms"] = round(sum(q["median_ms"] for q in queries), 1)
        # HTTP ingest through a `clickport serve` process on this store (open-loop target rate).
        env = {}
        if mode != "embedded":
            env["CLICKPORT_CLICKHOUSE_URL"] = config.dsn
        if mode == "cluster":
            env["CLICKPORT_CLUSTER"] = "clickport"
        store.close()
        store = None
        if mode == "embedded":
            # chDB holds one data directory per process: the server gets its own copy's directory.
            env["CLICKPORT_CLICKHOUSE_URL"] = "chdb://" + os.path.join(work, "http-store")
        load = run_load(LoadOptions(data_dir=os.path.join(work, "app"), duration=load_s, warmup=3.0,
                                    rate=rate, driver="asyncio", count_in_store=False, server_env=env,
                                    log=lambda *_: None))
        run = load["runs"]["ingest"]
        latency = run["latency_ms"]
        result["http_ingest"] = {"ok_per_s": run["ok_per_s"], "error_count": run["error_count"],
                                 "p50_ms": latency.get("p50"), "p95_ms": latency.get("p95"),
                                 "p99_ms": latency.get("p99"), "max_ms": latency["max"],
                                 "server_cpu_us_per_request": run.get("server_cpu_us_per_request"),
                                 "drain_s": run.get("drain_s")}
        result["http_ingest"]["target_rate"] = rate
        result["http_ingest"]["accounting_ok"] = run["accounting"]["ok"]
    finally:
        if store is not None:
            store.close()
        for node in nodes:
            node.stop()
    result["load_average_at_end"] = os.getloadavg()
    return result


def compare(out: str) -> str:
    modes = {}
    for mode in ("embedded", "server", "cluster"):
        path = os.path.join(out, f"bench-issue11-{mode}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                modes[mode] = json.load(handle)
    names = [q["name"] for q in next(iter(modes.values()))["queries"]]
    lines = ["| query | " + " | ".join(f"{m} ms" for m in modes) + " | cluster − server ms | same answer |",
             "|---|" + "---|" * (len(modes) + 2)]
    for i, name in enumerate(names):
        row = [modes[m]["queries"][i] for m in modes]
        overhead = ""
        if {"cluster", "server"} <= set(modes):
            delta = modes["cluster"]["queries"][i]["median_ms"] - modes["server"]["queries"][i]["median_ms"]
            overhead = f"{delta:+.1f}"
        same = "yes" if len({q["digest"] for q in row}) == 1 else "**no**"
        cells = " | ".join(f"{q['median_ms']}" for q in row)
        lines.append(f"| {name} | {cells} | {overhead} | {same} |")
    sums = " | ".join(str(modes[m]["query_median_sum_ms"]) for m in modes)
    lines.append(f"| **sum of medians** | {sums} | | |")
    lines += ["", "| mode | bulk events/s | HTTP ingest ok/s (target) | p50 / p95 / p99 ms | accounting |",
              "|---|---|---|---|---|"]
    for mode, r in modes.items():
        h = r["http_ingest"]
        lines.append(f"| {mode} | {r['bulk_ingest']['events_per_s']:,} | {h['ok_per_s']} "
                     f"({h['target_rate']:.0f}) | {h['p50_ms']} / {h['p95_ms']} / {h['p99_ms']} | "
                     f"{'OK' if h['accounting_ok'] else 'MISMATCH'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from loadtest.cli import count

    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_modes",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["embedded", "server", "cluster"])
    parser.add_argument("--events", type=count, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--load-seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--work", default=os.path.join("data", "bench-modes"))
    parser.add_argument("--out", default=os.path.join("loadtest", "results", "run2"))
    parser.add_argument("--compare", metavar="DIR", help="print the comparison table of DIR's results")
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(args.compare), end="")
        return 0
    if not args.mode:
        parser.error("--mode or --compare")
    result = run_mode(args.mode, args.events, os.path.abspath(os.path.join(args.work, args.mode)),
                      args.repeat, args.load_seconds, args.rate)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"bench-issue11-{args.mode}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "queries"}, indent=2))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
