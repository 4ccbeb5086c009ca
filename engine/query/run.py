"""The pipeline: parse → periods → plan → compile → run → shape.

Entry points (also used by the benchmark in loadtest/):

- ``run_query(store, site, body, now=None)``       async, returns the response dict
- ``run_query_sync(store, site, body, now=None)``  the same, blocking
- ``compile_query(site, body, now=None, first_event=None)`` → ``Compiled`` (``sql, params =``
  works too): the exact SQL and parameters the engine would run, for inspection.

``now`` is an aware datetime (default: the current time): the frozen clock for tests.
Errors: ``QueryError`` (a 400: field + valid values), ``engine.store.QueryLimitError`` (the
per-query time or memory cap was hit), ``engine.store.StoreError``.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from engine.priority import BACKGROUND_SETTINGS, lower_thread_priority, run_lowered
from engine.query.admission import CURRENT
from engine.query.compile import Compiled, compile_planned
from engine.query.errors import QueryError
from engine.query.parse import Filter, Query, parse_query
from engine.query.periods import DateRange, local_date, resolve_range
from engine.query.rollup import Coverage, SealState, full_days, plan_coverage, rollup_dimension
from engine.query.shape import Rows, comparison_block, totals
from engine.sites import Site
from engine.store import QueryLimitError, Store

UTC = dt.UTC
# Settings for every read query, on top of the store's time and memory caps.
# (Reads run below ingestion in CPU priority: engine.priority.)
READ_SETTINGS = {"join_use_nulls": 0, "readonly": 2, **BACKGROUND_SETTINGS}


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def settings(store: Store) -> dict[str, Any]:
    """Per-statement settings. Inside an admitted request (engine.query.admission) the time cap
    is what is left of the request's deadline, and the statement carries the request's tag so
    it can be killed when the client leaves or the deadline passes; it uses at most the engine
    threads admission gave the request."""
    values = {**store.query_settings(), **READ_SETTINGS}
    budget = CURRENT.get()
    if budget is not None:
        remaining = budget.remaining()
        if remaining <= 0.05:
            raise QueryLimitError("the request's deadline passed")
        values["max_execution_time"] = min(float(values["max_execution_time"]), round(remaining, 3))
        values["log_comment"] = budget.tag
        if budget.threads is not None:  # the engine threads admission gave it
            values["max_threads"] = budget.threads
    return values


def first_event_time(store: Store, site_id: int) -> dt.datetime | None:
    """The site's earliest session start. The rollup's touch table (one row per site-hour with
    data) names the hour it lies in, so only that hour of sessions is read, not the history."""
    from engine.rollups import FIRST_SQL

    rows = store.rows(FIRST_SQL, {"site": site_id}, settings=settings(store))
    return rows[0][3] if rows else None


def _site_id(site: Site | int) -> int:
    return site if isinstance(site, int) else site.site_id


def _as_query(body: dict | Query) -> Query:
    return body if isinstance(body, Query) else parse_query(body)


def resolve(query: Query, now: dt.datetime | None, first_event: dt.datetime | None) -> DateRange:
    return resolve_range(query.period, query.date_range, query.timezone, now or utcnow(), first_event)


def compile_query(site: Site | int, body: dict | Query, now: dt.datetime | None = None,
                  first_event: dt.datetime | None = None) -> Compiled:
    """The SQL and parameters for a query body (no store access; for period "all" pass the
    site's first event time, else the range starts today)."""
    query = _as_query(body)
    return compile_planned(query, _site_id(site), resolve(query, now, first_event))


def coverage(store: Store, site: Site | int, query: Query, rng: DateRange,
             state: SealState | None = None) -> Coverage | None:
    """Which days and months of the range the pre-aggregated rollup answers (rollup.py), from
    the site's seal state (read here unless given); None when the query cannot use it (or for a
    bare site id)."""
    if not isinstance(site, Site):
        return None
    dim = rollup_dimension(query, site.timezone)
    if dim is None:
        return None
    days = full_days(rng, site.tz)
    if not days:
        return None
    if state is None:
        from engine.rollups import read_state

        state = _cached(store, (site.site_id, site.timezone, days[0], days[-1]), lambda: read_state(
            store, site.site_id, site.timezone, days[0], days[-1], settings(store)))
    return plan_coverage(query, rng, dim, site.timezone, state, days)


def prop_coverage(store: Store, site: Site | int, query: Query, rng: DateRange) -> Any:
    """For a property breakdown with session metrics: the days the pre-aggregated property day
    rows answer (props_rollup.py), from the same seal state as the rollup's; else None."""
    from engine.query import props_rollup

    if not isinstance(site, Site) or props_rollup.applies(query) is None:
        return None
    days = full_days(rng, site.tz)
    if not days:
        return None
    from engine.rollups import _as_date, _aware, read_state

    state = _cached(store, (site.site_id, site.timezone, days[0], days[-1]), lambda: read_state(
        store, site.site_id, site.timezone, days[0], days[-1], settings(store)))

    def markers() -> dict:
        found: dict = {}
        for bucket, seal_version, version, first in store.rows(props_rollup.MARKERS_SQL, {
                "site": site.site_id, "d0": days[0], "d1": days[-1]}, settings=settings(store)):
            found.setdefault(_as_date(bucket), {})[int(seal_version)] = (int(version), _aware(first))
        return found

    marks = _cached(store, (site.site_id, "prop-markers", days[0], days[-1]), markers)
    return props_rollup.plan(rng, site.timezone, state, marks)


def _cached(store: Store, key: tuple, load):
    """Embedded mode: this process is the store's only writer, so what is read of a site's seal
    state stays current until the store's next write (a dashboard's burst of panel queries shares
    one read). Servers and clusters have other writers: always read."""
    if not store.config.embedded:
        return load()
    key = (id(store),) + key
    cached = _STATE_CACHE.get(key)
    if cached is not None and cached[0] == store.writes:
        return cached[1]
    writes = store.writes
    value = load()
    if len(_STATE_CACHE) > 1024:
        _STATE_CACHE.clear()
    _STATE_CACHE[key] = (writes, value)
    return value


_STATE_CACHE: dict[tuple, tuple[int, object]] = {}


def _all_time(store: Store, site: Site | int, query: Query,
              now: dt.datetime) -> tuple[dt.datetime | None, SealState | None]:
    """For period "all": the site's first event (the range's start) and, when the rollup can
    answer the query, the seal state of all its days — read together in one statement."""
    if not isinstance(site, Site) or rollup_dimension(query, site.timezone) is None:
        return first_event_time(store, _site_id(site)), None
    from engine.rollups import read_first_and_state

    today = local_date(now, site.tz)
    return _cached(store, (site.site_id, site.timezone, "all", today), lambda: read_first_and_state(
        store, site.site_id, site.timezone, today, settings(store)))


def _compile(store: Store, site: Site | int, query: Query, rng: DateRange,
             state: SealState | None = None) -> Compiled:
    if query.uses_props:
        return compile_planned(query, _site_id(site), rng, prop_coverage(store, site, query, rng))
    return compile_planned(query, _site_id(site), rng, coverage(store, site, query, rng, state))


def _check_now(now: dt.datetime | None) -> dt.datetime:
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _fetch(store: Store, compiled: Compiled) -> list[tuple]:
    if compiled.split is not None:  # its statements at once: the first one on this thread
        split, params = compiled.split, compiled.params
        others = [_PARTS.submit(contextvars.copy_context().run, run_lowered, _rows, store, sql, params,
                                split.settings) for sql in split.parts[1:]]
        first = _rows(store, split.parts[0], params, split.settings)
        return split.combine([first, *(f.result() for f in others)])
    return _rows(store, compiled.sql, compiled.params)


def _rows(store: Store, sql: str, params: dict[str, Any], extra: dict | None = None) -> list[tuple]:
    return store.rows(sql, params, settings={**settings(store), **(extra or {})})


# The previous period of a comparison runs next to the current one when it does not depend on
# the current rows (totals and time series).
_COMPARISONS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="clickport-compare",
                                  initializer=lower_thread_priority)
# The statements of a split query (compile.Split) besides the first (a pool of its own: a
# comparison's split must never wait for the pool it runs in).
_PARTS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="clickport-part",
                            initializer=lower_thread_priority)


def run_query_sync(store: Store, site: Site | int, body: dict | Query,
                   now: dt.datetime | None = None) -> dict[str, Any]:
    query = _as_query(body)
    now = _check_now(now)
    first, state = _all_time(store, site, query, now) if query.period == "all" else (None, None)
    rng = resolve(query, now, first)
    compiled = _compile(store, site, query, rng, state)
    prev_range = rng.previous() if query.include_comparison else None
    prev_future: Future | None = None
    if prev_range is not None and not compiled.paged_in_sql:
        prev_future = _COMPARISONS.submit(contextvars.copy_context().run, run_lowered, _fetch, store,
                                          _compile(store, site, query, prev_range))
    raw = _fetch(store, compiled)

    if not query.dimensions:
        current = totals(query, raw)
        response: dict[str, Any] = {"results": current}
        if prev_future is not None and prev_range is not None:
            previous = totals(query, prev_future.result())
            response["comparison"] = comparison_block(query, current, previous, prev_range)
        return response

    rows = Rows(query, rng, raw, fill=not compiled.paged_in_sql)
    if not compiled.paged_in_sql:
        rows.order_and_page()
    response = {"results": rows.rows}
    if prev_range is not None:
        if prev_future is not None:
            prev_raw = prev_future.result()
        else:
            prev_query = _comparison_query(query, rows)
            prev_raw = ([] if prev_query is None
                        else _fetch(store, _compile(store, site, prev_query, prev_range)))
        previous = Rows(query, prev_range, prev_raw, fill=not compiled.paged_in_sql)
        response["comparison"] = comparison_block(query, rows, previous, prev_range)
    return response


def _comparison_query(query: Query, rows: Rows) -> Query | None:
    """The query for the previous period: for rows keyed by non-time dimensions, only the
    groups on the current page (an `is` filter per dimension), unpaged."""
    extra = []
    for d in query.dimensions:
        if d == query.time_dimension:
            continue
        values = tuple(dict.fromkeys(row[d] for row in rows.rows))
        if not values:
            return None
        extra.append(Filter(d, "is", values))
    if not extra:
        return query
    return dataclasses.replace(query, filters=query.filters + tuple(extra), limit=10**9, offset=0,
                               order_by=None)


async def run_query(store: Store, site: Site | int, body: dict | Query,
                    now: dt.datetime | None = None) -> dict[str, Any]:
    return await asyncio.to_thread(run_query_sync, store, site, body, now)


__all__ = ["run_query", "run_query_sync", "compile_query", "QueryError"]
