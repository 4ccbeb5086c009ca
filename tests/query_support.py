"""Helpers for the query-engine tests: visitors with chosen IPs and user agents that send exactly
known events through POST /api/event, a frozen query clock, and query shortcuts.

Every visitor gets its own IP (one never shared with another test module), so rate limits and
visitor hashes never mix across tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import time
from typing import Any

from tests.conftest import SiteCtx, create_site

UTC = dt.UTC

CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)

# Networks with known answers in MaxMind's GeoLite2-City-Test.mmdb.
_GEO_POOLS = {
    "GB": [f"81.2.69.{n}" for n in range(160, 192)],          # England, London
    "SE": [f"89.160.20.{n}" for n in range(128, 256)],        # Östergötland County, Linköping
    "CN": [f"175.16.199.{n}" for n in range(0, 256)],         # Jilin Sheng, Changchun
    "US": [f"214.78.{n // 256}.{n % 256}" for n in range(0, 8192)],  # California, San Diego
    "BT": [f"67.43.156.{n}" for n in range(0, 256)],          # country only
}
_geo_counters = {code: itertools.count() for code in _GEO_POOLS}
_anon = itertools.count(1)


def new_ip(country: str | None = None) -> str:
    """A fresh visitor IP: in a known country, or in 100.64/10 (never geolocated)."""
    if country is None:
        n = next(_anon)
        return f"100.{100 + (n >> 16) % 28}.{(n >> 8) & 255}.{n & 255}"
    pool = _GEO_POOLS[country]
    return pool[next(_geo_counters[country]) % len(pool)]


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def at(text: str) -> dt.datetime:
    """'2026-10-05 10:00:00' (UTC) or an ISO string with an offset → aware datetime."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Visitor:
    """One person (IP + user agent) on one site. Events continue the current session by passing
    its session_id back; `new_session()` makes the next event start a fresh one (the caller
    leaves more than 30 minutes since the previous event)."""

    def __init__(self, client, site, *, country: str | None = None, ua: str = CHROME_WIN,
                 ip: str | None = None):
        self.client = client
        self.site = site
        self.ip = ip or new_ip(country)
        self.ua = ua
        self.session_id: int | None = None

    def send(self, moment: dt.datetime | str, **fields: Any) -> dict:
        if isinstance(moment, str):
            moment = at(moment)
        path = fields.pop("path", "/")
        body = {"type": "pageview", "url": f"https://{self.site.domain}{path}",
                "timestamp": iso(moment), **fields}
        if self.session_id is not None and "session_id" not in body:
            body["session_id"] = self.session_id
        response = self.client.post(
            "/api/event", json=body,
            headers={"x-api-key": self.site.track_key, "User-Agent": self.ua,
                     "X-Forwarded-For": self.ip},
        )
        assert response.status_code == 200, response.text
        data = response.json()
        assert data.get("success") is True and data.get("session_id"), data
        self.session_id = data["session_id"]
        return data

    def new_session(self) -> Visitor:
        self.session_id = None
        return self

    def pageview(self, moment, path: str = "/", **fields) -> str:
        return self.send(moment, path=path, **fields)["page_visit_id"]

    def engage(self, moment, page_visit_id: str, path: str = "/", scroll: int | None = None,
               engaged_ms: int | None = None) -> None:
        fields: dict[str, Any] = {"type": "engagement", "page_visit_id": page_visit_id}
        if scroll is not None:
            fields["scroll_depth"] = scroll
        if engaged_ms is not None:
            fields["engaged_ms"] = engaged_ms
        self.send(moment, path=path, **fields)

    def click(self, moment, path: str = "/", name: str = "") -> None:
        self.send(moment, path=path, type="click", **({"name": name} if name else {}))

    def custom(self, moment, name: str, path: str = "/", **fields) -> None:
        self.send(moment, path=path, type="custom", name=name, **fields)

    def form(self, moment, name: str = "", path: str = "/", **fields) -> None:
        self.send(moment, path=path, type="form", **({"name": name} if name else {}), **fields)


def flush(app, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while app.state.writer.pending:
        assert time.monotonic() < deadline, "writer did not flush"
        time.sleep(0.02)


@contextlib.contextmanager
def frozen_clock(app, now: dt.datetime):
    previous = getattr(app.state, "query_clock", None)
    app.state.query_clock = lambda: now
    try:
        yield
    finally:
        app.state.query_clock = previous


def post_query(client, site, body: dict, status: int = 200, key: str | None = None) -> dict:
    response = client.post("/api/query", json=body, headers={"x-api-key": key or site.read_key})
    assert response.status_code == status, response.text
    return response.json()


def get(client, site, path: str, params: dict | None = None, status: int = 200) -> dict:
    response = client.get(path, params=params or None, headers={"x-api-key": site.read_key})
    assert response.status_code == status, response.text
    return response.json()


QSite = SiteCtx


def make_site(client, admin_headers, timezone: str = "UTC") -> QSite:
    """conftest's `create_site`, for module-scoped fixtures."""
    return create_site(client, admin_headers, timezone)


def add_goal(client, admin_headers, site: QSite, name: str, goal_type: str, match: str = "") -> int:
    r = client.post(f"/api/admin/sites/{site.site_id}/goals",
                    json={"name": name, "type": goal_type, "match": match}, headers=admin_headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def rollup_and_raw(store, site, body: dict, now: dt.datetime, switch=None) -> tuple[dict, dict]:
    """The same query answered with pre-aggregated rows and from raw data only: `switch` is the
    module whose ENABLED flag is turned off for the second answer (default engine.query.rollup;
    engine.query.props_rollup for the property day rows)."""
    from engine.query import rollup
    from engine.query.run import run_query_sync

    switch = switch or rollup
    fast = run_query_sync(store, site, body, now=now)
    switch.ENABLED = False
    try:
        slow = run_query_sync(store, site, body, now=now)
    finally:
        switch.ENABLED = True
    return fast, slow
