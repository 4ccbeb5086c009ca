"""Issue 12, session 5: table.md, summary.json and fixed-rate.png from this folder's runs.

    .venv/bin/python loadtest/results/run2/ingest/session5/summarize-session5.py
"""

from __future__ import annotations

import glob
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = ["sat-1", "sat-2", "sat-3", "r1000-1", "r1000-2", "r1000-3", "r2000-1", "r2000-2", "r2000-3",
        "fsync-r1000", "fsync-r2000", "asyncio-r1000", "asyncio-r2000"]


def load(name: str) -> dict | None:
    paths = glob.glob(os.path.join(HERE, name, "load*.json"))
    if not paths:
        return None
    with open(paths[0], encoding="utf-8") as handle:
        return json.load(handle)


def row(name: str, data: dict) -> dict:
    run = data["runs"]["ingest"]
    lat = run["latency_ms"]
    out = {
        "run": name, "driver": data["driver"], "reached_per_s": run["ok_per_s"],
        "p50_ms": round(lat["p50"], 2), "p95_ms": round(lat["p95"], 2), "p99_ms": round(lat["p99"], 2),
        "p99_9_ms": round(lat["p99.9"], 2), "server_cpu_us_per_request": run.get("server_cpu_us_per_request"),
        "rss_mib_max": run.get("server_rss_mib_max"),
        "handler_p99_ms_at_most": run.get("server_side", {}).get("handler_p99_ms_at_most"),
        "acknowledged_equals_stored": bool(run["accounting"]["ok"]),
    }
    if "baseline" in data["runs"]:
        out["echo_per_s"] = data["runs"]["baseline"]["ok_per_s"]
        out["echo_cpu_us_per_request"] = data["runs"]["baseline"].get("server_cpu_us_per_request")
        out["ingest_vs_baseline"] = data["ingest_vs_baseline"]
    return out


def table(rows: list[dict]) -> str:
    lines = ["| run | driver | reached/s | p50 | p95 | p99 | p99.9 (ms) | handler p99 ≤ (ms) | server CPU "
             "µs/request | RSS max MiB | echo/s (its CPU µs) | ingest ÷ echo | acknowledged = stored |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        echo = f"{r['echo_per_s']:,.0f} ({r['echo_cpu_us_per_request']})" if "echo_per_s" in r else ""
        lines.append(f"| {r['run']} | {r['driver']} | {r['reached_per_s']:,.0f} | {r['p50_ms']} | "
                     f"{r['p95_ms']} | {r['p99_ms']} | {r['p99_9_ms']} | {r['handler_p99_ms_at_most']} | "
                     f"{r['server_cpu_us_per_request']} | {r['rss_mib_max']} | {echo} | "
                     f"{r.get('ingest_vs_baseline', '')} | "
                     f"{'yes' if r['acknowledged_equals_stored'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fixed = [r for r in rows if not r["run"].startswith("sat-")]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    xs = list(range(len(fixed)))
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"), ("p99_9_ms", "p99.9")):
        ax.plot(xs, [r[key] for r in fixed], marker="o", label=label)
    ax.axhline(20, color="red", linestyle="--", linewidth=1, label="p99 target (20 ms)")
    ax.axhline(50, color="grey", linestyle=":", linewidth=1, label="p99.9 target (50 ms)")
    ax.set_xticks(xs, [r["run"] for r in fixed], rotation=30, ha="right")
    ax.set_ylabel("client latency (ms)")
    ax.set_title("POST /api/event at fixed rates, main 2eae4e6, 2-core box, quiet (issue 12, session 5)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "fixed-rate.png"), dpi=110)


def main() -> None:
    rows = [row(name, data) for name in RUNS if (data := load(name)) is not None]
    with open(os.path.join(HERE, "table.md"), "w", encoding="utf-8") as handle:
        handle.write(table(rows))
    with open(os.path.join(HERE, "import-1M", "import.json")) as handle:
        imported = json.load(handle)
    ratios = [r["ingest_vs_baseline"] for r in rows if r["run"].startswith("sat-")]
    summary = {
        "load": {
            "ingest_vs_baseline": round(statistics.median(ratios), 3),
            "ingest_vs_baseline_runs": ratios,
            "what": "median of three saturation runs (wrk, 32 connections, 20 s; the echo measured in the "
                    "same run)",
        },
        "fixed_rate": {r["run"]: {k: r[k] for k in ("driver", "reached_per_s", "p50_ms", "p99_ms", "p99_9_ms",
                                                    "handler_p99_ms_at_most", "acknowledged_equals_stored")}
                       for r in rows if not r["run"].startswith("sat-")},
        "runs": rows,
        "import_1M": {k: imported.get(k) for k in ("lines", "stored", "seconds", "events_per_s",
                                                   "server_cpu_us_per_event", "server_rss_mib_max")},
    }
    with open(os.path.join(HERE, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    plot(rows)


if __name__ == "__main__":
    main()
