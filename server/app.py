"""The Starlette application: wiring of store, registry, ingestion and routes; clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from engine.enrich.geo import GeoLocator
from engine.ingest.identity import VisitorHasher, configure_ids, load_or_create_secret
from engine.ingest.importer import Importer
from engine.ingest.pipeline import Ingestor, warm_up_enrichment
from engine.ingest.ratelimit import RateLimiter
from engine.ingest.rows import EVENT_COLUMNS, decode_row
from engine.ingest.sessions import Sessionizer
from engine.ingest.writer import BatchWriter
from engine.migrations import apply_migrations
from engine.priority import lower_thread_priority
from engine.query.admission import Admission, Limits
from engine.registry import Registry
from engine.rollups import RollupMaintainer
from engine.store import Store, StoreConfig
from server import (
    lean,
    observability,
    openapi,
    routes_admin,
    routes_browser,
    routes_import,
    routes_query,
)
from server.auth_guard import AuthBackoff
from server.client_ip import resolve_scope
from server.config import Config
from server.errors import HANDLERS
from server.headers import with_security_headers
from server.loopwatch import LoopWatch
from server.routes_event import post_event

log = logging.getLogger("clickport")


class ClickportApp(Starlette):
    """Starlette, with the ingest routes served on the lean path (server/lean.py)."""

    lean_routes: dict[str, object] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            # The visitor's address behind trusted proxies, once per request (server.client_ip).
            resolve_scope(scope, self.state.config.trusted_proxies)
            if scope["method"] == "POST":
                endpoint = self.lean_routes.get(scope["path"])
                if endpoint is not None:  # adds the security headers itself
                    await lean.serve(self, endpoint, scope["path"], scope, receive, send)
                    return
            send = with_security_headers(send)
        await super().__call__(scope, receive, send)


GC_THRESHOLDS = (20_000, 10, 10)
_gc_tuned = False


def tune_gc() -> None:
    """Once per process, after start-up: move everything alive now (modules, parser tables, GeoIP
    and user-agent data, the registry) out of the collector's reach (`gc.freeze`) and collect the
    youngest generation less often. Measured under wrk load (issue 12): full collections took
    70–170 ms each (they walked the start-up heap) and stalled every request in flight; after
    this none ran in a 15 s run, and the young collections' total time fell by half."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(config: Config | None = None) -> Starlette:
    config = config or Config.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await asyncio.to_thread(_open, app, config)
        tune_gc()
        app.state.writer.start()
        app.state.rollups.start()
        background = [
            asyncio.create_task(_refresh_registry(app)),
            asyncio.create_task(_warm_up_sessions(app)),
            asyncio.create_task(app.state.loopwatch.run()),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.to_thread(app.state.rollups.stop)
            # SIGTERM lands here through uvicorn: flush every accepted event before exiting.
            await app.state.writer.close()
            await asyncio.to_thread(app.state.importer.close)
            app.state.store.close()
            app.state.ingest_store.close()
            log.info("stopped; %d events written, %d left in the spool",
                     app.state.writer.inserted_rows, app.state.writer.pending)

    routes = [
        *observability.ROUTES,
        *openapi.ROUTES,
        Route("/api/event", post_event, methods=["POST"]),
        *routes_import.ROUTES,
        *routes_query.ROUTES,
        *routes_browser.ROUTES,
        *routes_admin.ROUTES,
    ]
    app = ClickportApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=HANDLERS,
        middleware=[Middleware(observability.TimingMiddleware)],
    )
    # Never build a redirect from the Host header (Starlette's trailing-slash redirect does).
    app.router.redirect_slashes = False
    app.lean_routes = {"/api/event": post_event, "/api/collect": routes_browser.collect}
    app.state.config = config
    app.state.auth_guard = AuthBackoff(config.auth_free_failures, config.auth_backoff_max_s)
    app.state.http_outcomes = {}
    return app


def _open(app: Starlette, config: Config) -> None:
    os.makedirs(config.data_dir, exist_ok=True)
    store = Store(StoreConfig(
        dsn=config.clickhouse_url,
        # Each admitted request may run its comparison period on a second client at once.
        pool_size=max(config.pool_size, 2 * config.query_concurrency),
        query_timeout_s=config.query_timeout_s,
        query_max_memory=config.query_max_memory,
        fault_insert_file=config.fault_insert_file,
        cluster=config.cluster,
        replicated=config.replicated,
        on_cluster=config.on_cluster,
    ))
    applied = apply_migrations(store)
    if applied:
        log.info("schema migrations applied: %s", ", ".join(applied))
    registry = Registry(store)
    registry.refresh()
    # Ingestion has its own store clients (inserts, session lookups, readiness), so a burst of
    # queries holding every query client never delays an insert or an acknowledgement.
    ingest_store = Store(StoreConfig(
        dsn=config.clickhouse_url, pool_size=2, query_timeout_s=config.query_timeout_s,
        query_max_memory=config.query_max_memory, fault_insert_file=config.fault_insert_file,
    ))
    writer = BatchWriter(
        ingest_store, "events", EVENT_COLUMNS, os.path.join(config.data_dir, "spool"),
        max_batch=config.batch_size, max_age_s=config.flush_interval_s,
        busy_age_s=config.busy_flush_interval_s,
        max_spool_bytes=config.max_spool_bytes, fsync=config.spool_sync == "fsync",
    )
    secret = load_or_create_secret(config.secret_file or os.path.join(config.data_dir, "secret.key"))
    configure_ids(secret)  # session / page-visit ids carry a MAC under this server's secret
    hasher = VisitorHasher(secret)
    geo = GeoLocator(config.geoip_path)
    app.state.store = store
    app.state.admission = Admission(Limits(
        concurrency=config.query_concurrency, per_site=config.query_per_site,
        queue=config.query_queue, per_site_queue=config.query_per_site_queue,
        threads=config.query_threads,
    ))
    # Admitted queries run here: never on the default executor, never more than admitted.
    app.state.query_threads = ThreadPoolExecutor(
        config.query_concurrency, thread_name_prefix="clickport-query", initializer=lower_thread_priority)
    app.state.ingest_store = ingest_store
    app.state.registry = registry
    app.state.writer = writer
    sessions = Sessionizer(ingest_store)
    if writer.spool.recovered_rows:
        # Acknowledged events not yet in the store: their sessions continue after the restart.
        absorbed = sessions.absorb(decode_row(line) for line in writer.spool.unread_lines())
        log.info("sessions: %d spooled events absorbed", absorbed)
    app.state.ingestor = Ingestor(
        writer, sessions, hasher, geo, RateLimiter()
    )
    warm_up_enrichment(geo)
    app.state.importer = Importer(store, hasher, secret, geo, parse_workers=config.import_workers)
    app.state.rollups = RollupMaintainer(
        store, lambda: [(s.site_id, s.timezone) for s in registry.sites()])
    app.state.metrics = metrics = observability.build_metrics(app)
    app.state.loopwatch = LoopWatch(metrics)
    writer.on_insert = lambda seconds, rows: metrics.observe("clickport_insert_duration_seconds", seconds)
    writer.on_commit = lambda seconds, rows: metrics.observe("clickport_spool_commit_seconds", seconds)
    app.state.importer.on_insert = lambda seconds, rows, payload: metrics.observe(
        "clickport_insert_duration_seconds", seconds)


async def _warm_up_sessions(app: Starlette) -> None:
    """Once the spool replay has reached the store, load the sessions active in the last 30
    minutes: from then on a new visitor needs no store lookup (retried while the store is down)."""
    writer, sessions = app.state.writer, app.state.ingestor.sessions
    delay = 0.5
    while True:
        if writer.inserted_rows >= writer.spool.recovered_rows:
            try:
                loaded = await sessions.warm_up(dt.datetime.now(dt.UTC))
                log.info("session memory warm: %d active sessions loaded", loaded)
                return
            except Exception as exc:  # noqa: BLE001 - keep trying; lookups cover the meantime
                log.warning("session warm-up failed (%s); retrying", exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def _refresh_registry(app: Starlette) -> None:
    """Other app nodes sharing the ClickHouse server or cluster may change sites, keys and goals:
    their changes are seen here within `registry_refresh_s` (plus one refresh's time)."""
    while True:
        await asyncio.sleep(app.state.config.registry_refresh_s)
        try:
            await asyncio.to_thread(app.state.registry.refresh)
        except Exception as exc:  # noqa: BLE001 - keep serving from the last snapshot
            log.warning("registry refresh failed: %s", exc)
