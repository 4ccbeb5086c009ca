"""Batched writer: rows collect in memory and are inserted by size or age.

- At low traffic a row is inserted within `max_age_s` (well under a second).
- Memory is bounded: when `max_buffered` rows wait, `put` blocks (backpressure) and gives up with
  `Overloaded` after `put_timeout_s`, so the caller can answer 503 instead of dropping the event.
- A failed insert is retried with the same deduplication token, so a try that did land before the
  error is not stored twice, and the batch stays first in line: nothing is lost or reordered.
- `close()` flushes everything still buffered (called on SIGTERM through the app's lifespan).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from engine.store import Store

log = logging.getLogger("clickport.writer")


class Overloaded(Exception):
    """The buffer stayed full for too long (the store is down or too slow)."""


class BatchWriter:
    def __init__(
        self,
        store: Store,
        table: str,
        columns: Sequence[str],
        max_batch: int = 20_000,
        max_age_s: float = 0.2,
        max_buffered: int = 500_000,
        put_timeout_s: float = 10.0,
    ):
        self.store = store
        self.table = table
        self.columns = tuple(columns)
        self.max_batch = max_batch
        self.max_age_s = max_age_s
        self.max_buffered = max_buffered
        self.put_timeout_s = put_timeout_s
        self._rows: list[tuple] = []
        self._oldest: float = 0.0
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._closing = False
        self._task: asyncio.Task | None = None
        self.inserted_rows = 0
        self.failed_attempts = 0

    @property
    def pending(self) -> int:
        return len(self._rows) + self._in_flight

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"writer:{self.table}")

    async def put(self, row: tuple) -> None:
        if self._closing:
            raise Overloaded("the server is shutting down")
        deadline = time.monotonic() + self.put_timeout_s
        while self.pending >= self.max_buffered:
            self._space.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Overloaded(f"{self.pending} events wait for the store")
            try:
                await asyncio.wait_for(self._space.wait(), remaining)
            except TimeoutError:
                raise Overloaded(f"{self.pending} events wait for the store") from None
        if not self._rows:
            self._oldest = time.monotonic()
        self._rows.append(row)
        if len(self._rows) >= self.max_batch:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wait_for_batch()
            if not self._rows:
                if self._closing:
                    return
                continue
            batch, self._rows = self._rows[: self.max_batch], self._rows[self.max_batch :]
            self._oldest = time.monotonic()
            self._in_flight = len(batch)
            await self._insert_until_done(batch)
            self._in_flight = 0
            self._space.set()

    async def _wait_for_batch(self) -> None:
        if self._closing or len(self._rows) >= self.max_batch:
            return
        if self._rows:
            timeout = max(0.0, self._oldest + self.max_age_s - time.monotonic())
        else:
            timeout = self.max_age_s
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    async def _insert_until_done(self, batch: list[tuple]) -> None:
        token = uuid.uuid4().hex
        columns = [list(col) for col in zip(*batch, strict=True)]
        delay = 0.1
        while True:
            try:
                await asyncio.to_thread(
                    self.store.insert_columns, self.table, columns, self.columns, token
                )
                self.inserted_rows += len(batch)
                return
            except Exception as exc:  # noqa: BLE001 - any failure: keep the batch and retry
                self.failed_attempts += 1
                log.warning("insert of %d rows failed (%s); retrying in %.1fs", len(batch), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self, timeout_s: float | None = None) -> None:
        """Flush every buffered row, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout_s)

    def stats(self) -> dict[str, Any]:
        return {
            "buffered": len(self._rows),
            "in_flight": self._in_flight,
            "inserted_rows": self.inserted_rows,
            "failed_attempts": self.failed_attempts,
        }
