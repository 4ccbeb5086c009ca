"""Reads never stall ingestion: the path behind an ingest 200 has threads and store clients of
its own (issue 10)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from tests.conftest import send


def test_an_event_is_acknowledged_while_the_default_executor_is_full(client, new_site):
    """Block every thread of the default executor (where queries and the spool fsync used to
    share threads): an event is still acknowledged at once."""
    site = new_site()
    assert send(client, site).status_code == 200
    release = threading.Event()

    async def occupy() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(64):  # more than any default executor has threads
            loop.run_in_executor(None, release.wait, 20)

    client.portal.call(occupy)
    threading.Timer(6.0, release.set).start()  # bounded even when the event does wait
    try:
        started = time.perf_counter()
        r = send(client, site)
        elapsed = time.perf_counter() - started
    finally:
        release.set()
    assert r.status_code == 200
    assert elapsed < 3.0, f"the event waited {elapsed:.1f}s behind the default executor"


def test_the_writer_and_sessions_use_their_own_store(app):
    assert app.state.ingest_store is not app.state.store
    assert app.state.writer.store is app.state.ingest_store
    assert app.state.ingestor.sessions._store is app.state.ingest_store



def _record_nice(store, method: str, seen: list[int]):
    """Wrap a Store method (the real call still runs) to record its thread's nice value."""
    import os

    original = getattr(store, method)

    def recording(*args, **kwargs):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return original(*args, **kwargs)

    setattr(store, method, recording)
    return original


def _record_thread(obj, method: str, seen: list[int]):
    """Wrap a method (the real call still runs) to record the thread it runs on."""
    original = getattr(obj, method)

    def recording(*args, **kwargs):
        seen.append(threading.get_native_id())
        return original(*args, **kwargs)

    setattr(obj, method, recording)
    return original


def test_background_work_runs_below_the_acknowledgement_path(app, client, new_site):
    """Inserts and read queries run at a lower CPU priority than the event loop and the spool
    fsync: their Python threads, on every call (ClickHouse resets a thread's priority after a
    lowered statement), and the engine's threads for their statements."""
    from engine.priority import BACKGROUND_NICE, BACKGROUND_SETTINGS
    from engine.query.run import READ_SETTINGS
    from tests.conftest import wait_flushed

    site = new_site()
    inserts: list[int] = []
    writer = app.state.writer
    original = _record_nice(writer.store, "insert_raw", inserts)
    try:
        for _ in range(3):  # three inserts: the first one's reset must not leak into the next
            assert send(client, site).status_code == 200
            wait_flushed(app)
    finally:
        writer.store.insert_raw = original
    assert len(inserts) >= 3 and min(inserts) >= BACKGROUND_NICE, inserts
    reads: list[int] = []
    original = _record_nice(app.state.store, "rows", reads)
    try:
        for _ in range(2):
            r = client.post("/api/query", json={"metrics": ["visitors"], "period": "today"},
                            headers={"x-api-key": site.read_key})
            assert r.status_code == 200, r.text
    finally:
        app.state.store.rows = original
    assert reads and min(reads) >= BACKGROUND_NICE, reads
    # The spool append behind every 200 (the commit thread) is not lowered.
    appended_on: list[int] = []
    original = _record_thread(writer.spool, "append", appended_on)
    try:
        assert send(client, site).status_code == 200
    finally:
        writer.spool.append = original
    assert appended_on == [writer.commit_thread_id]
    commit_nice = os.getpriority(os.PRIO_PROCESS, writer.commit_thread_id)
    # (unless the whole test process runs lowered: `nice pytest`)
    assert commit_nice < BACKGROUND_NICE or os.getpriority(os.PRIO_PROCESS, 0) >= BACKGROUND_NICE
    # The engine's threads for each insert and read statement are lowered too, and a statement
    # carrying the setting runs.
    store = app.state.ingest_store
    assert store._insert_settings(None)["os_threads_nice_value_query"] == BACKGROUND_NICE
    assert store._insert_settings("spool:1:0:10")["os_threads_nice_value_query"] == BACKGROUND_NICE
    assert READ_SETTINGS["os_threads_nice_value_query"] == BACKGROUND_NICE
    assert str(store.command("SELECT 1", settings=BACKGROUND_SETTINGS)) == "1"
    assert BACKGROUND_SETTINGS["os_threads_nice_value_materialized_view"] == BACKGROUND_NICE
    if store.config.embedded:  # the engine's background merges: a server's own config sets it
        [(merges,)] = store.rows("SELECT value FROM system.server_settings "
                                 "WHERE name = 'os_threads_nice_value_merge_mutate'")
        assert int(merges) == BACKGROUND_NICE
