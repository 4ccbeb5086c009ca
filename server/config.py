"""Settings, all from environment variables (documented in the README)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from engine.ingest.spool import SYNC_MODES
from engine.store import default_dsn
from server.client_ip import TrustedProxies


@dataclass(frozen=True)
class Config:
    data_dir: str
    clickhouse_url: str
    admin_token: str
    geoip_path: str | None
    trusted_proxies: TrustedProxies = field(default_factory=lambda: TrustedProxies(()))
    max_body_bytes: int = 64 * 1024
    max_header_bytes: int = 16 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    keepalive_s: float = 5.0
    max_requests_per_connection: int = 1000
    max_connections: int = 2048
    metrics_token: str = ""
    auth_free_failures: int = 5
    auth_backoff_max_s: float = 60.0
    query_timeout_s: float = 20.0
    query_concurrency: int = max(2, os.cpu_count() or 2)
    query_per_site: int = max(1, (os.cpu_count() or 2) // 2)
    query_queue: int = 64
    query_per_site_queue: int = 16
    # Engine threads shared by the running queries: all cores but one (ingestion keeps a core).
    query_threads: int = max(1, (os.cpu_count() or 2) - 1)
    query_max_memory: int = 4 * 1024**3
    pool_size: int = max(2, os.cpu_count() or 2)
    flush_interval_s: float = 0.2
    busy_flush_interval_s: float = 0.8
    spool_sync: str = "write"  # engine/ingest/spool.py SYNC_MODES
    batch_size: int = 20_000
    max_spool_bytes: int = 2 * 1024**3
    fault_insert_file: str | None = None
    import_max_bytes: int = 64 * 1024**2
    import_max_lines: int = 100_000
    # Processes that decode and validate large import requests (0: in the request's thread, the
    # default: measured faster on 2 cores, as handing parsed lines back costs about what parsing
    # them does; docs/import.md).
    import_workers: int = 0
    # Cluster mode (docs/deploy.md): the <remote_servers> cluster name, and Replicated* tables.
    cluster: str | None = None
    replicated: bool = False
    on_cluster: bool = False
    # Sites, keys and goals changed through another app node are seen here within this time.
    registry_refresh_s: float = 10.0
    # The visitor-hashing secret; several app nodes in front of one store must share it.
    secret_file: str | None = None

    @classmethod
    def from_env(cls, **overrides) -> Config:
        env = os.environ
        data_dir = os.path.abspath(overrides.pop("data_dir", None) or env.get("CLICKPORT_DATA_DIR", "data"))
        values = dict(
            data_dir=data_dir,
            clickhouse_url=env.get("CLICKPORT_CLICKHOUSE_URL") or default_dsn(data_dir),
            admin_token=(_admin_token(env.get("CLICKPORT_ADMIN_TOKEN"))
                         or load_or_create_admin_token(data_dir)),
            geoip_path=env.get("CLICKPORT_GEOIP_PATH") or default_geoip_path(data_dir),
            trusted_proxies=TrustedProxies.parse(
                env.get("CLICKPORT_TRUSTED_PROXIES", "127.0.0.1/32,::1/128")),
            max_body_bytes=_number(env, "CLICKPORT_MAX_BODY_BYTES", 64 * 1024, int),
            max_header_bytes=_number(env, "CLICKPORT_MAX_HEADER_BYTES", cls.max_header_bytes, int),
            header_timeout_s=_number(env, "CLICKPORT_HEADER_TIMEOUT_S", cls.header_timeout_s, float),
            body_timeout_s=_number(env, "CLICKPORT_BODY_TIMEOUT_S", cls.body_timeout_s, float),
            keepalive_s=_number(env, "CLICKPORT_KEEPALIVE_S", cls.keepalive_s, float),
            max_connections=_number(env, "CLICKPORT_MAX_CONNECTIONS", cls.max_connections, int),
            max_requests_per_connection=_positive_int(
                env, "CLICKPORT_MAX_REQUESTS_PER_CONNECTION", cls.max_requests_per_connection),
            metrics_token=env.get("CLICKPORT_METRICS_TOKEN", ""),
            auth_free_failures=_number(env, "CLICKPORT_AUTH_FREE_FAILURES", cls.auth_free_failures, int),
            auth_backoff_max_s=_number(env, "CLICKPORT_AUTH_BACKOFF_MAX_S", cls.auth_backoff_max_s, float),
            query_timeout_s=_number(env, "CLICKPORT_QUERY_TIMEOUT_S", 20, float),
            query_concurrency=_number(env, "CLICKPORT_QUERY_CONCURRENCY", cls.query_concurrency, int),
            query_per_site=_number(env, "CLICKPORT_QUERY_PER_SITE", cls.query_per_site, int),
            query_queue=_number(env, "CLICKPORT_QUERY_QUEUE", cls.query_queue, int),
            query_per_site_queue=_number(env, "CLICKPORT_QUERY_PER_SITE_QUEUE", cls.query_per_site_queue,
                                         int),
            query_threads=_positive_int(env, "CLICKPORT_QUERY_THREADS", cls.query_threads),
            query_max_memory=_number(env, "CLICKPORT_QUERY_MAX_MEMORY", 4 * 1024**3, int),
            flush_interval_s=_number(env, "CLICKPORT_FLUSH_INTERVAL_S", 0.2, float),
            busy_flush_interval_s=_number(env, "CLICKPORT_BUSY_FLUSH_INTERVAL_S", 0.8, float),
            spool_sync=_one_of(env, "CLICKPORT_SPOOL_SYNC", SYNC_MODES, cls.spool_sync),
            batch_size=_number(env, "CLICKPORT_BATCH_SIZE", 20_000, int),
            max_spool_bytes=_number(env, "CLICKPORT_MAX_SPOOL_BYTES", 2 * 1024**3, int),
            fault_insert_file=env.get("CLICKPORT_FAULT_INSERT_FILE") or None,
            import_max_bytes=_number(env, "CLICKPORT_IMPORT_MAX_BYTES", 64 * 1024**2, int),
            import_max_lines=_number(env, "CLICKPORT_IMPORT_MAX_LINES", 100_000, int),
            import_workers=_number(env, "CLICKPORT_IMPORT_WORKERS", cls.import_workers, int),
            cluster=env.get("CLICKPORT_CLUSTER") or None,
            replicated=env.get("CLICKPORT_REPLICATED", "").strip().lower() in ("1", "true", "yes"),
            on_cluster=env.get("CLICKPORT_ON_CLUSTER", "").strip().lower() in ("1", "true", "yes"),
            registry_refresh_s=_number(env, "CLICKPORT_REGISTRY_REFRESH_S", 10, float),
            secret_file=env.get("CLICKPORT_SECRET_FILE") or None,
        )
        values.update(overrides)
        return cls(**values)


MIN_ADMIN_TOKEN_CHARS = 16


def _number(env, name: str, default, kind: type):
    try:
        return kind(env.get(name, default))
    except ValueError:
        raise ValueError(f"{name}: not a {'whole ' if kind is int else ''}number "
                         f"(got {env.get(name)!r})") from None


def _one_of(env, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, default).strip().lower()
    if value not in allowed:
        raise ValueError(f"{name}: one of {', '.join(allowed)} (got {value!r})")
    return value


def _positive_int(env, name: str, default: int) -> int:
    value = _number(env, name, default, int)
    if value < 1:
        raise ValueError(f"{name}: must be at least 1")
    return value


def _admin_token(value: str | None) -> str | None:
    """A configured admin token must not be guessable by brute force."""
    if value and len(value.strip()) < MIN_ADMIN_TOKEN_CHARS:
        raise ValueError(f"CLICKPORT_ADMIN_TOKEN: at least {MIN_ADMIN_TOKEN_CHARS} characters "
                         "(the generated one has 47)")
    return value.strip() if value else None


def admin_token_path(data_dir: str) -> str:
    return os.path.join(data_dir, "admin_token")


def load_or_create_admin_token(data_dir: str) -> str:
    path = admin_token_path(data_dir)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
        if token:
            return token
    os.makedirs(data_dir, exist_ok=True)
    token = "cka_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def default_geoip_path(data_dir: str) -> str | None:
    """The installed DB-IP City Lite database, or a user's GeoLite2-City in the data dir."""
    for name in ("GeoLite2-City.mmdb", "dbip-city-lite.mmdb"):
        path = os.path.join(data_dir, "geo", name)
        if os.path.exists(path):
            return path
    return None
