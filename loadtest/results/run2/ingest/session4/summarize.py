"""Issue 12, session 4: summary.json and the before/after table from this folder's import runs.

    .venv/bin/python loadtest/results/run2/ingest/session4/summarize.py
"""

from __future__ import annotations

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = {  # folder: what it is
    "import-1M-before": "before: main at a3f0a7d (session start), 1M lines, parse workers, "
                        "one request at a time",
    "import-1M-in-flight-1": "after, 1M lines, parse in the request's thread, one request at a time",
    "import-1M": "after, 1M lines, numbered parts, 2 in flight",
    "import-5M": "after, 5.1M lines, numbered parts, 2 in flight",
    "import-5M-in-flight-1": "after, 5.1M lines, one request at a time (the CLI's default)",
}
KEYS = ("lines", "stored", "requests", "in_flight", "seconds", "events_per_s", "server_cpu_us_per_event",
        "server_and_workers_cpu_us_per_event", "server_rss_mib_max", "accounting_ok",
        "resend_first_request_stored_reported", "rows_in_store_after_shutdown", "command")


def load(folder: str) -> dict | None:
    path = os.path.join(HERE, folder, "import.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        result = json.load(handle)
    return {"what": RUNS[folder], **{k: result.get(k) for k in KEYS}}


def main() -> None:
    imports = {folder: load(folder) for folder in RUNS}
    biggest = imports.get("import-5M-in-flight-1") or imports.get("import-5M") or imports.get("import-1M")
    summary = {
        # The per-event HTTP path did not change in this session: its figures are session 3's.
        "load": {"ingest_vs_baseline": 0.34, "source": "../session3/README.md (not re-measured: no change "
                                                       "to the /api/event path in session 4)"},
        "import": biggest,
        "imports": imports,
        "targets": {"import_events_per_s": 50_000, "load.ingest_vs_baseline": 0.5},
    }
    with open(os.path.join(HERE, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
        handle.write("\n")
    rows = ["| run | lines | events/s | s | server CPU µs/event (with workers) | RSS max MiB "
            "| acked == stored |", "|---|---|---|---|---|---|---|"]
    for r in imports.values():
        if r is None:
            continue
        rows.append(f"| {r['what']} | {r['lines']:,} | **{r['events_per_s']:,}** | {r['seconds']} | "
                    f"{r['server_cpu_us_per_event']} ({r.get('server_and_workers_cpu_us_per_event')}) | "
                    f"{r['server_rss_mib_max']} | {r['accounting_ok']} |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
