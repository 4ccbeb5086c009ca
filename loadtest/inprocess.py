"""The server's app in this process, started and stopped through its ASGI lifespan: the real
state (embedded store, writer, importer, GC settings) without HTTP, for profiling scripts
(loadtest/results/run2/**), and `call`, one request through it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from server.app import create_app
from server.config import Config


@contextlib.asynccontextmanager
async def running_app(data_dir: str, admin_token: str = "tok") -> AsyncIterator:
    """`create_app` on `data_dir`, its lifespan started; shut down (events flushed) on exit."""
    app = create_app(Config.from_env(data_dir=data_dir, admin_token=admin_token))
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


async def call(app, method: str, path: str, body: bytes = b"", headers=()) -> list[dict]:
    """One HTTP request through the app's ASGI interface (no socket); the response's messages."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    out: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        out.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [(b"content-length", str(len(body)).encode()), *headers],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "scheme": "http",
             "http_version": "1.1", "root_path": "", "state": {}}
    await app(scope, receive, send)
    return out
