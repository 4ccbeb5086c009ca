"""Issue 12: the engine's CPU per inserted row (JSONCompactEachRow into `events`, with and without
its materialized views, and with insert settings that could matter on 2 cores).

    cd /work/wt12 && .venv/bin/python loadtest/results/run2/ingest/quiet/insert_cost.py capture
    for v in default 1thread parallel_views no_optimize plain; do
        .venv/bin/python loadtest/results/run2/ingest/quiet/insert_cost.py $v; done

`capture` imports the first 50,000 lines of data/history-5M.ndjson.gz in process and keeps the
insert blocks the importer made (/tmp/wt12-ins/block*.jsonl); each variant inserts them 3 times
into a fresh store (new deduplication tokens) and prints wall and process CPU per row (rounds 2–3).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("CLICKPORT_GEOIP_PATH", "/work/wt12/data/geo/dbip-city-lite.mmdb")

OUT = "/tmp/wt12-ins"
VARIANTS = {
    "default": {},
    "1thread": {"max_threads": 1, "max_insert_threads": 1, "input_format_parallel_parsing": 0},
    "parallel_views": {"parallel_view_processing": 1},
    "no_optimize": {"optimize_on_insert": 0},
    "plain": {},  # a copy of `events` without materialized views
}


async def capture() -> None:
    from loadtest.inprocess import running_app

    os.makedirs(OUT, exist_ok=True)
    with gzip.open("data/history-5M.ndjson.gz", "rb") as handle:
        data = b"".join(line for _, line in zip(range(50_000), handle, strict=False))
    async with running_app(tempfile.mkdtemp()) as app:
        site = app.state.registry.create_site("history.example", "Europe/Berlin")
        blocks: list[bytes] = []
        app.state.importer.on_insert = lambda seconds, rows, payload: blocks.append(payload)
        await asyncio.to_thread(app.state.importer.run, site, data, dt.datetime.now(dt.UTC))
    for i, block in enumerate(blocks):
        with open(f"{OUT}/block{i}.jsonl", "wb") as handle:
            handle.write(block)


def measure(name: str) -> None:
    from engine.ingest.rows import EVENT_COLUMNS, SPOOL_FORMAT
    from engine.migrations import apply_migrations
    from engine.store import Store, StoreConfig

    blocks = [open(os.path.join(OUT, f), "rb").read() for f in sorted(os.listdir(OUT))
              if f.startswith("block")]
    store = Store(StoreConfig(dsn=f"chdb://{tempfile.mkdtemp()}/ch"))
    apply_migrations(store)
    table = "events"
    if name == "plain":
        store.command("CREATE TABLE events_plain AS events")
        table = "events_plain"

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    results = []
    for round_ in range(3):
        for i, block in enumerate(blocks):
            settings = {"insert_deduplication_token": f"t{round_}-{i}",
                        "deduplicate_blocks_in_dependent_materialized_views": 1, **VARIANTS[name]}
            c0, w0 = cpu(), time.perf_counter()
            with store.client() as client:
                client.raw_insert(table, list(EVENT_COLUMNS), insert_block=block, settings=settings,
                                  fmt=SPOOL_FORMAT)
            results.append((time.perf_counter() - w0, cpu() - c0, block.count(b"\n")))
    kept = results[len(blocks):]
    rows = sum(r[2] for r in kept)
    print(f"{name}: wall {sum(r[0] for r in kept) / rows * 1e6:.1f} µs/row, "
          f"cpu {sum(r[1] for r in kept) / rows * 1e6:.1f} µs/row ({rows} rows)")


if __name__ == "__main__":
    if sys.argv[1] == "capture":
        asyncio.run(capture())
    else:
        measure(sys.argv[1])
