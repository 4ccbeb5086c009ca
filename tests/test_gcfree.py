"""The ingest caches stay out of the cyclic collector's walks (engine.gcfree, issue 12): a
busy server keeps hundreds of thousands of sessions, page visits and GeoIP answers, and every
collection that walked them stalled every request in flight."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc

from engine.enrich.geo import Geo
from engine.gcfree import untrack
from engine.ingest.sessions import PageVisitState, Sessionizer, SessionState


def test_cached_state_is_not_tracked_by_the_collector():
    now = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    session = SessionState(1, 2, now, now, 3, ("a", "b"))
    assert not gc.is_tracked(session)
    assert not gc.is_tracked(PageVisitState(session, 4, "h", "/p"))
    assert not gc.is_tracked(Geo("DE", "Berlin", "Berlin"))
    assert not gc.is_tracked(untrack([session]))
    assert gc.is_tracked([session])  # untracking is explicit: an ordinary list stays tracked


def test_new_visitors_add_no_tracked_objects():
    """2,000 new visitors (their sessions, visitor lists and page visits cached): the number of
    objects the collector tracks stays flat (was 3 per visitor: session, page visit, list)."""
    sessions = Sessionizer(store=None)  # a warmed-up memory needs no store for new visitors
    now = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    sessions._complete_since = now - dt.timedelta(hours=1)

    async def visit(i: int) -> None:
        session, moment = await sessions.session_for(1, 10_000 + i, now, None, lambda: ("x",))
        sessions.start_page_visit(session, 50_000 + i, "example.com", f"/p{i % 10}")

    async def visits(start: int, count: int) -> None:
        for i in range(start, start + count):
            await visit(i)

    asyncio.run(visits(0, 200))  # warm-up: first-call allocations
    gc.collect()
    before = len(gc.get_objects())
    asyncio.run(visits(200, 2_000))
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert len(sessions._by_id) == 2_200 and len(sessions._page_visits) == 2_200
    assert grown < 200, f"{grown} more tracked objects after 2,000 new visitors"
