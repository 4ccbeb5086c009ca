"""Sessionization: which session (and page visit) an event belongs to.

State lives in memory for speed; on a miss (after a restart, or a session older than the cache)
it is recovered from the sessions / page_visits aggregates, so a sender passing a `session_id`
back keeps its session across restarts. Everything here runs on the event loop, so the maps need
no locks; the store lookups are the only awaits.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from engine.ingest.identity import new_session_id
from engine.ingest.rows import SESSION_ATTRS
from engine.store import Store

INACTIVITY = dt.timedelta(minutes=30)


@dataclass
class SessionState:
    site_id: int
    session_id: int
    start: dt.datetime
    last_seen: dt.datetime
    user_id: int
    attrs: tuple[str, ...]


@dataclass
class PageVisitState:
    session: SessionState
    page_visit_id: int
    hostname: str
    pathname: str
    max_scroll: int = 0
    max_engaged_ms: int = 0


class _Lru(OrderedDict):
    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)

    def hit(self, key):
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


class Sessionizer:
    def __init__(self, store: Store, max_sessions: int = 500_000, max_page_visits: int = 1_000_000):
        self._store = store
        self._by_id: _Lru = _Lru(max_sessions)
        self._by_visitor: _Lru = _Lru(max_sessions)
        self._page_visits: _Lru = _Lru(max_page_visits)

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
            session = await self._find_by_id(site_id, session_id)
            if session is not None:
                moment = max(moment, session.start)
                self._touch(session, moment)
                return session, moment
        session = None if fresh else await self._find_by_visitor(site_id, user_id, moment)
        if session is None:
            session = SessionState(
                site_id, new_session_id(), moment, moment, user_id, first_event_attrs()
            )
        self._touch(session, moment)
        return session, moment

    def _touch(self, session: SessionState, moment: dt.datetime) -> None:
        if moment > session.last_seen:
            session.last_seen = moment
        self._by_id.put((session.site_id, session.session_id), session)
        self._by_visitor.put((session.site_id, session.user_id), session)

    def _joins(self, session: SessionState, moment: dt.datetime) -> bool:
        return session.start <= moment and moment - session.last_seen <= INACTIVITY

    async def _find_by_id(self, site_id: int, session_id: int) -> SessionState | None:
        session = self._by_id.hit((site_id, session_id))
        if session is None:
            session = await self._load_session(site_id, "session_id = {v:UInt64}", session_id)
        return session

    async def _find_by_visitor(
        self, site_id: int, user_id: int, moment: dt.datetime
    ) -> SessionState | None:
        session = self._by_visitor.hit((site_id, user_id))
        if session is None:
            session = await self._load_session(
                site_id, "user_id = {v:UInt64}", user_id, since=moment - dt.timedelta(days=1)
            )
        if session is not None and self._joins(session, moment):
            return session
        return None

    async def _load_session(
        self, site_id: int, condition: str, value: int, since: dt.datetime | None = None
    ) -> SessionState | None:
        attrs = ", ".join(f"any({name})" for name in SESSION_ATTRS)
        time_filter = " AND session_start >= {since:DateTime64(3, 'UTC')}" if since else ""
        rows = await self._store.arows(
            f"SELECT session_id, session_start, any(user_id), max(last_event), {attrs} "
            f"FROM sessions WHERE site_id = {{site:UInt32}} AND {condition}{time_filter} "
            "GROUP BY session_id, session_start ORDER BY max(last_event) DESC LIMIT 1",
            {"site": site_id, "v": value, "since": since},
        )
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
        rows = await self._store.arows(
            "SELECT any(session_id), any(pathname), max(max_scroll), max(max_engaged_ms) "
            "FROM page_visits WHERE site_id = {site:UInt32} AND page_visit_id = {pv:UInt64} "
            "GROUP BY session_start LIMIT 1",
            {"site": site_id, "pv": page_visit_id},
        )
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
