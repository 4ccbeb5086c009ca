"""Issue 13: the insert cost of `session_events_mv` (schema/0012) alone — the engine's CPU per row
inserted into `events` with every materialized view, and without that one (the same method as
loadtest/results/run2/ingest/quiet/insert_cost.py, issue 12).

    cd /work/wt13 && .venv/bin/python loadtest/results/run2/ingest-session-events/insert_cost.py capture
    for v in all no_session_events all no_session_events; do
        .venv/bin/python loadtest/results/run2/ingest-session-events/insert_cost.py $v; done

`capture` imports the first 50,000 lines of /work/wt12/data/history-5M.ndjson.gz in process (the
importer's own insert blocks, kept in /tmp/w13-ins); each variant inserts them 3 times into a fresh
store (new deduplication tokens) and prints wall and process CPU per row over rounds 2–3.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.getcwd(), "loadtest/results/run2/ingest/quiet"))
os.environ.setdefault("CLICKPORT_GEOIP_PATH", "/work/wt12/data/geo/dbip-city-lite.mmdb")

OUT = "/tmp/w13-ins"
HISTORY = "/work/wt12/data/history-5M.ndjson.gz"


def capture() -> None:
    import asyncio
    import datetime as dt
    import gzip

    from loadtest.inprocess import running_app

    async def run() -> None:
        os.makedirs(OUT, exist_ok=True)
        with gzip.open(HISTORY, "rb") as handle:
            data = b"".join(line for _, line in zip(range(50_000), handle, strict=False))
        async with running_app(tempfile.mkdtemp()) as app:
            site = app.state.registry.create_site("history.example", "Europe/Berlin")
            blocks: list[bytes] = []
            app.state.importer.on_insert = lambda seconds, rows, payload: blocks.append(payload)
            await asyncio.to_thread(app.state.importer.run, site, data, dt.datetime.now(dt.UTC))
        for i, block in enumerate(blocks):
            with open(f"{OUT}/block{i}.jsonl", "wb") as handle:
                handle.write(block)

    asyncio.run(run())


def measure(name: str) -> None:
    from engine.ingest.rows import EVENT_COLUMNS, SPOOL_FORMAT
    from engine.migrations import apply_migrations
    from engine.store import Store, StoreConfig

    blocks = [open(os.path.join(OUT, f), "rb").read() for f in sorted(os.listdir(OUT))
              if f.startswith("block")]
    store = Store(StoreConfig(dsn=f"chdb://{tempfile.mkdtemp()}/ch"))
    apply_migrations(store)
    if name == "no_session_events":
        store.command("DROP VIEW session_events_mv")

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    results = []
    for round_ in range(3):
        for i, block in enumerate(blocks):
            settings = {"insert_deduplication_token": f"t{round_}-{i}",
                        "deduplicate_blocks_in_dependent_materialized_views": 1}
            c0, w0 = cpu(), time.perf_counter()
            with store.client() as client:
                client.raw_insert("events", list(EVENT_COLUMNS), insert_block=block, settings=settings,
                                  fmt=SPOOL_FORMAT)
            results.append((time.perf_counter() - w0, cpu() - c0, block.count(b"\n")))
    kept = results[len(blocks):]
    rows = sum(r[2] for r in kept)
    (stored,) = store.rows("SELECT count() FROM session_events")[0]
    print(f"{name}: wall {sum(r[0] for r in kept) / rows * 1e6:.1f} µs/row, "
          f"cpu {sum(r[1] for r in kept) / rows * 1e6:.1f} µs/row ({rows} rows; session_events {stored})")


if __name__ == "__main__":
    if sys.argv[1] == "capture":
        capture()
    else:
        measure(sys.argv[1])
