"""Admin API under /api/admin, guarded by the admin token (Authorization: Bearer <token>).

The CLI (`clickport sites|keys|goals ...`) calls these routes, so administration works while the
server runs, in embedded mode too (a second process cannot open the embedded store).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth_guard import verify_secret
from server.errors import ApiError
from server.jsonresp import json_response
from server.requests import read_json

PERMISSIONS = ("read", "tracker")


def _require_admin(request: Request) -> None:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    # Wrong tokens are counted per client: repeated guesses get 429 + Retry-After (server.auth_guard).
    if not token or not verify_secret(request, token, request.app.state.config.admin_token, "admin token"):
        raise ApiError(401, "admin routes need 'Authorization: Bearer <admin token>'")


async def _call(fn, *args, **kwargs) -> Any:
    # A RegistryError (the engine's FieldError) becomes its 4xx in server.errors.
    return await asyncio.to_thread(fn, *args, **kwargs)


async def _body(request: Request) -> dict:
    body = await read_json(request, 16 * 1024)
    if not isinstance(body, dict):
        raise ApiError(400, "body: must be a JSON object")
    return body


def _str_field(body: dict, name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise ApiError(400, f"{name}: required, a string")
    return value


def _site_json(site) -> dict:
    return {"id": site.site_id, "domain": site.domain, "timezone": site.timezone}


def _key_json(key) -> dict:
    perms = [p for p, ok in (("read", key.can_read), ("tracker", key.can_track)) if ok]
    return {"prefix": key.key_prefix, "site_id": key.site_id, "name": key.name, "permissions": perms}


def _goal_json(goal) -> dict:
    data = asdict(goal)
    return {"id": data["goal_id"], "site_id": data["site_id"], "name": data["name"],
            "type": data["type"], "match": data["match_value"]}


async def list_sites(request: Request) -> Response:
    _require_admin(request)
    registry = request.app.state.registry
    return json_response({"sites": [_site_json(s) for s in registry.sites()]})


async def create_site(request: Request) -> Response:
    _require_admin(request)
    body = await _body(request)
    site = await _call(
        request.app.state.registry.create_site,
        _str_field(body, "domain"), _str_field(body, "timezone", "UTC"),
    )
    return json_response(_site_json(site), status=201)


async def site_detail(request: Request) -> Response:
    _require_admin(request)
    registry = request.app.state.registry
    ref = request.path_params["site"]
    if request.method == "DELETE":
        site = await _call(registry.delete_site, ref)
        return json_response({"deleted": _site_json(site)})
    if request.method == "PATCH":
        body = await _body(request)
        site = await _call(registry.update_site, ref, _str_field(body, "timezone"))
        return json_response(_site_json(site))
    site = await _call(registry.require_site, ref)
    return json_response(_site_json(site))


async def site_keys(request: Request) -> Response:
    _require_admin(request)
    registry = request.app.state.registry
    site = await _call(registry.require_site, request.path_params["site"])
    if request.method == "GET":
        return json_response({"keys": [_key_json(k) for k in registry.keys(site.site_id)]})
    body = await _body(request)
    permissions = body.get("permissions", list(PERMISSIONS))
    if not isinstance(permissions, list) or not permissions or any(p not in PERMISSIONS for p in permissions):
        raise ApiError(400, "permissions: a non-empty list of: read, tracker")
    plaintext, key = await _call(
        registry.create_key, site.site_id, _str_field(body, "name", ""),
        "read" in permissions, "tracker" in permissions,
    )
    return json_response({**_key_json(key), "key": plaintext}, status=201)


async def revoke_key(request: Request) -> Response:
    _require_admin(request)
    key = await _call(request.app.state.registry.revoke_key, request.path_params["prefix"])
    return json_response({"revoked": _key_json(key)})


async def site_goals(request: Request) -> Response:
    _require_admin(request)
    registry = request.app.state.registry
    site = await _call(registry.require_site, request.path_params["site"])
    if request.method == "GET":
        return json_response({"goals": [_goal_json(g) for g in registry.goals(site.site_id)]})
    body = await _body(request)
    goal = await _call(
        registry.create_goal, site.site_id, _str_field(body, "name"),
        _str_field(body, "type"), _str_field(body, "match", ""),
    )
    return json_response(_goal_json(goal), status=201)


async def delete_goal(request: Request) -> Response:
    _require_admin(request)
    goal = await _call(
        request.app.state.registry.delete_goal,
        request.path_params["site"], request.path_params["goal_id"],
    )
    return json_response({"deleted": _goal_json(goal)})


async def status(request: Request) -> Response:
    _require_admin(request)
    state = request.app.state
    return json_response({
        "store": "embedded" if state.store.config.embedded else "server",
        "writer": state.writer.stats(),
        "dropped": state.ingestor.dropped,
        "sites": len(state.registry.sites()),
    })


ROUTES = [
    Route("/api/admin/status", status, methods=["GET"]),
    Route("/api/admin/sites", list_sites, methods=["GET"]),
    Route("/api/admin/sites", create_site, methods=["POST"]),
    Route("/api/admin/sites/{site}", site_detail, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/admin/sites/{site}/keys", site_keys, methods=["GET", "POST"]),
    Route("/api/admin/keys/{prefix}", revoke_key, methods=["DELETE"]),
    Route("/api/admin/sites/{site}/goals", site_goals, methods=["GET", "POST"]),
    Route("/api/admin/sites/{site}/goals/{goal_id:int}", delete_goal, methods=["DELETE"]),
]
