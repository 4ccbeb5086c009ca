"""Shared fixtures.

chDB allows one data directory per process, so the whole test session shares ONE embedded store
and ONE app; tests isolate themselves by creating their own sites (a key never sees another site).

Server mode: the modules in SERVER_MODE_MODULES run twice, against the embedded app and against
an app whose store is a ClickHouse server (`store_mode` = "embedded" / "server"; the server runs
get the `server_mode` marker). The server is a local chDB node (engine/chserver.py) unless
CLICKHOUSE_URL names one (e.g. http://default:@127.0.0.1:8123) or CLICKPORT_TEST_CLICKHOUSE_IMAGE
names a clickhouse-server image for testcontainers (needs Docker).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from starlette.testclient import TestClient

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
# The rollup maintenance thread stays off in the shared test app: tests that want rollups seal
# explicitly (engine.rollups.seal_all), so no other test's answers change path mid-test.
os.environ.setdefault("CLICKPORT_ROLLUP_INTERVAL_S", "0")

_domains = itertools.count(1)
_ips = itertools.count(1)

# Under CI a test that cannot run is a failure, never a quiet skip (a suite that skipped most of
# its HTTP tests once passed with exit 0). Locally a missing resource still skips, with the reason.
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_resource(reason: str, module_level: bool = False) -> None:
    """Call when a test resource (download, browser, database file) is unavailable: fails under
    CI=true, skips otherwise. Never returns."""
    if IN_CI:
        pytest.fail(f"missing test resource (CI=true makes this an error): {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


@pytest.fixture(scope="session")
def geo_test_db(tmp_path_factory) -> str | None:
    """MaxMind's GeoLite2-City-Test.mmdb (known answers), fetched from the maxminddb sdist."""
    from engine.enrich.geo_install import install_test_db

    cache = os.environ.get("CLICKPORT_TEST_GEO_DIR", os.path.expanduser("~/.cache/clickport/test-geo"))
    try:
        return install_test_db(cache)
    except Exception as exc:  # noqa: BLE001 - only when the package registry is unreachable
        missing_resource(f"cannot fetch MaxMind's test database from PyPI: {exc}")


# The HTTP / ingest / query suites that also run against a ClickHouse server (`pytest -m server_mode`).
SERVER_MODE_MODULES = frozenset({
    "test_ingest_http", "test_sessions", "test_collect", "test_query_endpoints", "test_query_metrics",
    "test_query_filters", "test_query_time", "test_query_rollup",
    "test_query_validation", "test_security",
})


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "store_mode" in metafunc.fixturenames and module in SERVER_MODE_MODULES:
        metafunc.parametrize(
            "store_mode", ["embedded", pytest.param("server", marks=pytest.mark.server_mode)],
            indirect=True, scope="module",
        )


def _make_app(data_dir: str, geo_path: str | None, clickhouse_url: str | None = None, **extra):
    from server.app import create_app
    from server.config import Config

    overrides = {"clickhouse_url": clickhouse_url} if clickhouse_url else {}
    config = Config.from_env(data_dir=data_dir, geoip_path=geo_path, flush_interval_s=0.05,
                             busy_flush_interval_s=0.05, **overrides, **extra)
    return create_app(config)


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory):
    """Base URL (no database) of a ClickHouse server for the session: see the module docstring."""
    url = os.environ.get("CLICKHOUSE_URL")
    if url:
        yield urlparse(url)._replace(path="").geturl()
        return
    image = os.environ.get("CLICKPORT_TEST_CLICKHOUSE_IMAGE")
    if image:
        from testcontainers.clickhouse import ClickHouseContainer

        with ClickHouseContainer(image) as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(8123)
            yield f"http://{container.username}:{container.password}@{host}:{port}"
        return
    from engine.chserver import start_single

    node = start_single(str(tmp_path_factory.mktemp("chserver")))
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture(scope="session")
def embedded_app(tmp_path_factory, geo_test_db):
    return _make_app(str(tmp_path_factory.mktemp("clickport-data")), geo_test_db)


@pytest.fixture(scope="session")
def server_app(tmp_path_factory, geo_test_db, clickhouse_server):
    return _make_app(str(tmp_path_factory.mktemp("clickport-server-data")), geo_test_db,
                     clickhouse_server + "/clickport_suite")


@pytest.fixture(scope="session")
def embedded_client(embedded_app):
    with TestClient(embedded_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def server_client(server_app):
    with TestClient(server_app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def store_mode(request) -> str:
    """"embedded", or "server" for the second run of a module in SERVER_MODE_MODULES."""
    return getattr(request, "param", "embedded")


@pytest.fixture(scope="module")
def app(request, store_mode):
    return request.getfixturevalue(f"{store_mode}_app")


@pytest.fixture(scope="module")
def client(request, store_mode, app):
    return request.getfixturevalue(f"{store_mode}_client")


@pytest.fixture(scope="module")
def admin_headers(app) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.state.config.admin_token}"}


@dataclass
class SiteCtx:
    site_id: int
    domain: str
    timezone: str
    key: str  # read + tracker
    read_key: str
    track_key: str


def create_site(client, admin_headers, timezone: str = "UTC") -> SiteCtx:
    """A fresh site with a read+tracker key, a read-only key and a tracker-only key."""
    domain = f"site{next(_domains)}-{os.getpid()}-{time.monotonic_ns() % 10**6}.example.com"
    r = client.post("/api/admin/sites", json={"domain": domain, "timezone": timezone},
                    headers=admin_headers)
    assert r.status_code == 201, r.text
    site_id = r.json()["id"]
    keys = []
    for perms in (["read", "tracker"], ["read"], ["tracker"]):
        r = client.post(f"/api/admin/sites/{site_id}/keys", json={"permissions": perms},
                        headers=admin_headers)
        assert r.status_code == 201, r.text
        keys.append(r.json()["key"])
    return SiteCtx(site_id, domain, timezone, *keys)


@pytest.fixture
def new_site(client, admin_headers):
    """Factory fixture over `create_site`."""

    def make(timezone: str = "UTC") -> SiteCtx:
        return create_site(client, admin_headers, timezone)

    return make


def fresh_ip() -> str:
    """A distinct public-looking visitor IP per call (documentation ranges are not geolocated)."""
    n = next(_ips)
    return f"198.51.{(n >> 8) & 255}.{n & 255}"


def send(client, site: SiteCtx, *, ip: str | None = None, ua: str = CHROME_UA,
         headers: dict | None = None, **fields):
    body = {"type": "pageview", "url": f"https://{site.domain}/", **fields}
    hdrs = {"x-api-key": site.key, "User-Agent": ua, "X-Forwarded-For": ip or fresh_ip()}
    hdrs.update(headers or {})
    return client.post("/api/event", json=body, headers=hdrs)


def wait_flushed(app, timeout: float = 10.0) -> None:
    """Block until every accepted event has been inserted (the writer is empty)."""
    deadline = time.monotonic() + timeout
    while app.state.writer.pending:
        if time.monotonic() > deadline:
            raise AssertionError(f"writer did not flush: {app.state.writer.stats()}")
        time.sleep(0.02)


@pytest.fixture
def server_factory(tmp_path):
    """Start `clickport serve` processes on one data dir (tests/serverproc.py); killed at the end."""
    from tests.serverproc import ServerProcess

    started: list[ServerProcess] = []

    def make(**env: str) -> ServerProcess:
        server = ServerProcess(str(tmp_path), env).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()
