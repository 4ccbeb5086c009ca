"""JSON errors for every failure: {"error": <reason phrase>, "message": <what to fix>}."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
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


class ClientGone(Exception):
    """The client disconnected before its answer (mid-body, or while its query ran)."""


# Closed Request: nginx's convention for "the client went away"; the answer reaches no one.
CLIENT_GONE_STATUS = 499


def count_client_gone(app) -> None:
    outcomes = getattr(app.state, "http_outcomes", None)
    if outcomes is not None:
        outcomes["client_disconnect"] = outcomes.get("client_disconnect", 0) + 1


async def client_gone(request: Request, exc: Exception) -> Response:
    """A quiet, counted outcome (metric clickport_client_disconnects_total), never an error."""
    count_client_gone(request.app)
    return Response(status_code=CLIENT_GONE_STATUS)


async def server_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (which never holds IPs), never to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; the server log has the details")


HANDLERS = {
    ApiError: api_error, FieldError: field_error, HTTPException: http_error,
    ClientGone: client_gone, ClientDisconnect: client_gone, Exception: server_error,
}
