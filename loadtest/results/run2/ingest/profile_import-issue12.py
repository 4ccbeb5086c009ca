"""Issue 12, import: where the importer's time goes, in-process (real embedded store, GeoIP).

Starts the app (lifespan) in a temp data dir, creates the history file's site, then runs
`Importer.run` on the first N lines of a `loadtest history` file, R times (one request's worth
each: the same code path as POST /api/import minus HTTP), and prints lines/s, the calling
thread's CPU per line, and (with --profile) the top functions by own time.

    cd <tree> && /work/wt12/.venv/bin/python <this file> data/history-5M.ndjson.gz 50000 4 [--profile]
"""

from __future__ import annotations

import asyncio
import cProfile
import datetime as dt
import gzip
import io
import os
import pstats
import shutil
import sys
import tempfile
import time

import orjson

sys.path.insert(0, os.getcwd())
os.environ.setdefault("CLICKPORT_GEOIP_PATH", "/work/wt12/data/geo/dbip-city-lite.mmdb")

from loadtest.inprocess import running_app  # noqa: E402


async def main(path: str, n: int, rounds: int, profile: bool) -> None:
    with gzip.open(path, "rb") as handle:
        chunks = []
        for _ in range(rounds):
            chunks.append(b"".join(line for _, line in zip(range(n), handle, strict=False)))
    data_dir = tempfile.mkdtemp(prefix="profile-import-")
    async with running_app(data_dir) as app:
        await measure(app, chunks, rounds, profile)
    shutil.rmtree(data_dir, ignore_errors=True)


async def measure(app, chunks: list[bytes], rounds: int, profile: bool) -> None:
    state = app.state
    domain = orjson.loads(chunks[0].split(b"\n", 1)[0]).get("domain") or "history.example"
    site = await asyncio.to_thread(state.registry.create_site, domain, "Europe/Berlin")
    importer = state.importer
    inserts = [0.0, 0]

    def on_insert(seconds: float, rows: int, payload: bytes) -> None:
        inserts[0] += seconds
        inserts[1] += rows

    importer.on_insert = on_insert
    profiler = cProfile.Profile() if profile else None

    def run_all() -> tuple[float, float, int]:
        started, cpu, lines = time.perf_counter(), time.thread_time(), 0
        if profiler:
            profiler.enable()
        for chunk in chunks:
            result = importer.run(site, chunk, dt.datetime.now(dt.UTC))
            lines += result.lines
        if profiler:
            profiler.disable()
        return time.perf_counter() - started, time.thread_time() - cpu, lines

    wall, cpu, lines = await asyncio.to_thread(run_all)
    print(f"{lines} lines in {rounds} requests: {lines / wall:,.0f} lines/s wall, "
          f"calling thread CPU {cpu / lines * 1e6:.1f} µs/line, process CPU so far "
          f"{time.process_time():.1f} s; inserts (engine, on their own thread) "
          f"{inserts[0]:.1f} s for {inserts[1]} rows = {inserts[0] / max(inserts[1], 1) * 1e6:.1f} µs/row")
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
        print(text.getvalue().replace(os.getcwd() + "/", ""))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    asyncio.run(main(args[0], int(args[1]), int(args[2]), "--profile" in sys.argv))
