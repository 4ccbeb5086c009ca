"""Import benchmark: a generated history file through `clickport import` (HTTP, end to end).

    python -m loadtest history --events 5M --days 60 --out data/history-5M.ndjson.gz
    python -m loadtest import --file data/history-5M.ndjson.gz --results DIR

Starts `clickport serve` on its own data dir (`data/import`), creates the file's site, runs the
CLI's import (the same code as `clickport import`) against it, and records events/s (lines of the
file per second of wall time, request bodies and answers included), the server's CPU per event
(with and without its parse worker processes, if any) and peak RSS, and the accounting: the rows
the server says it stored == `count()` of the site's rows in the store after shutdown. A second
pass re-sends the first request's lines and checks that the store's count does not move (re-sends
store nothing twice).
"""

from __future__ import annotations

import gzip
import os
import secrets
import shutil
import time

import httpx

from loadtest.load import _http_json, count_in_store, start_clickport
from server.config import default_geoip_path
from server.importcli import IN_FLIGHT, run_import


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += cpu.get(current, 0.0)
        todo += [child for child, parent in parents.items() if parent == current]
    return total


def run_import_bench(file: str, data_dir: str, domain: str, timezone: str,
                     lines_per_request: int, fresh: bool = True, progress: bool = True,
                     in_flight: int = IN_FLIGHT) -> dict:
    if fresh and os.path.exists(data_dir):
        shutil.rmtree(data_dir)
    token = "cka_" + secrets.token_urlsafe(24)
    # Enrichment as in production: the GeoIP database `clickport setup` installed in ./data.
    geo = default_geoip_path(os.path.abspath("data"))
    server = start_clickport(data_dir, token, {"CLICKPORT_GEOIP_PATH": geo} if geo else None)
    try:
        site = _http_json("POST", server.base + "/api/admin/sites",
                          {"domain": domain, "timezone": timezone}, token=token)
        key = _http_json("POST", server.base + f"/api/admin/sites/{site['id']}/keys",
                         {"name": "import-bench", "permissions": ["tracker"]}, token=token)["key"]
        cpu0, tree0 = server.cpu_seconds(), tree_cpu_seconds(server.proc.pid)
        server.sample_rss()
        summary = run_import(server.base, key, file, lines_per_request, progress=progress,
                             in_flight=in_flight)
        server.stop_sampling()
        cpu = server.cpu_seconds() - cpu0
        # With CLICKPORT_IMPORT_WORKERS > 0 the parse runs in child processes: count them too.
        tree_cpu = tree_cpu_seconds(server.proc.pid) - tree0
        # Re-send the first request's lines: nothing may be stored twice.
        opener = gzip.open if file.endswith(".gz") else open
        with opener(file, "rb") as handle:
            first = b"".join(line for _, line in zip(range(lines_per_request), handle, strict=False))
        resend = httpx.post(server.base + "/api/import", content=first, timeout=600,
                            headers={"x-api-key": key}).json()
    finally:
        code = server.terminate()
    stored_rows = count_in_store(data_dir, [site["id"]])
    return {
        "file": file,
        "geoip": geo,
        "timezone": timezone,
        "lines": summary["lines"],
        "stored": summary["stored"],
        "dropped": summary["dropped"],
        "rejected_count": summary["rejected_count"],
        "requests": summary["requests"],
        "lines_per_request": lines_per_request,
        "in_flight": in_flight,
        "seconds": summary["seconds"],
        "events_per_s": summary["events_per_s"],
        "stored_per_s": round(summary["stored"] / summary["seconds"]) if summary["seconds"] else None,
        "server_cpu_s": round(cpu, 2),
        "server_cpu_us_per_event": round(1e6 * cpu / max(summary["lines"], 1), 1),
        "server_and_workers_cpu_s": round(tree_cpu, 2),
        "server_and_workers_cpu_us_per_event": round(1e6 * tree_cpu / max(summary["lines"], 1), 1),
        "server_rss_mib_max": round(max((r for _, r in server.rss_samples), default=0.0), 1),
        "resend_first_request_stored_reported": resend.get("stored"),
        "rows_in_store_after_shutdown": stored_rows,
        "accounting_ok": stored_rows == summary["stored"],
        "server_exit_code": code,
        "ok": summary["ok"] and stored_rows == summary["stored"],
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
