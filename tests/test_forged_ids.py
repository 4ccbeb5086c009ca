"""Forged session / page-visit ids cost nothing (issue 10): ids carry a MAC under the server
secret, so an id the server never issued needs no store lookup; misses are cached; realtime's
ids cannot be sent back to write into a live session."""

from __future__ import annotations

import random

from engine.ingest.identity import (
    MAX_SESSION_ID,
    new_page_visit_id,
    new_session_id,
    page_visit_id_is_ours,
    session_id_is_ours,
)
from tests.conftest import CHROME_UA, fresh_ip, send, wait_flushed


def test_issued_ids_verify_and_guesses_do_not():
    assert all(session_id_is_ours(new_session_id()) for _ in range(1000))
    assert all(0 < new_session_id() < MAX_SESSION_ID for _ in range(1000))
    assert all(page_visit_id_is_ours(new_page_visit_id()) for _ in range(1000))
    rng = random.Random(7)
    guesses = [rng.randrange(1, MAX_SESSION_ID) for _ in range(20_000)]
    assert sum(map(session_id_is_ours, guesses)) < 20  # ~1/4096 pass by chance
    assert sum(page_visit_id_is_ours(rng.randrange(1, 2**63)) for _ in range(20_000)) < 5


def test_forged_ids_need_no_store_lookup(app, client, new_site):
    site = new_site()
    sessions = app.state.ingestor.sessions
    before = sessions.store_lookups
    forged = [random.randrange(1, MAX_SESSION_ID) for _ in range(30)]
    forged = [f for f in forged if not session_id_is_ours(f)][:20]
    for fake in forged:
        r = send(client, site, session_id=fake)
        assert r.status_code == 200 and r.json()["session_id"] != fake
    for fake in forged:
        r = send(client, site, type="engagement", page_visit_id=f"{fake:x}", scroll_depth=10)
        assert r.status_code == 400 and "page_visit_id" in r.json()["message"]
    assert sessions.store_lookups == before


def test_a_forged_page_visit_id_is_refused_before_any_other_work(app, client, new_site):
    """A forged engagement is a 400 right after parsing: no site lookup (an unknown domain gets
    the same 400, not a 404), no client IP, no drop rule, no rate-limit bucket (was: the whole
    pipeline ran first, and a bot user agent even got a 200 "dropped")."""
    site = new_site()
    fake = next(f for f in iter(lambda: random.randrange(1, 2**63), None) if not page_visit_id_is_ours(f))
    limiter, ingestor = app.state.ingestor.rate_limiter, app.state.ingestor
    buckets, dropped = len(limiter), dict(ingestor.dropped)
    forged_before = ingestor.sessions.forged_ids
    for domain in (site.domain, "no-such-site.forged.example"):
        r = client.post("/api/collect", headers={"User-Agent": CHROME_UA, "Content-Type": "text/plain",
                                                 "X-Forwarded-For": fresh_ip()},
                        json={"type": "engagement", "url": f"https://{domain}/", "domain": domain,
                              "page_visit_id": f"{fake:x}", "scroll_depth": 10})
        assert r.status_code == 400 and r.json()["message"].startswith("page_visit_id"), r.text
    r = send(client, site, ua="curl/8.0 (bot)", type="engagement", page_visit_id=f"{fake:x}", scroll_depth=10)
    assert r.status_code == 400 and r.json()["message"].startswith("page_visit_id"), r.text
    assert len(limiter) == buckets and ingestor.dropped == dropped
    assert ingestor.sessions.forged_ids - forged_before == 3


def test_a_missing_issued_id_is_looked_up_once(app, client, new_site):
    site = new_site()
    sessions = app.state.ingestor.sessions
    unknown = new_session_id()  # verifies, but no such session exists
    before = sessions.store_lookups
    for _ in range(5):
        assert send(client, site, session_id=unknown).status_code == 200
    assert sessions.store_lookups - before == 1


def test_realtime_ids_cannot_write_into_a_session(client, app, new_site):
    site = new_site()
    r = send(client, site, ip=fresh_ip())
    real = r.json()["session_id"]
    wait_flushed(app)
    shown = client.get("/api/realtime", headers={"x-api-key": site.read_key}).json()["visitors"]
    assert [v["session_id"] for v in shown] and all(v["session_id"] != real for v in shown)
    stranger = send(client, site, ip=fresh_ip(), session_id=shown[0]["session_id"])
    assert stranger.status_code == 200 and stranger.json()["session_id"] != real
