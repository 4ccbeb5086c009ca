"""The server's app in this process, started and stopped through its ASGI lifespan: the real
state (embedded store, writer, importer, GC settings) without HTTP, for profiling scripts
(loadtest/results/run2/**: inprocess_import.py, …)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from server.app import create_app
from server.config import Config


@contextlib.asynccontextmanager
async def running_app(data_dir: str) -> AsyncIterator:
    """`create_app` on `data_dir`, its lifespan started; shut down (events flushed) on exit."""
    app = create_app(Config.from_env(data_dir=data_dir, admin_token="tok"))
    inbox: asyncio.Queue = asyncio.Queue()
    sent: list[dict] = []

    async def lifespan_send(message: dict) -> None:
        sent.append(message)

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                   inbox.get, lifespan_send))
    await inbox.put({"type": "lifespan.startup"})
    while not sent:
        await asyncio.sleep(0.05)
    if sent[0]["type"] != "lifespan.startup.complete":
        task.cancel()
        raise RuntimeError(f"the app did not start: {sent[0]}")
    try:
        yield app
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await task
