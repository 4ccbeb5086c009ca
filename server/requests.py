"""Request plumbing shared by the routes: body reading with a size cap, JSON decoding,
API-key auth and the visitor's IP."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from engine.sites import ApiKey, Site
from server.auth_guard import verify_secret
from server.client_ip import visitor
from server.errors import ApiError


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise ApiError(400, "content-length: not a number")
        if int(declared) > limit:
            raise ApiError(413, f"body is larger than {limit} bytes")
    receive = request.receive  # the ASGI messages themselves: no stream wrapper per chunk
    if _already_received(receive):
        return await _messages(receive, limit)
    timeout = request.app.state.config.body_timeout_s
    try:
        async with asyncio.timeout(timeout):  # a slow sender cannot hold the request open
            return await _messages(receive, limit)
    except TimeoutError:
        raise ApiError(408, f"body: not received within {timeout:g} s") from None


def _already_received(receive) -> bool:
    """Whether uvicorn's request cycle behind `receive` holds the whole body already (the usual
    tracker request arrives in one packet): `receive()` then returns at once, and arming the
    body timer (`asyncio.timeout`: 7.5–10 µs a request under uvloop; loadtest/results/run2/ingest/
    session5/diagnosis/microbench.py) is pointless."""
    cycle = getattr(receive, "__self__", None)
    event = getattr(cycle, "message_event", None)
    return getattr(cycle, "more_body", True) is False and event is not None and event.is_set()


async def _messages(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    body = await read_body(request, limit)
    if not body.strip():
        raise ApiError(400, "body: expected a JSON object, got an empty body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body: invalid JSON ({exc.args[0].split(':')[0]})") from None


def authenticate(request: Request, permission: str) -> tuple[ApiKey, Site]:
    """The key's record and site, or 401. `permission` is 'read' or 'tracker'."""
    plaintext = request.headers.get("x-api-key", "").strip()
    if not plaintext:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            plaintext = auth[7:].strip()
    if not plaintext:
        raise ApiError(401, "missing API key: send it in the x-api-key header")
    if permission == "read" and not plaintext.startswith("ck_"):
        return _admin_as_reader(request, plaintext)
    found = request.app.state.registry.authenticate(plaintext)
    if found is None:
        raise ApiError(401, "Invalid API key")
    key, site = found
    allowed = key.can_read if permission == "read" else key.can_track
    if not allowed:
        raise ApiError(401, f"this API key lacks the {permission} permission")
    return key, site


def _admin_as_reader(request: Request, token: str) -> tuple[ApiKey, Site]:
    """The admin token reads any site named by the `x-clickport-site` header (the dashboard's
    sign-in for operators); it never sends events."""
    if not verify_secret(request, token, request.app.state.config.admin_token, "admin token"):
        raise ApiError(401, "Invalid API key")
    domain = request.headers.get("x-clickport-site", "").strip()
    site = request.app.state.registry.site_by_domain(domain) if domain else None
    if site is None:
        raise ApiError(401, "with the admin token, name the site in the x-clickport-site header")
    return ApiKey("admin", "admin", site.site_id, "admin token", True, False), site


def visitor_ip(request: Request, trust_forwarded: bool) -> str:
    """The visitor's normalized address (SPEC §2, `server.client_ip`). `trust_forwarded`: the
    request holds an API key (a server-side sender forwarding its visitor's address)."""
    return visitor(request.scope, request.app.state.config.trusted_proxies, trust_forwarded)
