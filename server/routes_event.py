"""POST /api/event: server-side and app event ingestion (served on the lean path, server/lean.py)."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from engine.ingest.pipeline import Visitor
from engine.ingest.validate import parse_event
from engine.ingest.writer import Overloaded
from server.errors import ApiError
from server.jsonresp import json_response
from server.requests import authenticate, read_json, visitor_ip


async def post_event(request: Request) -> Response:
    _, site = authenticate(request, "tracker")
    state = request.app.state
    body = await read_json(request, state.config.max_body_bytes)
    now = dt.datetime.now(dt.UTC)
    event = parse_event(body, now)  # a FieldError is the 400 (server.errors / server.lean)
    state.ingestor.refuse_forged(event)  # before any other work: a forged id is a cheap 400
    headers = request.headers
    visitor = Visitor(
        ip=visitor_ip(request, trust_forwarded=True),
        user_agent=headers.get("user-agent", ""),
        do_not_track=headers.get("dnt", "").strip() == "1",
    )
    try:
        result = await state.ingestor.ingest(site, event, visitor, now)
    except Overloaded as exc:
        raise ApiError(503, f"busy: {exc}", headers={"Retry-After": "5"}) from None
    return json_response(
        {"success": True, "session_id": result.session_id, "page_visit_id": result.page_visit_id}
    )
