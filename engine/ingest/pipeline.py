"""One accepted HTTP event → drop rules → enrichment → session → a row for the batched writer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from engine.enrich.bots import is_bot
from engine.enrich.geo import GeoLocator
from engine.enrich.referrer import classify
from engine.enrich.urls import parse_page_url
from engine.enrich.useragent import parse_client
from engine.errors import FieldError
from engine.ingest.identity import (
    VisitorHasher,
    format_page_visit_id,
    new_event_id,
    new_page_visit_id,
)
from engine.ingest.ratelimit import RateLimiter
from engine.ingest.rows import EventRow, screen_class
from engine.ingest.sessions import PageVisitState, Sessionizer, SessionState
from engine.ingest.validate import EventInput
from engine.ingest.writer import BatchWriter
from engine.sites import Site

NO_PAGE_VISIT = "no page visit with this id on this site"


@dataclass(frozen=True)
class Visitor:
    """What the HTTP layer knows about the sender. `ip` is used for hashing and geo only."""

    ip: str
    user_agent: str
    do_not_track: bool = False


@dataclass(frozen=True)
class IngestResult:
    stored: bool
    session_id: int | None = None
    page_visit_id: str | None = None
    dropped_because: str | None = None


class Ingestor:
    def __init__(
        self,
        writer: BatchWriter,
        sessions: Sessionizer,
        hasher: VisitorHasher,
        geo: GeoLocator,
        rate_limiter: RateLimiter,
    ):
        self.writer = writer
        self.sessions = sessions
        self.hasher = hasher
        self.geo = geo
        self.rate_limiter = rate_limiter
        self.dropped: dict[str, int] = {}

    def refuse_forged(self, event: EventInput) -> None:
        """Answer a forged page-visit id before any other work: an engagement whose id this server
        never issued (its MAC fails) can only be a 400, so the routes call this right after
        parsing, before site lookup, URL parsing, client IP, drop rules and enrichment
        (issue 10, drill d: half of the forged-id flood). Raises the same FieldError `ingest`
        would have raised later."""
        if event.type == "engagement" and not self.sessions.issued_page_visit_id(event.page_visit_id or 0):
            raise FieldError("page_visit_id", NO_PAGE_VISIT)

    def _drop(self, reason: str) -> IngestResult:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return IngestResult(stored=False, dropped_because=reason)

    async def ingest(
        self, site: Site, event: EventInput, visitor: Visitor, now: dt.datetime,
        new_session: bool = False,
    ) -> IngestResult:
        """`new_session`: start a session even if the visitor has a recent one (the browser
        tracker's first pageview in a tab: one tab = one session)."""
        if visitor.do_not_track:
            return self._drop("dnt")
        if not visitor.user_agent.strip() or is_bot(visitor.user_agent):
            return self._drop("bot")
        if not self.rate_limiter.allow(self.hasher.ip_key(visitor.ip)):
            return self._drop("rate_limit")
        try:
            page = parse_page_url(event.url)
        except ValueError as exc:
            raise FieldError("url", str(exc)) from None
        moment = event.timestamp or now
        if event.type == "engagement":
            return await self._engagement(site, event, page, moment)
        user_id = self.hasher.visitor_id(moment, site.tz, site.site_id, visitor.ip, visitor.user_agent)

        def first_event_attrs() -> tuple[str, ...]:
            return self._session_attrs(site, event, page, visitor)

        session, moment = await self.sessions.session_for(
            site.site_id, user_id, moment, event.session_id, first_event_attrs, fresh=new_session
        )
        page_visit_id = 0
        if event.type == "pageview":
            page_visit_id = new_page_visit_id()
            self.sessions.start_page_visit(session, page_visit_id, page.hostname, page.pathname)
        row = event_row(site.site_id, moment, event, session, page_visit_id, page)
        await self.writer.put(row)
        return IngestResult(
            stored=True,
            session_id=session.session_id,
            page_visit_id=format_page_visit_id(page_visit_id) if page_visit_id else None,
        )

    async def _engagement(self, site: Site, event: EventInput, page, moment: dt.datetime) -> IngestResult:
        visit = await self.sessions.page_visit(site.site_id, event.page_visit_id or 0)
        if visit is None:
            raise FieldError("page_visit_id", NO_PAGE_VISIT)
        session = visit.session
        moment = max(moment, session.start)
        row = engagement_row(site.site_id, moment, event, visit, page)
        await self.writer.put(row)
        return IngestResult(
            stored=True,
            session_id=session.session_id,
            page_visit_id=format_page_visit_id(visit.page_visit_id),
        )

    def _session_attrs(self, site: Site, event: EventInput, page, visitor: Visitor) -> tuple[str, ...]:
        return session_attrs(self.geo, site, event, page, visitor.ip, visitor.user_agent)


# --- the event row: built here and only here (live events and bulk import) ----------------------


def event_row(
    site_id: int, moment: dt.datetime, event: EventInput, session: SessionState, page_visit_id: int,
    page, event_id: int | None = None,
) -> EventRow:
    """The row of a non-engagement event. Every event of a session carries the session's visitor
    id (the first event's): a session is one visitor, also when it is continued by id from another
    IP or past midnight."""
    revenue = Decimal(str(event.revenue_amount)) if event.revenue_amount is not None else _ZERO
    return EventRow(
        site_id, moment, new_event_id() if event_id is None else event_id, event.type, event.name,
        session.user_id, session.session_id, session.start, page_visit_id, page.hostname,
        page.pathname, page.clean_url, *session.attrs,
        None, None, 0, revenue, event.revenue_currency, event.meta_keys, event.meta_values,
    )


def engagement_row(
    site_id: int, moment: dt.datetime, event: EventInput, visit: PageVisitState, page,
    event_id: int | None = None,
) -> EventRow:
    """The row of an engagement update; advances the page visit's running maxima (the row's
    `engaged_delta_ms` is what this update adds) and the session's last activity."""
    session = visit.session
    delta = 0
    if event.engaged_ms is not None and event.engaged_ms > visit.max_engaged_ms:
        delta = event.engaged_ms - visit.max_engaged_ms
        visit.max_engaged_ms = event.engaged_ms
    if event.scroll_depth is not None:
        visit.max_scroll = max(visit.max_scroll, event.scroll_depth)
    if moment > session.last_seen:
        session.last_seen = moment
    return EventRow(
        site_id, moment, new_event_id() if event_id is None else event_id, "engagement", "",
        session.user_id, session.session_id, session.start, visit.page_visit_id, page.hostname,
        visit.pathname, page.clean_url, *session.attrs,
        event.scroll_depth, event.engaged_ms, delta, _ZERO, "", [], [],
    )


_ZERO = Decimal(0)


def session_attrs(
    geo: GeoLocator, site: Site, event: EventInput, page, ip: str, user_agent: str
) -> tuple[str, ...]:
    """A session's acquisition and client attributes, from its first event (SESSION_ATTRS order)."""
    utm = {**page.utm, **event.utm} if event.utm else page.utm
    acquisition = classify(
        event.referrer,
        utm.get("utm_source", ""),
        utm.get("utm_medium", ""),
        utm.get("utm_campaign", ""),
        page.click_id_param,
        site.domain,
    )
    location = geo.lookup(ip)
    client = parse_client(user_agent)
    return (
        acquisition.referrer_url, acquisition.source, acquisition.channel,
        utm.get("utm_source", ""), utm.get("utm_medium", ""), utm.get("utm_campaign", ""),
        utm.get("utm_content", ""), utm.get("utm_term", ""), page.click_id_param,
        location.country, location.region, location.city,
        client.device, client.browser, client.browser_version, client.os, client.os_version,
        screen_class(event.screen_width),
    )


_WARM_UP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/131.0.0.0 Safari/537.36")


def warm_up_enrichment(geo: GeoLocator) -> None:
    """Build the enrichment's lazily built tables (user-agent parser, bot patterns, GeoIP reader)
    now, at start-up: not on the first event (~0.2–1 s), and before the server freezes its
    start-up heap out of the garbage collector's reach (server/app.py)."""
    is_bot(_WARM_UP_UA)
    parse_client(_WARM_UP_UA)
    geo.lookup("81.2.69.142")
    classify("https://www.google.com/", "", "", "", "", "example.com")

