"""Issue 12, session 4: the importer in process, as POST /api/import runs it (the app's lifespan, its
garbage-collector settings, a real embedded store and GeoIP), without HTTP: R requests of N lines
of data/history-1M.ndjson.gz after one warm-up request. Prints lines/s, CPU per line of this
process and of its parse worker processes, and the wall time spent parsing, in sessions + rows
(the inserts overlapping it), waiting for the last insert, and looking up stored sessions.

    cd <tree> && CLICKPORT_IMPORT_WORKERS=0 .venv/bin/python \
        loadtest/results/run2/ingest/session4/inprocess_import.py 50000 3 [SITES]

SITES=2: two sites import at once (each its own stream of R requests, as two `clickport import`
runs would): what overlapping one request's parse with another's last insert would give.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("CLICKPORT_GEOIP_PATH", os.path.abspath("data/geo/dbip-city-lite.mmdb"))

import engine.ingest.importer as importer_module  # noqa: E402
from loadtest.inprocess import running_app  # noqa: E402


def proc_cpu(pid: int | str) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def children_cpu() -> float:
    me, total = str(os.getpid()), 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[1] == me:
                        total += proc_cpu(entry)
            except OSError:
                pass
    return total


async def main(n: int, rounds: int, sites: int) -> None:
    with gzip.open("data/history-1M.ndjson.gz", "rb") as handle:
        chunks = [b"".join(line for _, line in zip(range(n), handle, strict=False))
                  for _ in range(rounds + 1)]
    data_dir = tempfile.mkdtemp(prefix="inprocess-import-")
    async with running_app(data_dir) as app:
        await measure(app, chunks, sites)
    shutil.rmtree(data_dir, ignore_errors=True)


async def measure(app, chunks: list[bytes], sites: int) -> None:
    site = await asyncio.to_thread(app.state.registry.create_site, "history.example", "Europe/Berlin")
    others = [await asyncio.to_thread(app.state.registry.create_site, f"history{i}.example", "Europe/Berlin")
              for i in range(1, sites)]
    importer = app.state.importer
    spent = {"parse": 0.0, "sessions+rows": 0.0, "last insert": 0.0, "stored sessions": 0.0}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
        return wrapper

    await asyncio.to_thread(importer.run, site, chunks[0], dt.datetime.now(dt.UTC))  # warm-up
    importer.parser.parse = timed("parse", importer.parser.parse)
    importer._import = timed("sessions+rows", importer._import)
    importer._stored_sessions = timed("stored sessions", importer._stored_sessions)
    importer_module._BlockInserter.finish = timed("last insert", importer_module._BlockInserter.finish)
    cpu0, workers0, started = proc_cpu(os.getpid()), children_cpu(), time.perf_counter()
    def stream(target) -> int:
        return sum(importer.run(target, chunk, dt.datetime.now(dt.UTC)).lines for chunk in chunks[1:])

    lines = sum(await asyncio.gather(*(asyncio.to_thread(stream, s) for s in [site, *others])))
    wall = time.perf_counter() - started
    cpu, workers = proc_cpu(os.getpid()) - cpu0, children_cpu() - workers0
    spent["sessions+rows"] -= spent["last insert"] + spent["stored sessions"]
    print(f"workers={importer.parser.workers}, sites={sites}: {lines} lines in {wall:.2f} s = "
          f"{lines / wall:,.0f} lines/s; "
          f"CPU per line: this process {cpu / lines * 1e6:.1f} µs, "
          f"parse workers {workers / lines * 1e6:.1f} µs "
          f"(cores busy {(cpu + workers) / wall:.2f}); wall per line: "
          + ", ".join(f"{name} {seconds / lines * 1e6:.1f} µs" for name, seconds in spent.items()),
          flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1))
