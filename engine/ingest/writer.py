"""Durable batched writer: every accepted row is in the spool before the 200 (written, and with
`fsync=True` fsynced: engine/ingest/spool.py SYNC_MODES), then inserted into ClickHouse in
batches by size or age.

- `put` returns once the row is in the spool file (group commit: one write, and one fsync in the
  fsync mode, covers every row that arrived while the previous one ran), so an acknowledged
  event survives SIGKILL.
- The inserter reads batches back from the spool (so memory stays bounded however long the store
  is down) and inserts each with a deduplication token tied to its spool position; a failed insert
  is retried with the same token until it lands, and a crash mid-insert replays exactly that batch.
- Backpressure only when the spool itself is full: `put` raises `Overloaded` (→ 503 Retry-After).
- `close()` flushes what the store will take within its timeout (SIGTERM); anything left stays
  in the spool and is inserted on the next start.
- Isolation: the spool append + fsync behind every acknowledgement runs on its own thread, and
  the reading/inserting side on another, never on the default executor that other work (queries)
  can fill. Give the writer a store of its own (its own client) so inserts never wait for a
  client that a query holds.
- The commit thread does not wait for the event loop: it takes every row queued since its last
  fsync, appends + fsyncs them, hands the group back to the loop (one `call_soon_threadsafe`) and
  goes straight on with the next group. A row waits for the fsync in progress and its own, not
  also for a busy loop to dispatch each group: measured under drill d (in-process, load 4.5),
  half of a group commit's 9 ms as the loop saw it was that round trip (fsync itself 4.8 ms).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engine.ingest.rows import SPOOL_FORMAT, EventRow, encode_row, insert_payload
from engine.ingest.spool import Batch, Spool
from engine.priority import run_lowered
from engine.store import Store

log = logging.getLogger("clickport.writer")


class Overloaded(Exception):
    """The spool is full (the store has been unreachable or too slow for a long time)."""


class BatchWriter:
    def __init__(
        self,
        store: Store,
        table: str,
        columns: Sequence[str],
        spool_dir: str,
        max_batch: int = 20_000,
        max_age_s: float = 0.2,
        busy_age_s: float = 0.8,
        max_spool_bytes: int = 2 * 1024**3,
        segment_bytes: int = 64 * 1024**2,
        *,
        fsync: bool,
    ):
        self.store = store
        self.table = table
        self.columns = tuple(columns)
        self.max_batch = max_batch
        self.max_age_s = max_age_s
        self.busy_age_s = max(busy_age_s, max_age_s)
        self._last_insert = 0.0
        self.max_spool_bytes = max_spool_bytes
        self.spool = Spool(spool_dir, segment_bytes=segment_bytes, sync=fsync)
        # Rows waiting for their spool append (queued on the loop, taken by the commit thread).
        self._waiting: collections.deque[tuple[bytes, asyncio.Future]] = collections.deque()
        self._wake_committer = threading.Event()
        self._committer: threading.Thread | None = None
        self._committer_done: asyncio.Future | None = None
        self.commit_thread_id: int | None = None  # its native id (tests check its priority)
        # Rows taken by the commit thread (written by it only) and handed back (by the loop only).
        self._taken = self._handed_back = 0
        self._wake_inserter = asyncio.Event()
        self._unread = self.spool.recovered_rows
        self._unread_since = time.monotonic()
        self._closing = False
        self._tasks: list[asyncio.Task] = []
        self._spool_bytes = self.spool.size_bytes()
        self._next_warning = 64 * 1024**2
        self.accepted_rows = 0
        self.inserted_rows = 0
        self.failed_attempts = 0
        self.insert_seconds = 0.0
        self.inserts = 0
        self.on_insert: Callable[[float, int], None] | None = None
        # Called on the event loop after each group commit (seconds, rows).
        self.on_commit: Callable[[float, int], None] | None = None
        # Dedicated threads: one for the fsync side (`_commit_thread_main`), one for the
        # read-back + insert side. Inserts are background work (acknowledgements never wait
        # for them): engine.priority.
        self._insert_thread = ThreadPoolExecutor(1, thread_name_prefix="clickport-insert")
        if self._unread:
            log.info("spool: %d rows from before the last stop will be inserted", self._unread)

    @property
    def pending(self) -> int:
        """Rows accepted (or waiting for their fsync) that are not in the store yet."""
        return len(self._waiting) + (self._taken - self._handed_back) + self._unread

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._committer_done = loop.create_future()
        self._committer = threading.Thread(target=self._commit_thread_main, args=(loop,),
                                           name="clickport-spool", daemon=True)
        self._committer.start()
        self._tasks = [asyncio.create_task(self._insert_loop(), name=f"insert:{self.table}")]

    async def put(self, row: EventRow) -> None:
        if self._closing:
            raise Overloaded("the server is shutting down")
        if self._spool_bytes >= self.max_spool_bytes:
            raise Overloaded(f"the spool is full ({self._spool_bytes} bytes wait for the store)")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((encode_row(row), future))
        if not self._wake_committer.is_set():  # the thread clears it before it looks again
            self._wake_committer.set()
        await future

    def _commit_thread_main(self, loop: asyncio.AbstractEventLoop) -> None:
        """The commit thread: group after group, append (+ fsync), never waiting for the loop. In
        the write mode too: measured at saturation (issue 12, session 5), appending on the loop
        itself, one write(2) per event, answered no faster at 1,000-2,000/s and took 3-10% off
        the throughput; the thread writes whole groups."""
        self.commit_thread_id = threading.get_native_id()
        try:
            while True:
                if not self._waiting:
                    if self._closing:
                        return
                    self._wake_committer.wait()
                    self._wake_committer.clear()  # the queue is looked at again after this
                    continue
                group = []
                while self._waiting:
                    group.append(self._waiting.popleft())
                self._taken += len(group)
                started = time.perf_counter()
                try:
                    self.spool.append([line for line, _ in group])
                except Exception as exc:  # noqa: BLE001 - a disk error: none of these are acknowledged
                    loop.call_soon_threadsafe(self._commit_failed, group, exc)
                    continue
                loop.call_soon_threadsafe(self._committed, group, time.perf_counter() - started)
        except RuntimeError:  # the loop closed under us (the process is going down)
            return
        finally:
            if not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(self._set_committer_done)
                except RuntimeError:
                    pass

    def _set_committer_done(self) -> None:
        if self._committer_done is not None and not self._committer_done.done():
            self._committer_done.set_result(None)

    def _commit_failed(self, group: list, exc: Exception) -> None:
        self._handed_back += len(group)
        log.error("spool append failed: %s", exc)
        for _, future in group:
            if not future.done():
                future.set_exception(Overloaded(f"cannot write the spool: {exc}"))

    def _committed(self, group: list, seconds: float) -> None:
        """On the loop: a group is durable; its requests get their 200."""
        self._handed_back += len(group)
        if self.on_commit is not None:  # append (+ fsync), in the commit thread
            self.on_commit(seconds, len(group))
        if not self._unread:
            self._unread_since = time.monotonic()
        self._unread += len(group)
        self.accepted_rows += len(group)
        self._spool_bytes += sum(len(line) for line, _ in group)
        self._warn_if_growing()
        for _, future in group:
            if not future.done():
                future.set_result(None)
        self._wake_inserter.set()

    def _warn_if_growing(self) -> None:
        if self._spool_bytes >= self._next_warning:
            log.warning("spool holds %.0f MiB not yet in the store (limit %.0f MiB)",
                        self._spool_bytes / 1024**2, self.max_spool_bytes / 1024**2)
            self._next_warning *= 2

    async def _insert_loop(self) -> None:
        while True:
            if not self._unread:
                if self._closing and not self._waiting:
                    return
                self._wake_inserter.clear()
                await self._wake_inserter.wait()
                continue
            due = self._unread_since + self._age_limit()
            if self._unread < self.max_batch and not self._closing and time.monotonic() < due:
                self._wake_inserter.clear()
                try:
                    await asyncio.wait_for(self._wake_inserter.wait(), due - time.monotonic())
                except TimeoutError:
                    pass
                continue
            batch = await self._on(self._insert_thread, self.spool.next_batch, self.max_batch)
            if batch is None:
                self._unread = 0
                continue
            await self._insert_until_done(batch)
            await self._on(self._insert_thread, self.spool.done, batch)
            self._unread = max(0, self._unread - len(batch.lines))
            self._spool_bytes = max(0, self._spool_bytes - (batch.end - batch.start))
            self._unread_since = self._last_insert = time.monotonic()
            if self._spool_bytes < self._next_warning // 4:
                self._next_warning = max(64 * 1024**2, self._next_warning // 2)

    async def _on(self, executor: ThreadPoolExecutor, fn, *args):
        if executor is self._insert_thread:  # background work: engine.priority
            return await asyncio.get_running_loop().run_in_executor(
                executor, functools.partial(run_lowered, fn, *args))
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args))

    def _age_limit(self) -> float:
        """How long accepted rows may wait for their insert. At low traffic (no insert within the
        last `busy_age_s` + 0.2 s) `max_age_s`, so an event is queryable well within a second;
        under steady traffic `busy_age_s`, so inserts come less often and larger (each costs
        ~30 ms of engine CPU across the events table and its views, whatever its size)."""
        idle = time.monotonic() - self._last_insert >= self.busy_age_s + 0.2
        return self.max_age_s if idle else self.busy_age_s

    async def _insert_until_done(self, batch: Batch) -> None:
        # The spool lines are the insert payload (JSONCompactEachRow): joining them is the only
        # work in Python; the engine parses them in native code with the GIL released.
        payload = await self._on(self._insert_thread, insert_payload, batch.lines)
        rows = len(batch.lines)
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                await self._on(
                    self._insert_thread,
                    self.store.insert_raw, self.table, payload, self.columns, SPOOL_FORMAT, batch.token,
                )
            except Exception as exc:  # noqa: BLE001 - any failure: keep the batch and retry
                self.failed_attempts += 1
                log.warning("insert of %d rows failed (%s); retrying in %.1fs", rows, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._after_insert(rows, time.perf_counter() - started)
            return

    def _after_insert(self, rows: int, elapsed: float) -> None:
        """A batch is in the store (counters, the insert-latency hook)."""
        self.insert_seconds += elapsed
        self.inserts += 1
        self.inserted_rows += rows
        if self.on_insert is not None:
            self.on_insert(elapsed, rows)

    async def close(self, timeout_s: float = 30.0) -> None:
        """Stop accepting, then insert what is spooled (within `timeout_s`; the rest stays
        spooled for the next start)."""
        self._closing = True
        self._wake_committer.set()
        self._wake_inserter.set()
        if self._committer_done is not None:  # every queued row is committed (or failed) first
            try:
                await asyncio.wait_for(asyncio.shield(self._committer_done), timeout_s)
            except TimeoutError:
                log.warning("the spool's commit thread did not finish within %.0f s", timeout_s)
        done, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("stopping with %d rows still spooled; they are inserted on the next start",
                        self._unread)
        self._insert_thread.shutdown(wait=not pending, cancel_futures=True)
        self.spool.close()

    def stats(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "accepted_rows": self.accepted_rows,
            "inserted_rows": self.inserted_rows,
            "failed_attempts": self.failed_attempts,
            "spool_bytes": self._spool_bytes,
            "spool_dir": os.path.abspath(self.spool.directory),
        }
