"""Sessionization: which session (and page visit) an event belongs to.

State lives in memory for speed; on a miss (after a restart, or a session older than the cache)
it is recovered from the sessions / page_visits aggregates, so a sender passing a `session_id`
back keeps its session across restarts.

A restart never splits or merges a session (SPEC §2): at start the events still in the spool
(acknowledged, not yet in ClickHouse) are absorbed into memory (`absorb`), and a lookup asks the
store for the session the event would join (the visitor's latest session starting at or before
the event and active within 30 minutes of it), not merely the visitor's newest session: offline
senders upload newest first, so a visitor may already have a later session. Memory keeps a few
sessions per visitor for the same reason. Everything here runs on the event loop, so the maps need
no locks; the store lookups are the only awaits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from engine.gcfree import GcFree, untrack
from engine.ingest.identity import new_session_id, page_visit_id_is_ours, session_id_is_ours
from engine.ingest.rows import SESSION_ATTRS
from engine.store import Store, StoreError

log = logging.getLogger("clickport.sessions")

INACTIVITY = dt.timedelta(minutes=30)
MISSING_TTL_S = 60.0  # how long an id the store did not have is answered from memory
SESSIONS_PER_VISITOR = 4  # kept in memory per visitor (backfills interleave with live sessions)


@dataclass(slots=True)
class SessionState(GcFree):
    site_id: int
    session_id: int
    start: dt.datetime
    last_seen: dt.datetime
    user_id: int
    attrs: tuple[str, ...]


@dataclass(slots=True)
class PageVisitState(GcFree):
    session: SessionState
    page_visit_id: int
    hostname: str
    pathname: str
    max_scroll: int = 0
    max_engaged_ms: int = 0


class _Lru(OrderedDict):
    def __init__(self, limit: int, on_evict: Callable[[object], None] | None = None):
        super().__init__()
        self.limit = limit
        self.on_evict = on_evict

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            _, evicted = self.popitem(last=False)
            if self.on_evict is not None:
                self.on_evict(evicted)

    def hit(self, key):
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


class Sessionizer:
    def __init__(self, store: Store, max_sessions: int = 500_000, max_page_visits: int = 1_000_000):
        self._store = store
        self._by_id: _Lru = _Lru(max_sessions)
        self._by_visitor: _Lru = _Lru(max_sessions, on_evict=self._note_eviction)
        self._page_visits: _Lru = _Lru(max_page_visits)
        # Once warmed up, the visitor map holds every session active since `_complete_since`
        # except evicted ones (all older than `_evicted_until`): a visitor missing from it has
        # no session to join, and the 30-minute rule needs no store lookup (the hot path for
        # new visitors). Until then, and for backfilled events, misses are looked up.
        self._complete_since: dt.datetime | None = None
        self._evicted_until = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.store_lookups = 0
        # Ids sent by clients that the store did not have (negative cache, bounded).
        self._missing: _Lru = _Lru(100_000)
        self.forged_ids = 0
        # Lookups run on their own threads (never the default executor that queries can fill).
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="clickport-sessions")

    async def _rows(self, sql: str, parameters: dict) -> list[tuple]:
        call = functools.partial(self._store.rows, sql, parameters)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    def _note_eviction(self, sessions: object) -> None:
        assert isinstance(sessions, list)
        for session in sessions:
            self._evicted_until = max(self._evicted_until, session.last_seen)

    def _remember_for_visitor(self, session: SessionState) -> None:
        key = (session.site_id, session.user_id)
        sessions = self._by_visitor.get(key)
        if sessions is None:
            sessions = untrack([session])  # a list of cycle-free states: engine.gcfree
        elif not any(s is session for s in sessions):
            sessions = untrack([s for s in sessions if s.session_id != session.session_id])
            sessions.append(session)
            if len(sessions) > SESSIONS_PER_VISITOR:
                sessions.sort(key=lambda s: s.last_seen)
                dropped = sessions.pop(0)
                self._evicted_until = max(self._evicted_until, dropped.last_seen)
        self._by_visitor.put(key, sessions)

    def absorb(self, rows) -> int:
        """Take in accepted events that may not be in the store yet (the spool's unread rows, at
        start, before any new event): their sessions and page visits, in spool order."""
        count = 0
        for row in rows:
            count += 1
            key = (row.site_id, row.session_id)
            session = self._by_id.get(key)
            if session is None:
                attrs = tuple(row[12:30])
                session = SessionState(row.site_id, row.session_id, row.session_start, row.timestamp,
                                       row.user_id, attrs)
            self._touch(session, row.timestamp)
            if row.page_visit_id:
                visit = self._page_visits.get((row.site_id, row.page_visit_id))
                if visit is None:
                    visit = self.start_page_visit(session, row.page_visit_id, row.hostname, row.pathname)
                if row.scroll_depth is not None:
                    visit.max_scroll = max(visit.max_scroll, row.scroll_depth)
                if row.engaged_ms is not None:
                    visit.max_engaged_ms = max(visit.max_engaged_ms, row.engaged_ms)
        return count

    async def warm_up(self, now: dt.datetime) -> int:
        """Load every session active in the last 30 minutes, so that from `now` on the memory is
        complete for the 30-minute rule. Call it once the spool replay has reached the store."""
        attrs = ", ".join(f"any({name})" for name in SESSION_ATTRS)
        since = now - INACTIVITY
        rows = await self._rows(
            f"SELECT site_id, session_id, session_start, any(user_id), max(last_event), {attrs} "
            "FROM sessions WHERE session_start >= {start:DateTime64(3, 'UTC')} "
            "GROUP BY site_id, session_id, session_start "
            "HAVING max(last_event) >= {since:DateTime64(3, 'UTC')} ORDER BY max(last_event)",
            {"start": since - dt.timedelta(days=2), "since": since},
        )
        for site_id, sid, start, uid, last, *attr_values in rows:
            cached = self._by_id.get((site_id, sid))
            if cached is not None:  # this process already has it (maybe with newer state)
                cached.last_seen = max(cached.last_seen, last)
                continue
            session = SessionState(site_id, sid, start, last, uid, tuple(attr_values))
            self._by_id.put((site_id, sid), session)
            self._remember_for_visitor(session)
        self._complete_since = now
        return len(rows)

    def _memory_is_complete_for(self, moment: dt.datetime) -> bool:
        return (
            self._complete_since is not None
            and moment >= self._complete_since
            and moment - INACTIVITY > self._evicted_until
        )

    async def session_for(
        self,
        site_id: int,
        user_id: int,
        moment: dt.datetime,
        session_id: int | None,
        first_event_attrs: Callable[[], tuple[str, ...]],
        fresh: bool = False,
    ) -> tuple[SessionState, dt.datetime]:
        """The session this event joins (or a new one), and the event's effective time.

        A passed-back session_id continues that session with no inactivity timeout; an event
        dated before its session's start is moved to the start (clock skew of the sender).
        Without one, the visitor's session continues if its last event is at most 30 minutes old,
        unless `fresh` asks for a new session.
        """
        if session_id is not None:
            session = self._by_id.hit((site_id, session_id))
            if session is None and self._worth_a_lookup(b"s", site_id, session_id):
                session = await self._find_by_id(site_id, session_id)
                if session is None:
                    self._missing.put((b"s", site_id, session_id), time.monotonic())
            if session is not None:
                moment = max(moment, session.start)
                self._touch(session, moment)
                return session, moment
        session = None if fresh else await self._find_by_visitor(site_id, user_id, moment)
        if session is None:
            session = SessionState(site_id, new_session_id(), moment, moment, user_id, first_event_attrs())
        self._touch(session, moment)
        return session, moment

    def _touch(self, session: SessionState, moment: dt.datetime) -> None:
        if moment > session.last_seen:
            session.last_seen = moment
        self._by_id.put((session.site_id, session.session_id), session)
        self._remember_for_visitor(session)

    def _joins(self, session: SessionState, moment: dt.datetime) -> bool:
        return session.start <= moment and moment - session.last_seen <= INACTIVITY

    def issued_page_visit_id(self, value: int) -> bool:
        """Whether this server issued the page-visit id (its MAC); a forged one is counted."""
        if page_visit_id_is_ours(value):
            return True
        self.forged_ids += 1
        return False

    def _worth_a_lookup(self, kind: bytes, site_id: int, value: int) -> bool:
        """A client-sent id not in memory: look it up only if this server issued it (MAC) and
        the store did not just say it has no such id."""
        if kind == b"s":
            if not session_id_is_ours(value):
                self.forged_ids += 1
                return False
        elif not self.issued_page_visit_id(value):
            return False
        missed_at = self._missing.get((kind, site_id, value))
        return missed_at is None or time.monotonic() - missed_at > MISSING_TTL_S

    async def _find_by_id(self, site_id: int, session_id: int) -> SessionState | None:
        session = self._by_id.hit((site_id, session_id))
        if session is None:
            session = await self._load_session(site_id, "session_id = {v:UInt64}", session_id)
        return session

    async def _find_by_visitor(self, site_id: int, user_id: int, moment: dt.datetime) -> SessionState | None:
        """The visitor's session this event joins: the latest-starting one that started at or
        before it and was active within 30 minutes of it."""
        joining = [s for s in (self._by_visitor.hit((site_id, user_id)) or []) if self._joins(s, moment)]
        if joining:
            return max(joining, key=lambda s: s.start)
        if self._memory_is_complete_for(moment):
            return None
        session = await self._load_session(site_id, "user_id = {v:UInt64}", user_id, at=moment)
        if session is not None and self._joins(session, moment):
            return session
        return None

    async def _load_session(
        self, site_id: int, condition: str, value: int, at: dt.datetime | None = None
    ) -> SessionState | None:
        """By id (`at` None), or the visitor's session an event at `at` would join."""
        attrs = ", ".join(f"any({name})" for name in SESSION_ATTRS)
        time_filter, having, order = "", "", "max(last_event) DESC"
        if at is not None:
            time_filter = (" AND session_start <= {at:DateTime64(3, 'UTC')}"
                           " AND session_start >= {since:DateTime64(3, 'UTC')}")
            having = " HAVING max(last_event) >= {active:DateTime64(3, 'UTC')}"
            order = "session_start DESC"
        self.store_lookups += 1
        try:
            rows = await self._rows(
                f"SELECT session_id, session_start, any(user_id), max(last_event), {attrs} "
                f"FROM sessions WHERE site_id = {{site:UInt32}} AND {condition}{time_filter} "
                f"GROUP BY session_id, session_start{having} ORDER BY {order} LIMIT 1",
                {"site": site_id, "v": value, "at": at,
                 "since": at - dt.timedelta(days=1) if at else None,
                 "active": at - INACTIVITY if at else None},
            )
        except StoreError as exc:
            # The store is down: accept the event into a new session rather than refuse it
            # (the spool holds it until the store is back). A rare split beats a lost event.
            log.warning("session lookup failed (%s); starting a new session", exc)
            return None
        if not rows:
            return None
        sid, start, uid, last, *attr_values = rows[0]
        # A concurrent event may have cached it while we awaited: keep one object per session.
        cached = self._by_id.hit((site_id, sid))
        if cached is not None:
            return cached
        session = SessionState(site_id, sid, start, last, uid, tuple(attr_values))
        self._by_id.put((site_id, sid), session)
        return session

    # --- page visits ---------------------------------------------------------------------

    def start_page_visit(
        self, session: SessionState, page_visit_id: int, hostname: str, pathname: str
    ) -> PageVisitState:
        visit = PageVisitState(session, page_visit_id, hostname, pathname)
        self._page_visits.put((session.site_id, page_visit_id), visit)
        return visit

    async def page_visit(self, site_id: int, page_visit_id: int) -> PageVisitState | None:
        visit = self._page_visits.hit((site_id, page_visit_id))
        if visit is not None:
            return visit
        if not self._worth_a_lookup(b"p", site_id, page_visit_id):
            return None
        visit = await self._load_page_visit(site_id, page_visit_id)
        if visit is None:
            self._missing.put((b"p", site_id, page_visit_id), time.monotonic())
        return visit

    async def _load_page_visit(self, site_id: int, page_visit_id: int) -> PageVisitState | None:
        try:
            rows = await self._rows(
                "SELECT any(session_id), any(pathname), max(max_scroll), max(max_engaged_ms) "
                "FROM page_visits WHERE site_id = {site:UInt32} AND page_visit_id = {pv:UInt64} "
                "GROUP BY session_start LIMIT 1",
                {"site": site_id, "pv": page_visit_id},
            )
        except StoreError as exc:
            log.warning("page visit lookup failed (%s)", exc)
            return None
        if not rows:
            return None
        session_id, pathname, max_scroll, max_engaged = rows[0]
        session = await self._find_by_id(site_id, session_id)
        if session is None:
            return None
        self._by_id.put((site_id, session_id), session)
        cached = self._page_visits.hit((site_id, page_visit_id))
        if cached is not None:
            return cached
        visit = PageVisitState(session, page_visit_id, "", pathname, max_scroll, max_engaged)
        self._page_visits.put((site_id, page_visit_id), visit)
        return visit
