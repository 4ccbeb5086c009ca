"""Issue 12 re-measure: the before/after table and summary.json of this folder.

    .venv/bin/python loadtest/results/run2/ingest/quiet/summarize.py loadtest/results/run2/ingest/quiet

Reads `before-N/` and `after-N/` (HTTP load: load.json, load-rate1000.json, load-rate2000.json from
run-variant.sh, run alternately) and `import-*/import.json`; writes summary.json (keeping
`load.ingest_vs_baseline`: the median of the "after" runs) and before-after.md.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import sys

_SUMMARIZE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "summarize-issue12.py")


def _helpers():
    import importlib.util

    spec = importlib.util.spec_from_file_location("summarize_issue12", _SUMMARIZE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(folder: str) -> None:
    helpers = _helpers()
    runs: dict[str, dict] = {}
    paths = glob.glob(os.path.join(folder, "before-*")) + glob.glob(os.path.join(folder, "after-*"))
    for path in sorted(paths):
        name = os.path.basename(path)
        runs[name] = {kind: helpers._run(helpers._load(os.path.join(path, f"{kind}.json")))
                      for kind in ("load", "load-rate1000", "load-rate2000")}
    imports = {os.path.basename(os.path.dirname(p)): helpers._load(p)
               for p in sorted(glob.glob(os.path.join(folder, "import-*", "import.json")))}

    def median(variant: str, kind: str, key: str):
        values = [r[kind].get(key) for n, r in runs.items() if n.startswith(variant) and r[kind]]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    summary = {
        "runs": runs,
        "imports": imports,
        "load": {"ingest_vs_baseline": median("after", "load", "ingest_vs_baseline"),
                 "before_ingest_vs_baseline": median("before", "load", "ingest_vs_baseline")},
        "medians": {variant: {kind: {key: median(variant, kind, key) for key in (
            "echo_requests_per_s", "requests_per_s", "ingest_vs_baseline", "p50_ms", "p99_ms", "p99_9_ms",
            "server_cpu_us_per_request", "server_cpu_us_per_accepted_event", "server_rss_mib_max")}
            for kind in ("load", "load-rate1000", "load-rate2000")} for variant in ("before", "after")},
        "acknowledged_equals_stored": all(
            r.get("accounting_ok") for v in runs.values() for r in v.values() if r)
        and all((i or {}).get("accounting_ok") for i in imports.values()),
    }
    with open(os.path.join(folder, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    names = list(runs)
    rows = ["| run | metric | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for kind in ("load", "load-rate1000", "load-rate2000"):
        for key in ("echo_requests_per_s", "echo_cpu_us_per_request", "requests_per_s", "ingest_vs_baseline",
                    "p50_ms", "p99_ms", "p99_9_ms", "server_cpu_us_per_request",
                    "server_cpu_us_per_accepted_event", "server_rss_mib_max", "accounting_ok"):
            values = [runs[n][kind].get(key) for n in names]
            if any(v is not None for v in values):
                fmt = "{:.3f}" if key == "ingest_vs_baseline" else "{:.1f}"
                cells = [fmt.format(v) if isinstance(v, float) else str(v) for v in values]
                rows.append(f"| {kind} | {key} | " + " | ".join(cells) + " |")
    rows += ["", "| import | lines | stored | seconds | events/s | server CPU µs/line | RSS max MiB "
             "| accounting |", "|---|---|---|---|---|---|---|---|"]
    for name, imp in imports.items():
        if imp:
            rows.append(f"| {name} | {imp['lines']} | {imp['stored']} | {imp['seconds']} | "
                        f"{imp['events_per_s']} | {imp['server_cpu_us_per_event']} | "
                        f"{imp['server_rss_mib_max']} | {imp['accounting_ok']} |")
    with open(os.path.join(folder, "before-after.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
