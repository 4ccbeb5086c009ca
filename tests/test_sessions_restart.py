"""Sessions survive restarts (SPEC §2, issue 10): SIGTERM, and SIGKILL followed by the replay of
acknowledged events, never split or merge a session; both continuation rules (a passed-back
session_id, and the 30-minute rule) see every acknowledged event, in ClickHouse or still in the
spool. The visits carry past timestamps and arrive newest first, next to live ones."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.conftest import CHROME_UA
from tests.serverproc import ServerProcess

DAY = dt.datetime(2026, 10, 5, tzinfo=dt.UTC)


def _at(hour: int, minute: int = 0) -> str:
    return (DAY + dt.timedelta(hours=hour, minutes=minute)).isoformat()


class Sender:
    def __init__(self, server: ServerProcess, key: str, domain: str):
        self.server, self.key, self.domain = server, key, domain

    def send(self, ip: str, path: str, timestamp: str | None = None, session_id: int | None = None) -> int:
        body = {"type": "pageview", "url": f"https://{self.domain}{path}"}
        if timestamp:
            body["timestamp"] = timestamp
        if session_id:
            body["session_id"] = session_id
        r = httpx.post(self.server.base + "/api/event", json=body, timeout=30,
                       headers={"x-api-key": self.key, "User-Agent": CHROME_UA, "X-Forwarded-For": ip})
        assert r.status_code == 200, r.text
        return r.json()["session_id"]


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_a_restart_never_splits_a_session(server_factory, stop):
    # A long flush interval keeps acknowledged events in the spool until the SIGKILL.
    env = {"CLICKPORT_FLUSH_INTERVAL_S": "30", "CLICKPORT_BUSY_FLUSH_INTERVAL_S": "30"}
    server = server_factory(**env)
    domain = f"restart-{stop}.example"
    _, key = server.site_with_key(domain)
    first = Sender(server, key, domain)
    # An offline sender uploads newest first: the 15:00 visit, then the 10:00 one.
    late = first.send("203.0.113.10", "/late", _at(15))
    early = first.send("203.0.113.10", "/early", _at(10))
    assert late != early
    # A visitor who passes its session id back, and a live visitor.
    by_id = first.send("203.0.113.11", "/a", _at(9))
    live = first.send("203.0.113.12", "/now")
    if stop == "sigterm":
        assert server.terminate() == 0
    else:
        server.kill()
    server = server_factory(**env)
    after = Sender(server, key, domain)
    assert after.send("203.0.113.10", "/early-2", _at(10, 5)) == early  # the 30-minute rule
    assert after.send("203.0.113.10", "/late-2", _at(15, 20)) == late
    assert after.send("203.0.113.11", "/b", _at(23), session_id=by_id) == by_id  # continuation by id
    assert after.send("203.0.113.12", "/now-2") == live
    # And a new visit after 30 quiet minutes is still a new session.
    assert after.send("203.0.113.10", "/later", _at(11)) not in (early, late)
