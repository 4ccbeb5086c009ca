"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import re

from tests.conftest import send, wait_flushed


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["schema"] >= 1


def test_metrics_count_events_and_time_routes(client, app, new_site):
    site = new_site()
    before = client.get("/metrics").text
    send(client, site)
    send(client, site, headers={"DNT": "1"})
    wait_flushed(app)
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def grew(name: str) -> float:
        return _metric(text, name) - _metric(before, name)

    assert grew("clickport_events_accepted_total") == 1
    assert grew("clickport_events_stored_total") >= 1
    assert grew("clickport_events_dropped_dnt_total") == 1
    assert _metric(text, "clickport_events_pending") == 0
    assert 'clickport_http_request_duration_seconds_count{route="/api/event",status="2xx"}' in text
    assert "clickport_insert_duration_seconds_count" in text
