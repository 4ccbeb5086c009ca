"""`clickport loadtest seed|load|bench|report` (also `python -m loadtest ...`)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from server import importcli

DEFAULT_BENCH_DIR = os.path.join("data", "bench")
DEFAULT_RESULTS = os.path.join("loadtest", "results", "tmp")


def count(text: str) -> int:
    """10000, 10k, 10M, 1.5e6 → int."""
    t = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "b": 1_000_000_000}.get(t[-1:], 1)
    if mult != 1:
        t = t[:-1]
    return int(float(t) * mult)


def add_subcommands(sub) -> None:
    lt = sub.add_parser("loadtest",
                        help="load-testing harness: seed, load, bench, report (docs/loadtest.md)")
    lt_sub = lt.add_subparsers(metavar="action")

    p = lt_sub.add_parser("seed", help="bulk-generate modelled history straight into a store")
    _data_dir(p)
    p.add_argument("--events", type=count, default=count("10M"),
                   help="events to generate (10M, 50M, ...)")
    p.add_argument("--sites", type=int, default=12)
    p.add_argument("--days", type=int, default=400, help="days of history ending now")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--chunk-rows", type=count, default=1_000_000, help="rows per insert")
    p.add_argument("--inserts-in-flight", type=int, default=1)
    p.add_argument("--enrich", choices=["engine", "model"], default="engine",
                   help="engine: run the engine's enrichment functions (default); model: the model's labels")
    p.add_argument("--cpus", type=int, default=None, help="pin the whole process to N CPUs (e.g. 1)")
    p.add_argument("--dry-run", action="store_true", help="generate and enrich, insert nothing")
    p.add_argument("--geoip", default=None,
                   help="city .mmdb (default: <data dir>/geo, installed if missing)")
    p.add_argument("--no-geo-install", action="store_true",
                   help="do not download DB-IP City Lite if missing")
    _results(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_seed)

    p = lt_sub.add_parser("load", help="HTTP load on POST /api/event (wrk, or a built-in asyncio driver)")
    _data_dir(p, os.path.join("data", "load"))
    p.add_argument("--url", default=None, help="a running server (default: start one on the data dir)")
    p.add_argument("--admin-token", default=os.environ.get("CLICKPORT_ADMIN_TOKEN"),
                   help="admin token of --url (for the stored-count check)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per run")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load first")
    p.add_argument("--sites", type=int, default=1,
                   help="model sites to spread the load over (wrk: engagement updates may pair with another "
                        "site's page visit when > 1, which answers 400)")
    p.add_argument("--rate", type=float, default=0.0, help="target requests/s (0 = max throughput)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--driver", choices=["auto", "wrk", "asyncio"], default="auto",
                   help="auto: wrk for max throughput, asyncio (open-loop pacing) for --rate")
    p.add_argument("--baseline", action="store_true",
                   help="also drive a bare Starlette echo endpoint (separate uvicorn) with the same load")
    p.add_argument("--visitors", type=count, default=50_000,
                   help="distinct modelled visits in the request pool")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-engagement", action="store_true", help="do not send engagement updates")
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment for the server this command starts (repeatable), e.g. "
                        "CLICKPORT_FLUSH_INTERVAL_S=1")
    _results(p)
    p.set_defaults(func=cmd_load)

    p = lt_sub.add_parser("history", help="write a modelled history file for bulk import (NDJSON[.gz])")
    p.add_argument("--events", type=count, default=count("5M"))
    p.add_argument("--days", type=int, default=60, help="local days of history ending yesterday")
    p.add_argument("--domain", default="history.example", help="the site domain in the file's URLs")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=os.path.join("data", "history.ndjson.gz"))
    p.set_defaults(func=cmd_history)

    p = lt_sub.add_parser("import", help="bulk import benchmark over HTTP (clickport import, fresh server)")
    _data_dir(p, os.path.join("data", "import"))
    p.add_argument("--file", required=True, help="a file from `loadtest history`")
    p.add_argument("--domain", default="history.example")
    p.add_argument("--timezone", default=None, help="the site's (default: the model site's)")
    p.add_argument("--lines-per-request", type=count, default=importcli.LINES_PER_REQUEST)
    p.add_argument("--in-flight", type=int, default=importcli.IN_FLIGHT,
                   help="requests sent at once (clickport import's)")
    _results(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_import)

    p = lt_sub.add_parser("bench",
                          help="query benchmark on a seeded store (engine vs hand-written vs raw SQL)")
    _data_dir(p)
    p.add_argument("--repeat", type=int, default=10, help="timed runs per query (after one warm-up)")
    p.add_argument("--raw-repeat", type=int, default=3, help="timed runs of the (slow) raw-events variant")
    p.add_argument("--site", default="largest", help="site id, domain or 'largest'")
    p.add_argument("--only", default="", help="comma-separated query names to run")
    p.add_argument("--skip-raw", action="store_true", help="skip the raw-events GROUP BY variants")
    p.add_argument("--skip-ranges", action="store_true", help="skip latency vs range length")
    _results(p)
    p.set_defaults(func=cmd_bench)

    p = lt_sub.add_parser("bench-reports",
                          help="property breakdown and funnel latency on a seeded store (issue 13)")
    _data_dir(p)
    p.add_argument("--repeat", type=int, default=20, help="timed runs per query (after one warm-up)")
    p.add_argument("--site", default="largest", help="site id, domain or 'largest'")
    p.add_argument("--only", default="", help="comma-separated query names to run")
    p.add_argument("--variants", default="all", choices=("all", "prop-rollup", "none"),
                   help="reference variants: all, only @no_prop_rollup, or none")
    _results(p)
    p.set_defaults(func=cmd_bench_reports)

    p = lt_sub.add_parser("report", help="markdown + JSON summary and PNG plots of a results folder")
    p.add_argument("--results", default=DEFAULT_RESULTS,
                   help="folder with seed/load/bench JSON (default %(default)s)")
    p.add_argument("--out", default=None,
                   help="where to write report.md/summary.json/*.png (default: --results)")
    p.set_defaults(func=cmd_report)


def _data_dir(p, default: str = DEFAULT_BENCH_DIR) -> None:
    p.add_argument("--data-dir", dest="lt_data_dir", default=default,
                   help="bench data dir (embedded store, secret, GeoIP); default %(default)s")


def _results(p) -> None:
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results folder (default %(default)s)")


def _save(results_dir: str, name: str, data: dict) -> str:
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, default=str)
    return path


def command_line() -> str:
    """The command as a user would type it (for results files)."""
    import shlex

    first = sys.argv[0]
    if first.endswith(os.path.join("loadtest", "__main__.py")):
        prog = ["python", "-m", "loadtest"]
    elif first.endswith(os.path.join("server", "cli.py")):
        prog = ["clickport"]
    else:
        prog = [os.path.basename(first)]
    return shlex.join(prog + sys.argv[1:])


def cmd_seed(args: argparse.Namespace) -> int:
    from loadtest.model import ModelConfig
    from loadtest.seed import SeedOptions, seed

    data_dir = os.path.abspath(args.lt_data_dir)
    geoip = args.geoip
    if geoip is None and args.enrich == "engine" and not args.no_geo_install:
        from server.config import default_geoip_path

        if default_geoip_path(data_dir) is None:
            try:
                from engine.enrich.geo_install import install_city_db

                install_city_db(data_dir)
            except Exception as exc:  # noqa: BLE001 - run without geo rather than fail
                print(f"warning: no GeoIP database ({exc}); country/region/city stay empty",
                      file=sys.stderr)
    opts = SeedOptions(
        data_dir=data_dir, events=args.events,
        model=ModelConfig(seed=args.seed, sites=args.sites, history_days=args.days),
        chunk_rows=args.chunk_rows, enrich=args.enrich, insert=not args.dry_run,
        inserts_in_flight=args.inserts_in_flight, cpus=args.cpus, geoip_path=geoip,
        progress=not args.no_progress,
    )
    result = seed(opts)
    summary = result.summary()
    summary["command"] = command_line()
    for site in summary["sites"]:
        site.pop("key", None)  # keys stay in the data dir's manifest, not in results
    path = _save(args.results, f"seed-{args.cpus}cpu.json" if args.cpus else "seed.json", summary)
    print(f"{result.events:,} events, {result.sessions:,} sessions in {result.wall_s:.1f} s "
          f"= {result.events_per_s:,.0f} events/s wall "
          f"({summary['events_per_cpu_s'] or 0:,.0f} per CPU-second, {result.cpus} CPU(s)); "
          f"generate+enrich {summary['generate_events_per_s'] or 0:,.0f} events/s, "
          f"enrichment {summary['enrich_us_per_session'] or 0:.1f} µs/session, "
          f"peak RSS {result.peak_rss_mib:.0f} MiB")
    if not args.dry_run:
        print(f"sites and keys: {os.path.join(data_dir, 'loadtest_manifest.json')}")
    print(f"results: {path}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from loadtest.load import run_load_command

    return run_load_command(args)


def cmd_history(args: argparse.Namespace) -> int:
    from loadtest.history import write_history

    info = write_history(args.out, events=args.events, days=args.days, domain=args.domain, seed=args.seed)
    print(json.dumps(info))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from loadtest.bench_import import run_import_bench
    from loadtest.model import TrafficModel

    timezone = args.timezone or TrafficModel().sites[0].timezone
    result = run_import_bench(args.file, os.path.abspath(args.lt_data_dir), args.domain, timezone,
                              args.lines_per_request, progress=not args.no_progress,
                              in_flight=args.in_flight)
    result["command"] = command_line()
    path = _save(args.results, "import.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "dropped"}))
    print(f"results: {path}")
    return 0 if result["ok"] else 1


def cmd_bench_reports(args: argparse.Namespace) -> int:
    from loadtest.bench_reports import run_reports_command

    return run_reports_command(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from loadtest.bench_query import run_bench_command

    return run_bench_command(args)


def cmd_report(args: argparse.Namespace) -> int:
    from loadtest.report import write_report

    paths = write_report(args.results, args.out or args.results)
    for path in paths:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest")
    sub = parser.add_subparsers(metavar="command")
    add_subcommands(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "loadtest":
        argv = ["loadtest", *argv]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args) or 0
