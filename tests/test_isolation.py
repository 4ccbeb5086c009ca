"""Reads never stall ingestion: the path behind an ingest 200 has threads and store clients of
its own (issue 10)."""

from __future__ import annotations

import asyncio
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
