"""Query admission: how many read queries run at once, who waits, and for how long.

- At most `concurrency` requests run queries at once (all sites), and at most `per_site` of them
  for one site, so one tenant's heavy dashboards can never take every slot.
- Over that, a request waits in a short FIFO queue: at most `queue` waiting in all and
  `per_site_queue` for one site. A request that finds its site's queue full is refused at once
  (`Rejected`, 429); one that finds the whole queue full is refused at once too (503). Both carry
  a Retry-After hint.
- Waiting counts against the request's single deadline (`Budget.deadline`): a request still
  queued when it passes gets `DeadlineExceeded` (503). The same deadline caps the ClickHouse
  statements it then runs (`max_execution_time` = what is left), and the statements carry the
  budget's tag (`log_comment`) so they can be killed (`kill_sql`) when the client leaves or the
  deadline passes.
- Engine threads: the running queries share `threads` engine threads (default: all cores but
  one, so ingestion keeps a core whatever the query storm). A request is given
  `threads // queries running` (at least 1) when it is admitted, as its statements'
  `max_threads` (`Budget.threads`): a lone query may use every one of them, and many share them.

Everything here runs on one event loop (no locks); `release` must be called on that loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    concurrency: int = 2
    per_site: int = 1
    queue: int = 32
    per_site_queue: int = 8
    threads: int = 1


class Rejected(Exception):
    """Over the limits: answer `status` (429 or 503) with Retry-After, at once."""

    def __init__(self, status: int, message: str, retry_after: int):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class DeadlineExceeded(Exception):
    """The request's deadline passed (in the queue or while its statements ran)."""


@dataclass
class Budget:
    """One request's deadline (time.monotonic) and the tag its ClickHouse statements carry."""

    deadline: float
    tag: str = field(default_factory=lambda: "cpq-" + uuid.uuid4().hex)
    threads: int | None = None  # engine threads for its statements (`max_threads`), set on admission

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


# The budget of the request a worker thread is serving (engine.query.run reads it for settings).
CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("clickport_budget", default=None)


def kill_sql() -> str:
    """Cancels every running statement of a budget (parameter `tag`), embedded and server mode."""
    return "KILL QUERY WHERE Settings['log_comment'] = {tag:String} ASYNC"


@dataclass(eq=False)
class _Waiter:
    site_id: int
    future: asyncio.Future


class Admission:
    def __init__(self, limits: Limits):
        self.limits = limits
        self.running = 0
        self.running_by_site: dict[int, int] = {}
        self.queued_by_site: dict[int, int] = {}
        self._waiters: deque[_Waiter] = deque()
        self.rejected = {"site_busy": 0, "server_busy": 0, "deadline_in_queue": 0}

    def _can_run(self, site_id: int) -> bool:
        return (self.running < self.limits.concurrency
                and self.running_by_site.get(site_id, 0) < self.limits.per_site)

    def _start(self, site_id: int) -> None:
        self.running += 1
        self.running_by_site[site_id] = self.running_by_site.get(site_id, 0) + 1

    async def acquire(self, site_id: int, budget: Budget) -> None:
        """Returns once the request may run; raises `Rejected` or `DeadlineExceeded`."""
        ahead = any(w.site_id == site_id for w in self._waiters)
        if not ahead and self._can_run(site_id):
            self._start(site_id)
            self._give_threads(budget)
            return
        if self.queued_by_site.get(site_id, 0) >= self.limits.per_site_queue:
            self.rejected["site_busy"] += 1
            raise Rejected(429, "too many queries for this site are running or waiting; retry shortly", 2)
        if len(self._waiters) >= self.limits.queue:
            self.rejected["server_busy"] += 1
            raise Rejected(503, "the server is busy with other queries; retry shortly", 5)
        waiter = _Waiter(site_id, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self.queued_by_site[site_id] = self.queued_by_site.get(site_id, 0) + 1
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), max(0.0, budget.remaining()))
        except TimeoutError:
            if waiter.future.done():  # admitted at the last moment: give the slot back
                self.release(site_id)
            else:
                waiter.future.cancel()
            self.rejected["deadline_in_queue"] += 1
            raise DeadlineExceeded("the deadline passed while the query waited for a slot") from None
        else:
            self._give_threads(budget)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            self.queued_by_site[site_id] -= 1
            if not self.queued_by_site[site_id]:
                del self.queued_by_site[site_id]

    def _give_threads(self, budget: Budget) -> None:
        budget.threads = max(1, self.limits.threads // max(1, self.running))

    def release(self, site_id: int) -> None:
        self.running -= 1
        left = self.running_by_site[site_id] - 1
        if left:
            self.running_by_site[site_id] = left
        else:
            del self.running_by_site[site_id]
        self._wake()

    def _wake(self) -> None:
        """Admit waiters in arrival order, skipping those whose site is at its own limit."""
        for waiter in list(self._waiters):
            if self.running >= self.limits.concurrency:
                return
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            if self.running_by_site.get(waiter.site_id, 0) < self.limits.per_site:
                self._waiters.remove(waiter)
                self._start(waiter.site_id)
                waiter.future.set_result(None)

    def stats(self) -> dict:
        return {"running": self.running, "queued": len(self._waiters), "rejected": dict(self.rejected)}
