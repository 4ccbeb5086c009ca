"""Issue 12, session 4: where an imported event's CPU goes, stage by stage (in process, one thread
each, the server's garbage-collector settings), and what the engine's insert costs per row.

    cd <tree> && .venv/bin/python loadtest/results/run2/ingest/session4/stage_costs.py [LINES]

Stages, on the first LINES (default 100,000) lines of data/history-1M.ndjson.gz:
  1. parse: `parse_chunk` (JSON, validation, URL, drop rules, visitor and content ids), in the thread;
     and the worker-process path: the worker's parse + conversion, pickling, unpickling, rebuilding;
  2. sessions + rows + spool encoding (`Importer._import` with a store stub that answers "no stored
     sessions" and keeps the insert payloads);
  3. the engine's insert of those payloads (blocks of 25,000 rows, as the importer makes them) into
     scratch stores: a Null table (input parsing only, all rows in one insert) in several formats
     (encoded by the engine from the same rows), `events` without
     materialized views, with each view alone, and with all of them. CPU of the whole process
     (the engine's threads included) per row, measured 3 s after the last insert so background
     merges started by it are counted too.
"""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import os
import pickle
import resource
import sys
import tempfile
import threading
import time
from zoneinfo import ZoneInfo

sys.path.insert(0, os.getcwd())
os.environ.setdefault("CLICKPORT_GEOIP_PATH", os.path.abspath("data/geo/dbip-city-lite.mmdb"))

from engine.enrich.geo import GeoLocator  # noqa: E402
from engine.ingest import importer as im  # noqa: E402
from engine.ingest import importparse as ip  # noqa: E402
from engine.ingest.identity import VisitorHasher  # noqa: E402
from engine.ingest.pipeline import warm_up_enrichment  # noqa: E402
from engine.ingest.rows import EVENT_COLUMNS, SPOOL_FORMAT  # noqa: E402
from engine.migrations import apply_migrations  # noqa: E402
from engine.sites import Site  # noqa: E402
from engine.store import Store, StoreConfig  # noqa: E402
from server.app import tune_gc  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
SCRATCH = tempfile.mkdtemp(prefix="stage-costs-")


def thread_us(label: str, fn, n: int):
    started = time.thread_time()
    result = fn()
    print(f"  {label:58s} {(time.thread_time() - started) / n * 1e6:6.1f} µs/line", flush=True)
    return result


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    with gzip.open("data/history-1M.ndjson.gz", "rb") as handle:
        data = b"".join(line for _, line in zip(range(N), handle, strict=False))
    secret = b"s" * 32
    hasher, ids = VisitorHasher(secret), ip.ImportIds(secret)
    geo = GeoLocator(os.environ["CLICKPORT_GEOIP_PATH"])
    warm_up_enrichment(geo)
    tune_gc()  # as the server does after start-up
    now, tz = dt.datetime.now(dt.UTC), ZoneInfo("Europe/Berlin")
    print(f"{N} lines of data/history-1M.ndjson.gz; load average {open('/proc/loadavg').read().strip()}")
    print("1. parse")
    def parse():
        return ip.parse_chunk(data, 1, now, 1, tz, hasher, ids)

    thread_us("parse_chunk, first pass (cold caches)", parse, N)
    parsed = thread_us("parse_chunk, second pass", parse, N)
    ip._init_worker(secret)  # what a worker process does at start (it turns its collector off)
    answer = thread_us("worker process: parse + plain tuples",
                       lambda: ip._parse_in_worker(data, 1, now, 1, tz.key), N)
    gc.enable()  # back to the server's settings
    blob = thread_us("worker process: pickle the answer", lambda: pickle.dumps(answer, protocol=5), N)
    back = thread_us("server process: unpickle", lambda: pickle.loads(blob), N)
    thread_us("server process: rebuild ParsedLine records", lambda: ip._from_worker(back), N)
    print(f"  ({len(blob) / N:.0f} pickled bytes per line)")

    print("2. sessions + rows + spool encoding (store stub: no stored sessions)")

    class StubStore:
        payloads: list[bytes] = []

        def rows(self, *args, **kwargs):
            return []

        def insert_raw(self, table, payload, columns, fmt, token):
            self.payloads.append(payload)

    stub = StubStore()
    importer = im.Importer.__new__(im.Importer)
    importer.store, importer.hasher, importer.geo = stub, hasher, geo
    importer.parser = ip.ParsePool(secret, hasher, workers=0)
    importer._site_locks, importer._locks_guard = {}, threading.Lock()
    importer.stored_rows, importer.on_insert = 0, None
    site = Site(1, "history.example", "Europe/Berlin")
    lines = sorted(parsed.accepted, key=lambda item: (item.moment, item.number))

    def stage2():
        result = im.ImportResult()
        importer._import(site, lines, result, None)
        return result

    stage2()
    stub.payloads.clear()
    result = thread_us("Importer._import (second pass)", stage2, N)
    payload = b"".join(stub.payloads)
    rows = payload.splitlines(keepends=True)
    print(f"  ({result.stored} rows, {len(payload) / len(rows):.0f} bytes per JSONCompactEachRow row)")

    print("3. the engine's insert, 25,000-row blocks, CPU of the process per row")
    blocks = [b"".join(rows[i:i + im.BLOCK_ROWS]) for i in range(0, len(rows), im.BLOCK_ROWS)]
    columns = list(EVENT_COLUMNS)
    serial = [0]

    def fresh_store() -> Store:
        store = Store(StoreConfig(dsn=f"chdb://{tempfile.mkdtemp(dir=SCRATCH)}/ch"))
        apply_migrations(store)
        return store

    def insert(store: Store, table: str, payloads: list[bytes], fmt: str, label: str) -> None:
        count = len(rows)
        started_cpu, started = process_cpu(), time.perf_counter()
        for block in payloads:
            serial[0] += 1
            with store.client() as client:
                client.raw_insert(table, columns, insert_block=block, fmt=fmt, settings={
                    "insert_deduplication_token": f"t{serial[0]}",
                    "deduplicate_blocks_in_dependent_materialized_views": 1})
        wall = time.perf_counter() - started
        time.sleep(3)
        cpu = process_cpu() - started_cpu
        print(f"  {label:58s} {cpu / count * 1e6:6.1f} µs/row CPU, {wall / count * 1e6:5.1f} µs/row wall",
              flush=True)

    store = fresh_store()
    store.command("CREATE TABLE events_null AS events ENGINE = Null")
    store.command("CREATE TABLE events_copy AS events ENGINE = MergeTree ORDER BY tuple()")
    with store.client() as client:
        client.raw_insert("events_copy", columns, insert_block=payload, fmt=SPOOL_FORMAT)
    names = ", ".join(f"`{c}`" for c in columns)
    for fmt in ("JSONCompactEachRow", "TabSeparated", "RowBinary", "ArrowStream", "Native"):
        with store.client() as client:
            encoded = client.raw_query(f"SELECT {names} FROM events_copy FORMAT {fmt}")
        insert(store, "events_null", [encoded], fmt,
               f"Null table (input parsing only), {fmt} ({len(encoded) / len(rows):.0f} B/row)")
    store.close()
    views = sorted(fresh_store().rows(
        "SELECT dependencies_table FROM system.tables WHERE database = currentDatabase() AND name = 'events'"
    )[0][0])
    for keep in [None, *views, "all"]:
        store = fresh_store()
        for view in views:
            if keep != "all" and view != keep:
                store.command(f"DROP VIEW {view}")
        label = {None: "events, no materialized views", "all": "events with all its views (as shipped)"}.get(
            keep, f"events + {keep} only")
        insert(store, "events", blocks, SPOOL_FORMAT, label)
        store.close()


if __name__ == "__main__":
    main()
