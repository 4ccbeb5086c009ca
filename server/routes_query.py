"""Read endpoints: POST /api/query, /api/funnel, /api/realtime, /api/goals and the breakdown GETs.

POST /api/query, /api/funnel, /api/goals and the breakdown GETs answer CSV for
`Accept: text/csv` (server/csv_export.py).

Every route authenticates a key with the read permission and only ever passes that key's site
id (bound as a query parameter) to the engine. Tests may freeze the clock by setting
``app.state.query_clock`` to a callable returning an aware datetime.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.query import run as engine
from engine.query.breakdowns import BREAKDOWNS, breakdown_body, check_params, date_range_params
from engine.query.funnel import funnel_sync
from engine.query.goals import goals_sync
from engine.query.parse import Query, check_timezone, parse_query
from engine.query.periods import resolve_range
from engine.query.props import prop_keys_sync
from engine.query.realtime import realtime_sync
from engine.store import QueryLimitError
from server.csv_export import funnel_csv, goals_csv, query_csv, wants_csv
from server.errors import ApiError
from server.jsonresp import json_response
from server.requests import authenticate, read_json

log = logging.getLogger("clickport.query")


def _now(request: Request) -> dt.datetime:
    clock: Callable[[], dt.datetime] | None = getattr(request.app.state, "query_clock", None)
    return clock() if clock is not None else dt.datetime.now(dt.UTC)


async def _run(fn, *args) -> Any:
    # A QueryError (the engine's FieldError) becomes its 400 in server.errors.
    try:
        return await asyncio.to_thread(fn, *args)
    except QueryLimitError as exc:
        log.warning("query hit a limit: %s", exc)
        raise ApiError(
            503,
            "the query exceeded its time or memory limit; try a shorter date range or fewer "
            "dimensions",
            headers={"Retry-After": "10"},
        ) from None


def _columns(query: Query) -> list[str]:
    return list(query.dimensions) + list(query.metrics)


async def post_query(request: Request) -> Response:
    _, site = authenticate(request, "read")
    state = request.app.state
    body = await read_json(request, state.config.max_body_bytes)
    as_csv = wants_csv(request)
    if as_csv:
        body = await _run(_without_comparison, body)
    result = await _run(engine.run_query_sync, state.store, site.site_id, body, _now(request))
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
    result = await _run(funnel_sync, state.store, site.site_id, body, _now(request))
    if wants_csv(request):
        return funnel_csv(result)
    return json_response(result)


async def get_realtime(request: Request) -> Response:
    _, site = authenticate(request, "read")
    params = dict(request.query_params)
    check_params(params, ())
    store = request.app.state.store
    result = await _run(realtime_sync, store, site.site_id, _now(request), engine.settings(store))
    return json_response(result)


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
    result = await _run(_goals, state.store, site.site_id, goals, dict(request.query_params),
                        _now(request))
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
            result = await _run(prop_keys_sync, store, site.site_id, dict(request.query_params),
                                _now(request), engine.settings(store))
            if wants_csv(request):
                return query_csv(["key", "visitors", "events"], result, "props.csv")
            return json_response(result)
        result, columns = await _run(_breakdown, request.app.state.store, site.site_id, name,
                                     dict(request.query_params), _now(request))
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
