"""Embedded vs server: the same events into an embedded app and into an app on a ClickHouse server
(a local chDB node, tests/conftest.py), then the differential request set (tests/differential.py)
against both: every answer must be the same JSON (time zones, FINAL, settings such as readonly,
parameter binding and result types all take the HTTP path on one side)."""

from __future__ import annotations

import pytest

from tests.conftest import create_site, wait_flushed
from tests.differential import add_goals, build_visitors, differences, requests, run_requests, send_visitor

pytestmark = pytest.mark.server_mode


def load_and_query(app, client, visitors) -> list:
    admin = {"Authorization": f"Bearer {app.state.config.admin_token}"}
    site = create_site(client, admin)
    add_goals(client, admin, site.site_id)
    for visitor in visitors:
        send_visitor(client.post, site.domain, site.track_key, visitor)
    wait_flushed(app)
    return run_requests(client, site.read_key)


def test_server_mode_answers_equal_embedded(embedded_app, embedded_client, server_app, server_client):
    visitors = build_visitors(seed=11)
    assert len(requests()) >= 100
    expected = load_and_query(embedded_app, embedded_client, visitors)
    actual = load_and_query(server_app, server_client, visitors)
    assert [status for status, _ in expected] == [200] * len(expected)
    totals = expected[0][1]["results"]
    sessions = sum(len(v.sessions) for v in visitors)
    pageviews = sum(e["type"] == "pageview" for v in visitors for s in v.sessions for e in s)
    assert (totals["sessions"], totals["pageviews"]) == (sessions, pageviews)
    assert differences(expected, actual) == []
