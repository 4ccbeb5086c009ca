"""Health, readiness, Prometheus metrics, request timing and structured logs."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.metrics import Metrics
from engine.migrations import migration_files
from server import http_protocol
from server.auth_guard import verify_secret
from server.jsonresp import json_response


def build_metrics(app) -> Metrics:
    """Gauges and counters read from the engine's own counters at scrape time."""
    metrics = Metrics()
    state = app.state
    metrics.describe("clickport_http_request_duration_seconds", "Request latency by route and status class")
    metrics.describe("clickport_insert_duration_seconds", "ClickHouse insert latency per batch")
    metrics.describe("clickport_spool_commit_seconds",
                     "Spool append + fsync per group commit (what an acknowledgement waits for)")
    metrics.gauge("clickport_events_accepted_total", lambda: state.writer.accepted_rows)
    metrics.gauge("clickport_events_stored_total", lambda: state.writer.inserted_rows)
    metrics.gauge("clickport_events_pending", lambda: state.writer.pending)
    metrics.gauge("clickport_spool_bytes", lambda: state.writer.stats()["spool_bytes"])
    metrics.gauge("clickport_insert_failures_total", lambda: state.writer.failed_attempts)
    metrics.gauge("clickport_queries_running", lambda: state.admission.running)
    metrics.gauge("clickport_queries_queued", lambda: state.admission.stats()["queued"])
    for reason in ("site_busy", "server_busy", "deadline_in_queue"):
        metrics.gauge(f"clickport_queries_rejected_{reason}_total",
                      lambda reason=reason: state.admission.rejected[reason])
    for reason in ("header_too_large", "header_timeout", "connection_request_cap"):
        metrics.gauge(f"clickport_http_{reason}_total", lambda reason=reason: http_protocol.OUTCOMES[reason])
    metrics.gauge("clickport_auth_backoff_refusals_total", lambda: state.auth_guard.refused)
    metrics.gauge("clickport_forged_ids_total", lambda: state.ingestor.sessions.forged_ids)
    metrics.gauge("clickport_client_disconnects_total",
                  lambda: state.http_outcomes.get("client_disconnect", 0))
    for reason in ("dnt", "bot", "rate_limit"):
        metrics.gauge(f"clickport_events_dropped_{reason}_total",
                      lambda reason=reason: state.ingestor.dropped.get(reason, 0))
    return metrics


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = request.app.state
    latest = max((version for version, _, _ in migration_files()), default=0)
    try:
        # On the ingestion store's clients: a burst of queries cannot make the server look down.
        check = state.ingest_store.arows("SELECT max(version) FROM schema_migrations")
        rows = await asyncio.wait_for(check, 5)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return json_response({"status": "unavailable", "store": str(exc)[:200]}, status=503)
    applied = rows[0][0] if rows else 0
    if applied < latest:
        return json_response({"status": "migrating", "schema": applied, "expected": latest}, status=503)
    return json_response({"status": "ready", "schema": applied, "pending_events": state.writer.pending})


async def metrics_endpoint(request: Request) -> Response:
    token = request.app.state.config.metrics_token
    if token:  # CLICKPORT_METRICS_TOKEN: scrapers send it as a bearer token
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not given or not verify_secret(request, given, token, "metrics token"):
            return json_response({"error": "Unauthorized", "message": "/metrics needs "
                                  "'Authorization: Bearer <CLICKPORT_METRICS_TOKEN>'"}, status=401)
    return PlainTextResponse(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
]


class TimingMiddleware:
    """Observes request latency per route template (never per raw path: bounded label set)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics = getattr(scope["app"].state, "metrics", None) if "app" in scope else None
            if metrics is not None:
                metrics.observe(
                    "clickport_http_request_duration_seconds",
                    time.perf_counter() - started,
                    route=_route_name(scope),
                    status=f"{status['code'] // 100}xx",
                )


def _route_name(scope: Scope) -> str:
    """The matched route's path template. The router leaves the endpoint in the scope, so this
    is a dict lookup, not a second round of route matching."""
    app = scope["app"]
    names = getattr(app.state, "route_names", None)
    if names is None:
        names = {getattr(r, "endpoint", None): getattr(r, "path", "other") for r in app.router.routes}
        app.state.route_names = names
    return names.get(scope.get("endpoint"), "unmatched")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
