"""The lean ASGI path for the ingest routes (POST /api/event, POST /api/collect).

A tracker request needs none of the generic stack: no route matching over ~40 routes, no
Starlette exception/server-error middleware, no timing middleware wrapping `send`. `ClickportApp`
(server/app.py) hands these two (method, path) pairs straight to `serve`, which calls the same
endpoint functions the router would, maps errors exactly as server/errors.py does, and records
the request-latency metric itself. It sends the response's ASGI messages itself (with the security
headers of server/headers.py), without Starlette's response call or a wrapped `send`. Everything
else goes through Starlette unchanged.
"""

from __future__ import annotations

import functools
import logging
import time

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from engine.errors import FieldError
from engine.metrics import Metrics
from server.errors import CLIENT_GONE_STATUS, ApiError, count_client_gone, error_response
from server.headers import SECURITY_HEADERS

log = logging.getLogger("clickport.http")


async def serve(app, endpoint, route: str, scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    scope["app"] = app
    request = Request(scope, receive)
    try:
        response: Response = await endpoint(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.message, exc.headers)
    except FieldError as exc:
        response = error_response(exc.status, str(exc))
    except ClientDisconnect:  # mid-body: a quiet, counted outcome, not an error
        count_client_gone(app)
        response = Response(status_code=CLIENT_GONE_STATUS)
    except Exception:  # noqa: BLE001 - never a stack trace to the client
        log.exception("unhandled error on POST %s", route)
        response = error_response(500, "internal error; the server log has the details")
    # The response's two ASGI messages, security headers included (`send` is the server's own:
    # ClickportApp does not wrap it for this path).
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": [*response.raw_headers, *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": response.body})
    metrics = getattr(app.state, "metrics", None)
    if metrics is not None:
        metrics.observe_labelled("clickport_http_request_duration_seconds",
                                 _labels(route, response.status_code), time.perf_counter() - started)


@functools.cache
def _labels(route: str, status: int) -> tuple:
    return Metrics.labels(route=route, status=f"{status // 100}xx")
