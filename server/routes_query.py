"""Read endpoints: POST /api/query, /api/funnel, /api/realtime, /api/goals and the breakdown GETs.

POST /api/query, /api/funnel, /api/goals and the breakdown GETs answer CSV for
`Accept: text/csv` (server/csv_export.py).

Every route authenticates a key with the read permission and only ever passes that key's site
id (bound as a query parameter) to the engine. Tests may freeze the clock by setting
``app.state.query_clock`` to a callable returning an aware datetime.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.priority import run_lowered
from engine.query import run as engine
from engine.query.admission import CURRENT, Budget, DeadlineExceeded, Rejected, kill_sql
from engine.query.breakdowns import BREAKDOWNS, breakdown_body, check_params, date_range_params
from engine.query.funnel import funnel_sync
from engine.query.goals import goals_sync
from engine.query.parse import Query, check_timezone, parse_query
from engine.query.periods import resolve_range
from engine.query.props import prop_keys_sync
from engine.query.realtime import realtime_sync
from engine.store import QueryLimitError
from server.csv_export import funnel_csv, goals_csv, query_csv, wants_csv
from server.errors import ApiError, ClientGone
from server.jsonresp import json_response
from server.requests import authenticate, read_json

log = logging.getLogger("clickport.query")


def _now(request: Request) -> dt.datetime:
    clock: Callable[[], dt.datetime] | None = getattr(request.app.state, "query_clock", None)
    return clock() if clock is not None else dt.datetime.now(dt.UTC)


async def _run(request: Request, site_id: int, fn, *args) -> Any:
    """Run `fn(*args)` (which queries the store) under admission control and one end-to-end
    deadline (queue wait included): over the limits 429/503 with Retry-After at once; past the
    deadline 503; when the deadline passes or the client disconnects, the request's ClickHouse
    statements are killed. A QueryError (the engine's FieldError) becomes its 400 in server.errors."""
    state = request.app.state
    timeout = state.config.query_timeout_s
    budget = Budget(deadline=time.monotonic() + timeout)
    admission = state.admission
    try:
        await admission.acquire(site_id, budget)
    except Rejected as exc:
        raise ApiError(exc.status, exc.message, headers={"Retry-After": str(exc.retry_after)}) from None
    except DeadlineExceeded:
        raise _deadline_error(timeout) from None
    context = contextvars.copy_context()
    context.run(CURRENT.set, budget)
    loop = asyncio.get_running_loop()
    # Below ingestion in CPU priority, re-lowered for each request (engine.priority).
    work = loop.run_in_executor(state.query_threads, functools.partial(context.run, run_lowered, fn, *args))
    # The slot is held until the worker thread is really done (a killed statement ends quickly).
    work.add_done_callback(lambda done: (admission.release(site_id),
                                         done.cancelled() or done.exception()))
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        finished, _ = await asyncio.wait({work, gone}, timeout=max(0.0, budget.remaining()),
                                         return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if work in finished:
        try:
            return work.result()
        except QueryLimitError as exc:
            log.warning("query hit a limit: %s", exc)
            raise ApiError(
                503,
                "the query exceeded its time or memory limit; try a shorter date range or fewer "
                "dimensions",
                headers={"Retry-After": "10"},
            ) from None
    await _kill(state, budget)
    if gone in finished:
        raise ClientGone()
    raise _deadline_error(timeout)


def _deadline_error(timeout: float) -> ApiError:
    return ApiError(503, f"the query did not finish within its {timeout:g} s deadline (time spent "
                         "waiting for a slot included); try a shorter date range or retry later",
                    headers={"Retry-After": "10"})


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body, if any, has been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _kill(state, budget: Budget) -> None:
    try:
        await asyncio.wait_for(state.ingest_store.acommand(kill_sql(), {"tag": budget.tag}), 5)
    except Exception as exc:  # noqa: BLE001 - the statement's own time cap still ends it
        log.warning("could not cancel a query: %s", exc)


def _columns(query: Query) -> list[str]:
    return list(query.dimensions) + list(query.metrics)


async def post_query(request: Request) -> Response:
    _, site = authenticate(request, "read")
    state = request.app.state
    body = await read_json(request, state.config.max_body_bytes)
    as_csv = wants_csv(request)
    if as_csv:
        body = _without_comparison(body)
    result = await _run(request, site.site_id, engine.run_query_sync, state.store, site.site_id, body,
                        _now(request))
    if as_csv:
        return query_csv(_columns(body), result, "query.csv")
    return json_response(result)


def _without_comparison(body: Any) -> Query:
    """The parsed query for a CSV answer: CSV has no comparison block, so none is computed."""
    return dataclasses.replace(parse_query(body), include_comparison=False)


async def post_funnel(request: Request) -> Response:
    _, site = authenticate(request, "read")
    state = request.app.state
    body = await read_json(request, state.config.max_body_bytes)
    result = await _run(request, site.site_id, funnel_sync, state.store, site.site_id, body, _now(request))
    if wants_csv(request):
        return funnel_csv(result)
    return json_response(result)


async def get_realtime(request: Request) -> Response:
    _, site = authenticate(request, "read")
    params = dict(request.query_params)
    check_params(params, ())
    store = request.app.state.store
    result = await _run(request, site.site_id, _realtime, store, site.site_id, _now(request))
    return json_response(result)


def _realtime(store, site_id: int, now: dt.datetime) -> dict:
    return realtime_sync(store, site_id, now, engine.settings(store))


def _prop_keys(store, site_id: int, params: dict[str, str], now: dt.datetime) -> dict:
    return prop_keys_sync(store, site_id, params, now, engine.settings(store))


def _goals(store, site_id: int, goals, params: dict[str, str], now: dt.datetime) -> dict:
    check_params(params, ("start_date", "end_date", "timezone"))
    timezone = check_timezone(params.get("timezone", "UTC"))
    span = date_range_params(params, timezone, now)
    rng = resolve_range(None, (span["start"], span["end"]), timezone, now)
    return goals_sync(store, site_id, goals, rng, engine.settings(store))


async def get_goals(request: Request) -> Response:
    _, site = authenticate(request, "read")
    state = request.app.state
    goals = state.registry.goals(site.site_id)
    result = await _run(request, site.site_id, _goals, state.store, site.site_id, goals,
                        dict(request.query_params), _now(request))
    if wants_csv(request):
        return goals_csv(result)
    return json_response(result)


def _breakdown(store, site_id: int, name: str, params: dict[str, str],
               now: dt.datetime) -> tuple[dict, list[str]]:
    body, _ = breakdown_body(name, params, now)
    query = parse_query(body)
    return {"results": engine.run_query_sync(store, site_id, query, now)["results"]}, _columns(query)


def _breakdown_route(name: str) -> Callable:
    async def endpoint(request: Request) -> Response:
        _, site = authenticate(request, "read")
        if name == "props" and "key" not in request.query_params:
            store = request.app.state.store
            result = await _run(request, site.site_id, _prop_keys, store, site.site_id,
                                dict(request.query_params), _now(request))
            if wants_csv(request):
                return query_csv(["key", "visitors", "events"], result, "props.csv")
            return json_response(result)
        result, columns = await _run(request, site.site_id, _breakdown, request.app.state.store,
                                     site.site_id, name, dict(request.query_params), _now(request))
        if wants_csv(request):
            return query_csv(columns, result, f"{name}.csv")
        return json_response(result)

    endpoint.__name__ = f"get_{name.replace('-', '_')}"
    return endpoint


ROUTES: list = [
    Route("/api/query", post_query, methods=["POST"]),
    Route("/api/funnel", post_funnel, methods=["POST"]),
    Route("/api/realtime", get_realtime, methods=["GET"]),
    Route("/api/goals", get_goals, methods=["GET"]),
    *[Route(f"/api/{name}", _breakdown_route(name), methods=["GET"])
      for name in (*BREAKDOWNS, "tech", "props")],
]
