"""JSON errors for every failure: {"error": <reason phrase>, "message": <what to fix>}."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from engine.errors import FieldError
from server.jsonresp import json_response

log = logging.getLogger("clickport.http")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(
        {"error": HTTPStatus(status).phrase, "message": message}, status=status, headers=headers
    )


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def field_error(request: Request, exc: Exception) -> Response:
    """Every engine validation error (events, queries, administration): one translation."""
    assert isinstance(exc, FieldError)
    return error_response(exc.status, str(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {
        404: f"no endpoint at {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }
    return error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)), exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (which never holds IPs), never to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; the server log has the details")


HANDLERS = {
    ApiError: api_error, FieldError: field_error, HTTPException: http_error, Exception: server_error,
}
