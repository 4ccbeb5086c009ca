"""Query admission (issue 10): global and per-site limits, a bounded queue, 429/503 with
Retry-After at once, one deadline including the queue wait, statements killed on deadline or
client disconnect."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

import pytest
from starlette.requests import Request

from engine.query import run as engine
from engine.query.admission import Admission, Budget, DeadlineExceeded, Limits, Rejected
from server.errors import ApiError, ClientGone
from server.routes_query import _run

SLOW_SQL = "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 1"


def _budget(seconds: float = 10) -> Budget:
    return Budget(deadline=time.monotonic() + seconds)


def test_limits_queue_and_rejections():
    async def scenario():
        adm = Admission(Limits(concurrency=2, per_site=1, queue=3, per_site_queue=2))
        await adm.acquire(1, _budget())
        await adm.acquire(2, _budget())  # global limit reached
        waiting = [asyncio.create_task(adm.acquire(1, _budget())) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Rejected) as site_full:
            await adm.acquire(1, _budget())  # site 1's queue holds 2 already
        assert site_full.value.status == 429 and site_full.value.retry_after > 0
        third = asyncio.create_task(adm.acquire(3, _budget()))
        await asyncio.sleep(0)
        with pytest.raises(Rejected) as all_full:
            await adm.acquire(4, _budget())  # the whole queue holds 3
        assert all_full.value.status == 503
        adm.release(2)  # a global slot frees: site 1 is at its limit, so site 3 runs
        await asyncio.wait_for(third, 1)
        assert not any(w.done() for w in waiting)
        adm.release(1)  # site 1's first waiter runs, in arrival order
        await asyncio.wait_for(waiting[0], 1)
        assert not waiting[1].done()
        with pytest.raises(DeadlineExceeded):
            await adm.acquire(5, _budget(0.05))  # the deadline passes in the queue
        assert adm.rejected == {"site_busy": 1, "server_busy": 1, "deadline_in_queue": 1}
        adm.release(1)
        await asyncio.wait_for(waiting[1], 1)
        for site in (1, 3):
            adm.release(site)
        assert adm.running == 0 and adm.stats()["queued"] == 0

    asyncio.run(scenario())


def test_running_queries_share_the_engine_threads(app, client):
    """Admitted requests split `threads` engine threads (default: all cores but one, so ingestion
    keeps a core): a lone query gets them all, two get half each, and every statement of the
    request carries its share as `max_threads` (was: each statement the engine's default, one
    thread per core, however many queries ran)."""
    from engine.query.admission import CURRENT
    from server.config import Config

    assert Config.query_threads == max(1, (os.cpu_count() or 2) - 1)

    async def scenario() -> list[Budget]:
        adm = Admission(Limits(concurrency=3, per_site=3, queue=2, per_site_queue=2, threads=4))
        budgets = [_budget() for _ in range(3)]
        for budget in budgets:
            await adm.acquire(1, budget)
        return budgets

    budgets = asyncio.run(scenario())
    assert [b.threads for b in budgets] == [4, 2, 1]
    token = CURRENT.set(budgets[1])
    try:
        assert engine.settings(app.state.store)["max_threads"] == 2
    finally:
        CURRENT.reset(token)
    assert "max_threads" not in engine.settings(app.state.store)  # outside a request: no cap


@pytest.fixture
def limited(app):
    """The app with tiny limits and a short deadline, restored afterwards."""
    saved = app.state.admission, app.state.config

    def apply(limits: Limits, timeout: float = 20.0) -> Admission:
        app.state.admission = Admission(limits)
        app.state.config = dataclasses.replace(saved[1], query_timeout_s=timeout)
        return app.state.admission

    yield apply
    app.state.admission, app.state.config = saved


def test_over_the_limit_answers_429_at_once(client, limited, new_site):
    site = new_site()
    adm = limited(Limits(concurrency=1, per_site=1, queue=1, per_site_queue=0))
    client.portal.call(adm.acquire, site.site_id, _budget())
    started = time.perf_counter()
    r = client.post("/api/query", json={"metrics": ["visitors"]}, headers={"x-api-key": site.read_key})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert time.perf_counter() - started < 2.0
    other = new_site()  # another site: the queue has room, but the deadline passes in it
    adm = limited(Limits(concurrency=1, per_site=1, queue=0, per_site_queue=4))
    client.portal.call(adm.acquire, site.site_id, _budget())
    r = client.get("/api/realtime", headers={"x-api-key": other.read_key})
    assert r.status_code == 503 and "retry-after" in r.headers


def test_queue_wait_counts_against_the_deadline(client, limited, new_site):
    site = new_site()
    adm = limited(Limits(concurrency=1, per_site=1, queue=4, per_site_queue=4), timeout=0.5)
    client.portal.call(adm.acquire, 0, _budget())
    started = time.perf_counter()
    r = client.get("/api/pages", headers={"x-api-key": site.read_key})
    assert r.status_code == 503 and "deadline" in r.json()["message"]
    assert time.perf_counter() - started < 3.0


def _slow(store) -> list:
    return store.rows(SLOW_SQL, settings=engine.settings(store))


def _request(app, disconnect_after: float | None) -> Request:
    async def receive():
        if disconnect_after is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(disconnect_after)
        return {"type": "http.disconnect"}

    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "app": app}, receive)


@pytest.mark.parametrize("case", ["deadline", "disconnect"])
def test_statements_are_killed_on_deadline_or_disconnect(app, client, limited, case):
    timeout = 1.0 if case == "deadline" else 30.0
    adm = limited(Limits(concurrency=2, per_site=2, queue=2, per_site_queue=2), timeout=timeout)
    request = _request(app, None if case == "deadline" else 1.0)
    started = time.perf_counter()
    expected = ApiError if case == "deadline" else ClientGone
    with pytest.raises(expected):
        client.portal.call(_run, request, 0, _slow, app.state.store)
    assert time.perf_counter() - started < 4.0
    # The statement is gone from the engine and the slot is free well before its own time cap.
    deadline = time.monotonic() + 8
    while adm.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert adm.running == 0
    assert time.perf_counter() - started < 10.0
