"""Step 3: decide which stored aggregate answers each metric, and which joins that needs.

Three sources over raw data, each read only within the query's site and base time windows
(which source computes which metric: metrics.source):

- ``events``      raw events (time = event timestamp): visitors and pageviews; with the ``page``
                  dimension also the page's own sessions and clickers (clicks made on that page).
- ``sessions``    the sessions AggregatingMergeTree, merged per session (time = session start):
                  sessions, views_per_visit, bounce_rate, avg_duration, clickers; and visitors /
                  pageviews when rows are entry or exit pages (those are properties of sessions).
- ``page_visits`` the page-visit aggregate (time = its session's start): avg_scroll; and
                  avg_duration per page visit when rows are pages.

Session-attribute filters (source, country, …) are plain predicates on every source (the
attributes are copied onto every event and session row). Entry/exit-page filters select sessions
(HAVING on the merged session); events and page visits reach them through the sessions source.
Page filters apply to the page of a pageview / page visit; the sessions source keeps the sessions
that viewed a matching page, and bounce_rate only those that entered on one (SPEC §3).

Unfiltered visitors/pageviews (totals, or one time dimension) read the ``events_hourly`` rollup
for the whole UTC hours of the range and raw events for the partial hours at its edges.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from engine.query import metrics as metric_defs
from engine.query.fields import SESSION_DIMENSIONS, TIME_DIMENSIONS
from engine.query.metrics import ENTRY_EXIT, EVENTS, PAGE_VISITS, SESSIONS
from engine.query.parse import Filter, Query
from engine.query.periods import DateRange


@dataclass(frozen=True)
class Plan:
    # source → the metrics it computes, in request order; sources in a fixed order.
    sources: dict[str, tuple[str, ...]]
    page_filters: tuple[Filter, ...]
    session_filters: tuple[Filter, ...]   # session attributes
    entry_exit_filters: tuple[Filter, ...]
    page_dimension: bool
    # events must be joined to merged sessions (rows keyed by entry/exit page as well as page)
    events_join_sessions: bool
    # page visits must be joined to merged sessions (session filters or session dimensions)
    page_visits_join_sessions: bool


def plan_query(query: Query) -> Plan:
    sources: dict[str, list[str]] = {}
    page_filtered = any(f.dimension == "page" for f in query.filters)
    for metric in query.metrics:
        sources.setdefault(metric_defs.source(metric, query.dimensions, page_filtered), []).append(metric)
    ordered = {name: tuple(sources[name]) for name in (EVENTS, SESSIONS, PAGE_VISITS)
               if name in sources}
    page_filters = tuple(f for f in query.filters if f.dimension == "page")
    entry_exit = tuple(f for f in query.filters if f.dimension in ENTRY_EXIT)
    session_filters = tuple(f for f in query.filters if f.dimension in SESSION_DIMENSIONS)
    dims = query.dimensions
    page_dim = "page" in dims
    events_join = EVENTS in ordered and any(d in ENTRY_EXIT for d in dims)
    pv_join = PAGE_VISITS in ordered and (
        bool(entry_exit) or bool(session_filters)
        or any(d not in TIME_DIMENSIONS and d != "page" for d in dims)
    )
    return Plan(
        sources=ordered,
        page_filters=page_filters,
        session_filters=session_filters,
        entry_exit_filters=entry_exit,
        page_dimension=page_dim,
        events_join_sessions=events_join,
        page_visits_join_sessions=pv_join,
    )


# --- the hourly rollup -----------------------------------------------------------------------------

# Read the events_hourly rollup where it answers exactly (see rollup_window). The benchmark can
# switch it off to compare.
ROLLUP_ENABLED = True
HOUR = dt.timedelta(hours=1)


def _floor_hour(instant: dt.datetime) -> dt.datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


def _whole_hour_offsets(tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether every local hour/day boundary in [start, end] falls on a UTC hour (the zone's
    offset is a whole number of hours throughout; checked daily, DST periods last longer)."""
    t = start
    while True:
        offset = t.astimezone(tz).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        if t >= end:
            return True
        t = min(t + dt.timedelta(days=1), end)


def rollup_window(query: Query, plan: Plan, rng: DateRange) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole UTC hours [from, to) of the range that the events source may read from the
    rollup (the rest from raw events), or None. Only for visitors/pageviews without filters and
    without dimensions other than one time dimension."""
    if not ROLLUP_ENABLED or EVENTS not in plan.sources or query.filters:
        return None
    if any(d not in TIME_DIMENSIONS for d in query.dimensions):
        return None
    if any(m not in ("visitors", "pageviews") for m in plan.sources[EVENTS]):
        return None
    first = _floor_hour(rng.start)
    if first < rng.start:
        first += HOUR
    last = _floor_hour(rng.end)
    if last - first < HOUR:
        return None
    if query.dimensions and not _whole_hour_offsets(rng.tz, rng.start, rng.end):
        return None
    return first, last
