"""Issue 12: the before/after table and summary.json of loadtest/results/run2/ingest/ (+ a plot).

    .venv/bin/python loadtest/results/run2/ingest/summarize-issue12.py loadtest/results/run2/ingest
"""

from __future__ import annotations

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _load(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def _run(data: dict | None) -> dict:
    if not data:
        return {}
    ingest = data["runs"]["ingest"]
    lat = ingest["latency_ms"]
    out = {
        "target_rate": data.get("target_rate") or None,
        "driver": ingest["driver"],
        "requests_per_s": ingest["requests_per_s"],
        "accepted_per_s": ingest["accepted_per_s"],
        "p50_ms": lat["p50"], "p99_ms": lat["p99"], "p99_9_ms": lat["p99.9"], "max_ms": lat["max"],
        "server_cpu_us_per_request": ingest["server_cpu_us_per_request"],
        "server_cpu_us_per_accepted_event": round(
            ingest["server_cpu_s"] * 1e6 / max(ingest["accepted_per_s"] * ingest["duration_s"], 1), 1),
        "server_rss_mib_max": ingest["server_rss_mib_max"],
        "accounting_ok": bool(ingest.get("accounting", {}).get("ok", False))
        and bool(ingest.get("store_count", {}).get("ok", True)),
        "command": data.get("command"),
    }
    if "baseline" in data["runs"]:
        base = data["runs"]["baseline"]
        out["echo_requests_per_s"] = base["requests_per_s"]
        out["echo_cpu_us_per_request"] = base["server_cpu_us_per_request"]
        out["ingest_vs_baseline"] = data["ingest_vs_baseline"]
    return out


def main(folder: str) -> None:
    summary: dict = {"runs": {}}
    for variant in ("before", "after"):
        summary["runs"][variant] = {
            name: _run(_load(os.path.join(folder, variant, f"{name}.json")))
            for name in ("load", "load-rate1000", "load-rate2000")
        }
    after = summary["runs"]["after"]
    summary["load"] = {
        "ingest_vs_baseline": after["load"].get("ingest_vs_baseline"),
        "before_ingest_vs_baseline": summary["runs"]["before"]["load"].get("ingest_vs_baseline"),
    }
    summary["import"] = _load(os.path.join(folder, "after", "import.json"))
    summary["stall_probe"] = _load(os.path.join(folder, "stall_probe.json"))
    box = _load(os.path.join(folder, "box.json"))
    if box:
        summary["box"] = box
    imp = summary["import"] or {}
    rates = [after.get("load-rate1000", {}), after.get("load-rate2000", {})]
    summary["targets"] = {
        "ingest_vs_echo_baseline": {"value": after["load"].get("ingest_vs_baseline"), "target": 0.5},
        "p99_ms_at_fixed_rates": {"value": [r.get("p99_ms") for r in rates], "target": 20,
                                  "achieved_rates": [r.get("requests_per_s") for r in rates]},
        "p99_9_ms_at_fixed_rates": {"value": [r.get("p99_9_ms") for r in rates], "target": 50},
        "cpu_us_per_accepted_event": {"value": after["load"].get("server_cpu_us_per_accepted_event"),
                                      "target": 150},
        "rss_mib_under_load": {"value": max((r.get("server_rss_mib_max") or 0)
                                            for r in after.values()), "target": 1024},
        "import_events_per_s": {"value": imp.get("events_per_s"), "target": 50_000,
                                "lines": imp.get("lines")},
        "acknowledged_equals_stored": all(r.get("accounting_ok") for v in summary["runs"].values()
                                          for r in v.values() if r) and bool(imp.get("accounting_ok")),
    }
    for name, target in summary["targets"].items():
        if isinstance(target, dict) and "target" in target:
            value = target["value"]
            values = value if isinstance(value, list) else [value]
            if any(v is None for v in values):
                target["met"] = None
            elif name in ("ingest_vs_echo_baseline", "import_events_per_s"):
                target["met"] = all(v >= target["target"] for v in values)
            else:
                target["met"] = all(v <= target["target"] for v in values)
    with open(os.path.join(folder, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    _plot(folder, summary)
    _table(folder, summary)


def _plot(folder: str, summary: dict) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = ["load", "load-rate1000", "load-rate2000"]
    labels = ["saturation (wrk)", "target 1,000/s", "target 2,000/s"]
    for variant, offset in (("before", -0.2), ("after", 0.2)):
        runs = summary["runs"][variant]
        xs = [i + offset for i in range(3)]
        axes[0].bar(xs, [runs[n].get("requests_per_s", 0) for n in names], 0.4, label=variant)
        axes[1].bar(xs, [runs[n].get("p99_ms", 0) for n in names], 0.4, label=variant)
    for ax, title in ((axes[0], "responses/s"), (axes[1], "p99 latency (ms)")):
        ax.set_xticks(range(3), labels)
        ax.set_title(title)
        ax.legend()
    axes[1].axhline(20, color="red", linewidth=0.8, linestyle="--")
    fig.suptitle("POST /api/event before/after issue 12 (same box, same run)")
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "before-after-issue12.png"), dpi=110)


def _table(folder: str, summary: dict) -> None:
    rows = ["| run | metric | before | after |", "|---|---|---|---|"]
    for name in ("load", "load-rate1000", "load-rate2000"):
        before, after = summary["runs"]["before"][name], summary["runs"]["after"][name]
        for key in ("echo_requests_per_s", "requests_per_s", "ingest_vs_baseline", "p50_ms", "p99_ms",
                    "p99_9_ms", "server_cpu_us_per_request", "server_cpu_us_per_accepted_event",
                    "server_rss_mib_max", "accounting_ok"):
            if key in before or key in after:
                rows.append(f"| {name} | {key} | {before.get(key)} | {after.get(key)} |")
    with open(os.path.join(folder, "before-after-issue12.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
