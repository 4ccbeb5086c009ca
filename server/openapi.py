"""The OpenAPI 3.0 description of the public and admin API, served at /api/openapi.json.

Kept by hand next to the routes (the routes are plain Starlette functions). The fuzz tests
generate requests from it, so a route missing here goes unfuzzed: tests check the two agree.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.ingest.validate import EVENT_TYPES
from engine.query import fields
from engine.query.breakdowns import BREAKDOWNS as BREAKDOWN_SPECS
from engine.query.breakdowns import TECH_TYPES
from engine.query.funnel import STEP_TYPES
from engine.sites import GOAL_TYPES
from server.jsonresp import json_response

# Every word list comes from the engine (one source): what the document lists is exactly what
# the server accepts (tests/test_openapi_vocabulary.py checks it against live requests).
METRICS = list(fields.METRICS)
DIMENSIONS = list(fields.DIMENSIONS)
FILTER_DIMENSIONS = list(fields.FILTER_DIMENSIONS)
PERIODS = list(fields.PERIODS)
OPERATORS = list(fields.OPERATORS)
BREAKDOWNS = list(BREAKDOWN_SPECS)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    for code in codes:
        out[str(code)] = {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_STR = {"type": "string"}
_INT = {"type": "integer"}
_OBJ = {"type": "object"}
_KEY = [{"ApiKey": []}]
_ADMIN = [{"AdminToken": []}]
_DATE_PARAMS = [
    {"name": "start_date", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "end_date", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "timezone", "in": "query", "schema": _STR},
]
_RANGE_PARAMS = [
    *_DATE_PARAMS,
    {"name": "limit", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": fields.MAX_LIMIT}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
]

EVENT_SCHEMA = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "enum": list(EVENT_TYPES)},
        "url": {"type": "string", "format": "uri"},
        "referrer": _STR,
        "name": _STR,
        "utm_source": _STR,
        "utm_medium": _STR,
        "utm_campaign": _STR,
        "utm_content": _STR,
        "utm_term": _STR,
        "screen_width": {"type": "integer", "minimum": 0, "maximum": 100000},
        "timezone": _STR,
        "revenue_amount": {"type": "number"},
        "revenue_currency": {"type": "string", "minLength": 3, "maxLength": 3},
        "meta_keys": {"type": "array", "items": _STR},
        "meta_values": {"type": "array", "items": {"type": "string", "maxLength": 2000}},
        "session_id": {"type": "integer", "minimum": 1, "maximum": 2**53 - 1},
        "page_visit_id": _STR,
        "scroll_depth": {"type": "integer", "minimum": 0, "maximum": 100},
        "engaged_ms": {"type": "integer", "minimum": 0},
        "timestamp": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
        "domain": _STR,
    },
}

QUERY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "metrics": {"type": "array", "items": {"type": "string", "enum": METRICS}},
        "dimensions": {"type": "array", "items": {"type": "string", "enum": DIMENSIONS}},
        "period": {"type": "string", "enum": PERIODS},
        "date_range": {
            "type": "object",
            "properties": {"start": _STR, "end": _STR},
            "required": ["start", "end"],
        },
        "filters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["dimension", "operator", "value"],
                "properties": {
                    "dimension": {"type": "string", "enum": FILTER_DIMENSIONS},
                    "operator": {"type": "string", "enum": OPERATORS},
                    "value": {"oneOf": [_STR, {"type": "array", "items": _STR}]},
                },
            },
        },
        "order_by": _STR,
        "order_dir": {"type": "string", "enum": list(fields.ORDER_DIRS)},
        "limit": {"type": "integer", "minimum": 1, "maximum": fields.MAX_LIMIT},
        "offset": {"type": "integer", "minimum": 0},
        "timezone": _STR,
        "include_comparison": {"type": "boolean"},
    },
}


def build_spec() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/event": {
            "post": {
                "summary": "Send an event",
                "security": _KEY,
                "requestBody": _json_body(EVENT_SCHEMA),
                "responses": _responses(_OBJ, 400, 401, 413, 503),
            }
        },
        "/api/query": {
            "post": {
                "summary": "Query metrics",
                "security": _KEY,
                "requestBody": _json_body(QUERY_SCHEMA),
                "responses": _responses(_OBJ, 400, 401, 413),
            }
        },
        "/api/realtime": {
            "get": {"summary": "Active visitors", "security": _KEY, "responses": _responses(_OBJ, 401)}
        },
        "/api/goals": {
            "get": {
                "summary": "Goal conversions",
                "security": _KEY,
                "parameters": _DATE_PARAMS,
                "responses": _responses(_OBJ, 400, 401),
            }
        },
        "/api/tech": {
            "get": {
                "summary": "Device, browser or OS breakdown",
                "security": _KEY,
                "parameters": [
                    *_RANGE_PARAMS,
                    {
                        "name": "type",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "enum": list(TECH_TYPES)},
                    },
                ],
                "responses": _responses(_OBJ, 400, 401),
            }
        },
        "/healthz": {"get": {"summary": "Process is up", "responses": _responses(_OBJ)}},
        "/readyz": {
            "get": {"summary": "Store reachable and schema applied", "responses": _responses(_OBJ, 503)}
        },
        "/api/admin/sites": {
            "get": {"summary": "List sites", "security": _ADMIN, "responses": _responses(_OBJ, 401)},
            "post": {
                "summary": "Create a site",
                "security": _ADMIN,
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["domain"],
                        "properties": {"domain": _STR, "timezone": _STR},
                    }
                ),
                "responses": _responses(_OBJ, 400, 401, 409),
            },
        },
        "/api/admin/sites/{site}/keys": {
            "parameters": [{"name": "site", "in": "path", "required": True, "schema": _STR}],
            "get": {"summary": "List keys", "security": _ADMIN, "responses": _responses(_OBJ, 401, 404)},
            "post": {
                "summary": "Create a key",
                "security": _ADMIN,
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "properties": {
                            "name": _STR,
                            "permissions": {
                                "type": "array",
                                "items": {"type": "string", "enum": ["read", "tracker"]},
                            },
                        },
                    }
                ),
                "responses": _responses(_OBJ, 400, 401, 404),
            },
        },
        "/api/admin/sites/{site}/goals": {
            "parameters": [{"name": "site", "in": "path", "required": True, "schema": _STR}],
            "get": {"summary": "List goals", "security": _ADMIN, "responses": _responses(_OBJ, 401, 404)},
            "post": {
                "summary": "Create a goal",
                "security": _ADMIN,
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["name", "type"],
                        "properties": {
                            "name": _STR,
                            "type": {"type": "string", "enum": list(GOAL_TYPES)},
                            "match": _STR,
                        },
                    }
                ),
                "responses": _responses(_OBJ, 400, 401, 404),
            },
        },
    }
    paths["/api/import"] = {
        "post": {
            "summary": "Bulk import of history: NDJSON, one /api/event body per line plus timestamp, ip "
                       "and user_agent (Content-Encoding: gzip accepted); see docs/import.md",
            "security": _KEY,
            "requestBody": {"required": True, "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            }},
            "responses": _responses(_OBJ, 400, 401, 413, 415, 503),
        }
    }
    paths["/api/collect"] = {
        "post": {
            "summary": "Browser tracker events (no key; the site is found by `domain`)",
            "requestBody": _json_body({**EVENT_SCHEMA, "required": ["url", "domain"]}),
            "responses": _responses(_OBJ, 400, 404, 413),
        }
    }
    paths["/api/admin/status"] = {
        "get": {"summary": "Writer and store status", "security": _ADMIN, "responses": _responses(_OBJ, 401)}
    }
    site_param = [{"name": "site", "in": "path", "required": True, "schema": _STR}]
    paths["/api/admin/sites/{site}"] = {
        "parameters": site_param,
        "get": {"summary": "A site", "security": _ADMIN, "responses": _responses(_OBJ, 401, 404)},
        "patch": {
            "summary": "Change a site's timezone",
            "security": _ADMIN,
            "requestBody": _json_body(
                {"type": "object", "required": ["timezone"], "properties": {"timezone": _STR}}
            ),
            "responses": _responses(_OBJ, 400, 401, 404),
        },
        "delete": {"summary": "Delete a site", "security": _ADMIN, "responses": _responses(_OBJ, 401, 404)},
    }
    paths["/api/admin/keys/{prefix}"] = {
        "parameters": [{"name": "prefix", "in": "path", "required": True, "schema": _STR}],
        "delete": {"summary": "Revoke a key", "security": _ADMIN, "responses": _responses(_OBJ, 401, 404)},
    }
    paths["/api/admin/sites/{site}/goals/{goal_id}"] = {
        "parameters": [*site_param, {"name": "goal_id", "in": "path", "required": True, "schema": _INT}],
        "delete": {"summary": "Delete a goal", "security": _ADMIN, "responses": _responses(_OBJ, 401, 404)},
    }
    for name in BREAKDOWNS:
        paths[f"/api/{name}"] = {
            "get": {
                "summary": f"{name} breakdown",
                "security": _KEY,
                "parameters": _RANGE_PARAMS,
                "responses": _responses(_OBJ, 400, 401),
            }
        }
    _add_funnel_and_csv(paths)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Clickport API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "AdminToken": {"type": "http", "scheme": "bearer", "description": (
                    "The admin token. Repeated wrong tokens from one client get 429 with "
                    "Retry-After (a growing backoff; docs/reliability.md).")},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": _STR, "message": _STR},
                }
            },
        },
    }


FUNNEL_SCHEMA = {
    "type": "object",
    "required": ["steps"],
    "additionalProperties": False,
    "properties": {
        "steps": {
            "type": "array",
            "minItems": 2,
            "maxItems": 8,
            "items": {
                "type": "object",
                "required": ["type"],
                "additionalProperties": False,
                "properties": {
                    "type": {"type": "string", "enum": list(STEP_TYPES)},
                    "match": _STR,
                    "name": _STR,
                },
            },
        },
        "period": QUERY_SCHEMA["properties"]["period"],
        "date_range": QUERY_SCHEMA["properties"]["date_range"],
        "timezone": _STR,
        "filters": QUERY_SCHEMA["properties"]["filters"],
    },
}
_CSV = {"text/csv": {"schema": {"type": "string"}}}


def _add_funnel_and_csv(paths: dict[str, Any]) -> None:
    """POST /api/funnel, GET /api/props, and the CSV answer (`Accept: text/csv`) of /api/query,
    /api/funnel and the breakdown GETs (SPEC §8)."""
    paths["/api/funnel"] = {
        "post": {
            "summary": "Funnel: sessions reaching each of 2-8 steps in order",
            "security": _KEY,
            "requestBody": _json_body(FUNNEL_SCHEMA),
            "responses": _responses(_OBJ, 400, 401, 413),
        }
    }
    paths["/api/props"] = {
        "get": {
            "summary": "Custom property breakdown (prop:<key>); without key: the keys seen in the range",
            "security": _KEY,
            "parameters": [
                *_RANGE_PARAMS,
                {"name": "key", "in": "query",
                 "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,100}$"}},
            ],
            "responses": _responses(_OBJ, 400, 401),
        }
    }
    for path in ("/api/query", "/api/funnel", "/api/goals", "/api/tech", "/api/props",
                 *(f"/api/{n}" for n in BREAKDOWNS)):
        for operation in paths[path].values():
            ok = operation["responses"]["200"]
            ok["content"] = {**ok["content"], **_CSV}


_SPEC = build_spec()


async def openapi(request: Request) -> Response:
    return json_response(_SPEC)


ROUTES = [Route("/api/openapi.json", openapi, methods=["GET"])]
