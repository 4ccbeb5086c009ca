"""Issue 12, build item 2: how long does an insert batch hold the event loop's thread?

Inserts a 16,000-row batch (the writer's size under load) from a worker thread, the way the writer
does, while the main thread ticks every 1 ms and records its gaps (a gap = time the main thread
could not run: the GIL held by the inserting side). Two ways:
- `columns` (before): decode every spool line to Python values and hand column lists to
  clickhouse-connect, which converts them to the Native format in Python;
- `raw` (after): the spool lines are JSONCompactEachRow already; join them and let the engine parse.

    .venv/bin/python loadtest/results/run2/ingest/stall_probe-issue12.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import threading
import time
from decimal import Decimal

from engine.ingest.rows import EVENT_COLUMNS, SPOOL_FORMAT, EventRow, decode_row, encode_row
from engine.migrations import apply_migrations
from engine.store import Store, StoreConfig


def _row(i: int, now: dt.datetime) -> EventRow:
    values = dict.fromkeys(EventRow._fields, "")
    values.update(site_id=1, timestamp=now, event_id=i, type="pageview", user_id=i % 5000,
                  session_id=i % 4000 + 1, session_start=now, page_visit_id=i, scroll_depth=None,
                  engaged_ms=None, engaged_delta_ms=0, revenue_amount=Decimal(0), meta_key=[],
                  meta_value=[], pathname=f"/p{i % 300}", url=f"https://x.example/p{i % 300}",
                  country="DE", device="Desktop", browser="Chrome", os="Windows")
    return EventRow(**values)


def measure(fn) -> dict:
    gaps: list[float] = []
    done = threading.Event()
    took: list[float] = []

    def work() -> None:
        started = time.perf_counter()
        fn()
        took.append(time.perf_counter() - started)
        done.set()

    thread = threading.Thread(target=work)
    thread.start()
    last = time.perf_counter()
    while not done.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    thread.join()
    gaps.sort()
    return {"insert_ms": round(took[0] * 1000, 1), "max_gap_ms": round(gaps[-1] * 1000, 1),
            "p99_gap_ms": round(gaps[int(len(gaps) * 0.99)] * 1000, 1),
            "gaps_over_10ms": sum(1 for g in gaps if g > 0.010)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=16_000)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="stall-probe-")
    store = Store(StoreConfig(dsn=f"chdb://{directory}/ch"))
    apply_migrations(store)
    now = dt.datetime.now(dt.UTC)
    lines = [encode_row(_row(i, now)) for i in range(args.rows)]
    results: dict[str, list[dict]] = {"raw": [], "columns": []}
    for k in range(args.rounds):
        results["raw"].append(measure(
            lambda k=k: store.insert_raw("events", b"".join(lines), EVENT_COLUMNS, SPOOL_FORMAT, f"r{k}")))

        def columns(k=k) -> None:
            rows = [decode_row(line) for line in lines]
            store.insert_columns("events", [list(c) for c in zip(*rows, strict=True)], EVENT_COLUMNS, f"c{k}")

        results["columns"].append(measure(columns))
    store.close()
    shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
