"""POST /api/event: server-side and app event ingestion."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from engine.ingest.pipeline import Visitor
from engine.ingest.validate import InvalidEvent, parse_event
from engine.ingest.writer import Overloaded
from server.errors import ApiError
from server.jsonresp import json_response
from server.requests import authenticate, read_json, visitor_ip


async def post_event(request: Request) -> Response:
    _, site = authenticate(request, "tracker")
    state = request.app.state
    body = await read_json(request, state.config.max_body_bytes)
    now = dt.datetime.now(dt.UTC)
    try:
        event = parse_event(body, now)
        visitor = Visitor(
            ip=visitor_ip(request, trust_forwarded=True),
            user_agent=request.headers.get("user-agent", ""),
            do_not_track=request.headers.get("dnt", "").strip() == "1",
        )
        result = await state.ingestor.ingest(site, event, visitor, now)
    except InvalidEvent as exc:
        raise ApiError(400, str(exc)) from None
    except Overloaded as exc:
        raise ApiError(503, f"busy: {exc}", headers={"Retry-After": "5"}) from None
    return json_response(
        {"success": True, "session_id": result.session_id, "page_visit_id": result.page_visit_id}
    )
