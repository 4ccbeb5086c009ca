"""Visitor ids, sessions, page visits and the session aggregates built by the materialized view."""

from __future__ import annotations

import datetime as dt
import random

from tests.conftest import fresh_ip, send, wait_flushed

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def session_row(app, site, session_id: int) -> dict:
    wait_flushed(app)
    rows = app.state.store.dicts(
        """
        SELECT session_id, sum(pageviews) AS pageviews, sum(clicks) AS clicks,
               sum(engaged_ms) AS engaged_ms, max(max_scroll) AS max_scroll,
               argMinMerge(entry_page) AS entry_page, argMaxMerge(exit_page) AS exit_page,
               min(session_start) AS start, max(last_event) AS last_event,
               any(source) AS source, any(country) AS country
        FROM sessions WHERE site_id = {s:UInt32} AND session_id = {id:UInt64}
        GROUP BY site_id, session_start, session_id
        """,
        {"s": site.site_id, "id": session_id},
    )
    assert len(rows) == 1, rows
    return rows[0]


def user_ids(app, site) -> list[int]:
    wait_flushed(app)
    return [r[0] for r in app.state.store.rows(
        "SELECT user_id FROM events WHERE site_id = {s:UInt32} ORDER BY timestamp", {"s": site.site_id})]


def test_thirty_minute_rule(client, app, new_site):
    site = new_site()
    ip = fresh_ip()
    s1 = send(client, site, ip=ip, timestamp=iso(T0)).json()["session_id"]
    s2 = send(client, site, ip=ip, timestamp=iso(T0 + dt.timedelta(minutes=29))).json()["session_id"]
    s3 = send(client, site, ip=ip, timestamp=iso(T0 + dt.timedelta(minutes=59))).json()["session_id"]
    s4 = send(client, site, ip=ip, timestamp=iso(T0 + dt.timedelta(minutes=90))).json()["session_id"]
    assert s1 == s2 == s3  # each gap is at most 30 minutes
    assert s4 != s3  # 31 minutes of silence
    other = send(client, site, ip=fresh_ip(), timestamp=iso(T0)).json()["session_id"]
    assert other not in (s1, s4)


def test_session_id_continues_without_timeout(client, app, new_site):
    site = new_site()
    first = send(client, site, timestamp=iso(T0), url=f"https://{site.domain}/a",
                 referrer="https://news.ycombinator.com/").json()
    # A different IP and three hours later: the passed-back id still continues the session,
    # and the session keeps its first event's attributes.
    later = send(client, site, ip=fresh_ip(), session_id=first["session_id"],
                 timestamp=iso(T0 + dt.timedelta(hours=3)), url=f"https://{site.domain}/b").json()
    assert later["session_id"] == first["session_id"]
    row = session_row(app, site, first["session_id"])
    assert (row["pageviews"], row["entry_page"], row["exit_page"]) == (2, "/a", "/b")
    assert row["source"] == "Hacker News"
    wait_flushed(app)
    sources = {r[0] for r in app.state.store.rows(
        "SELECT source FROM events WHERE site_id = {s:UInt32}", {"s": site.site_id})}
    assert sources == {"Hacker News"}


def test_unknown_session_id_starts_a_new_session(client, new_site):
    site = new_site()
    r = send(client, site, session_id=123456789)
    assert r.status_code == 200 and r.json()["session_id"] != 123456789


def test_visitor_id_rotates_at_the_sites_midnight(client, app, new_site):
    site = new_site("America/New_York")  # UTC-5 in January
    ip = fresh_ip()
    moments = [
        dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC),   # 05:00 local, Jan 15
        dt.datetime(2026, 1, 16, 4, 50, tzinfo=dt.UTC),   # 23:50 local, Jan 15
        dt.datetime(2026, 1, 16, 5, 10, tzinfo=dt.UTC),   # 00:10 local, Jan 16
    ]
    for moment in moments:
        assert send(client, site, ip=ip, timestamp=iso(moment)).status_code == 200
    a, b, c = user_ids(app, site)
    assert a == b  # same local day, although the UTC dates differ
    assert c != b  # the local midnight passed


def test_backfilled_event_hashes_like_a_live_one(client, app, new_site):
    site = new_site()
    ip = fresh_ip()
    now = dt.datetime.now(dt.UTC)
    send(client, site, ip=ip)
    send(client, site, ip=ip, timestamp=iso(now - dt.timedelta(seconds=1)), type="click", name="x")
    a, b = user_ids(app, site)
    assert a == b


def test_engagement_updates_reach_session_and_page_visit(client, app, new_site):
    site = new_site()
    pv = send(client, site, timestamp=iso(T0)).json()
    sid, visit = pv["session_id"], pv["page_visit_id"]
    for seconds, scroll, ms in ((5, 10, 5000), (20, 20, 14000), (30, 20, 14000)):  # last one re-sent
        r = send(client, site, type="engagement", page_visit_id=visit, scroll_depth=scroll,
                 engaged_ms=ms, timestamp=iso(T0 + dt.timedelta(seconds=seconds)))
        assert r.status_code == 200 and r.json()["session_id"] == sid
    row = session_row(app, site, sid)
    assert (row["pageviews"], row["engaged_ms"], row["max_scroll"]) == (1, 14000, 20)
    # Still a bounce by all four conditions (1 pageview, no click, scroll < 25, engaged < 15 s) ...
    assert row["pageviews"] <= 1 and row["clicks"] == 0 and row["max_scroll"] < 25
    assert row["engaged_ms"] < 15000
    # ... until engagement crosses 15 s; a lower, stale update then changes nothing.
    send(client, site, type="engagement", page_visit_id=visit, engaged_ms=15500)
    send(client, site, type="engagement", page_visit_id=visit, engaged_ms=9000, scroll_depth=5)
    row = session_row(app, site, sid)
    assert (row["engaged_ms"], row["max_scroll"], row["pageviews"]) == (15500, 20, 1)
    wait_flushed(app)
    [visit_row] = app.state.store.dicts(
        "SELECT max(max_scroll) AS scroll, max(max_engaged_ms) AS ms, sum(pageviews) AS pv, "
        "any(pathname) AS path FROM page_visits WHERE site_id = {s:UInt32} GROUP BY page_visit_id",
        {"s": site.site_id},
    )
    assert visit_row == {"scroll": 20, "ms": 15500, "pv": 1, "path": "/"}


def test_state_is_recovered_from_the_store_after_a_restart(client, app, new_site):
    site = new_site()
    ip = fresh_ip()
    pv = send(client, site, ip=ip, timestamp=iso(T0)).json()
    wait_flushed(app)
    sessions = app.state.ingestor.sessions
    for cache in (sessions._by_id, sessions._by_visitor, sessions._page_visits):
        cache.clear()  # what a process restart loses
    by_id = send(client, site, ip=fresh_ip(), session_id=pv["session_id"],
                 timestamp=iso(T0 + dt.timedelta(hours=2)), url=f"https://{site.domain}/x").json()
    assert by_id["session_id"] == pv["session_id"]
    wait_flushed(app)
    for cache in (sessions._by_id, sessions._by_visitor, sessions._page_visits):
        cache.clear()
    by_visitor = send(client, site, ip=ip, timestamp=iso(T0 + dt.timedelta(hours=2, minutes=10))).json()
    assert by_visitor["session_id"] == pv["session_id"]
    wait_flushed(app)
    for cache in (sessions._by_id, sessions._by_visitor, sessions._page_visits):
        cache.clear()
    r = send(client, site, type="engagement", page_visit_id=pv["page_visit_id"], scroll_depth=70)
    assert r.status_code == 200 and r.json()["session_id"] == pv["session_id"]
    row = session_row(app, site, pv["session_id"])
    assert (row["pageviews"], row["max_scroll"], row["exit_page"]) == (3, 70, "/")


def test_click_marks_the_session(client, app, new_site):
    site = new_site()
    pv = send(client, site, timestamp=iso(T0)).json()
    send(client, site, type="click", name="Outbound Link: Click", session_id=pv["session_id"],
         timestamp=iso(T0 + dt.timedelta(seconds=3)))
    row = session_row(app, site, pv["session_id"])
    assert (row["pageviews"], row["clicks"]) == (1, 1)


RAW_SESSIONS_SQL = """
SELECT session_id,
       countIf(type = 'pageview') AS pageviews,
       countIf(type = 'click') AS clicks,
       sum(engaged_delta_ms) AS engaged_ms,
       max(ifNull(scroll_depth, 0)) AS max_scroll,
       argMinIf(pathname, (timestamp, event_id), type = 'pageview') AS entry_page,
       argMaxIf(pathname, (timestamp, event_id), type = 'pageview') AS exit_page,
       min(timestamp) AS first_event, max(timestamp) AS last_event
FROM events WHERE site_id = {s:UInt32}
GROUP BY session_id ORDER BY session_id
"""

MV_SESSIONS_SQL = """
SELECT session_id, sum(pageviews) AS pageviews, sum(clicks) AS clicks, sum(engaged_ms) AS engaged_ms,
       max(max_scroll) AS max_scroll, argMinMerge(entry_page) AS entry_page,
       argMaxMerge(exit_page) AS exit_page, min(session_start) AS first_event,
       max(last_event) AS last_event
FROM sessions WHERE site_id = {s:UInt32}
GROUP BY site_id, session_start, session_id ORDER BY session_id
"""


def _bounce(s: dict) -> bool:
    return s["pageviews"] <= 1 and s["clicks"] == 0 and s["max_scroll"] < 25 and s["engaged_ms"] < 15000


def _duration(s: dict) -> float:
    if s["engaged_ms"] > 0:
        return s["engaged_ms"] / 1000
    return (s["last_event"] - s["first_event"]).total_seconds()


def test_session_view_matches_group_by_over_raw_events(client, app, new_site):
    """Generated traffic: the MV's sessions equal a plain GROUP BY over the raw events."""
    site = new_site()
    rng = random.Random(7)
    paths = ["/", "/pricing", "/blog/a", "/blog/b", "/docs", "/about"]
    for _ in range(60):
        ip = fresh_ip()
        moment = T0 + dt.timedelta(minutes=rng.randrange(0, 600))
        session_id = None
        for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
            r = send(client, site, ip=ip, session_id=session_id, timestamp=iso(moment),
                     url=f"https://{site.domain}{rng.choice(paths)}")
            body = r.json()
            session_id = body["session_id"]
            for _ in range(rng.choice([0, 0, 1, 2])):
                moment += dt.timedelta(seconds=rng.randrange(1, 40))
                send(client, site, ip=ip, type="engagement", page_visit_id=body["page_visit_id"],
                     scroll_depth=rng.randrange(0, 101), engaged_ms=rng.randrange(0, 30000),
                     timestamp=iso(moment))
            if rng.random() < 0.2:
                send(client, site, ip=ip, type="click", name="Outbound", session_id=session_id,
                     timestamp=iso(moment + dt.timedelta(seconds=1)))
            moment += dt.timedelta(seconds=rng.randrange(5, 300))
    wait_flushed(app)
    raw = app.state.store.dicts(RAW_SESSIONS_SQL, {"s": site.site_id})
    mv = app.state.store.dicts(MV_SESSIONS_SQL, {"s": site.site_id})
    assert len(raw) == len(mv) >= 60
    for r, m in zip(raw, mv, strict=True):
        assert r["session_id"] == m["session_id"]
        for key in ("pageviews", "clicks", "engaged_ms", "max_scroll", "entry_page", "exit_page",
                    "first_event", "last_event"):
            assert r[key] == m[key], (key, r, m)
        assert _bounce(r) == _bounce(m) and _duration(r) == _duration(m)
    assert any(_bounce(s) for s in mv) and not all(_bounce(s) for s in mv)


def _wait_warm(sessions, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while sessions._complete_since is None:
        assert time.monotonic() < deadline, "session warm-up did not finish"
        time.sleep(0.05)


def test_live_new_visitors_need_no_store_lookup(client, app, new_site):
    """The hot path: once the session memory is warm, a new visitor costs no ClickHouse query."""
    site = new_site()
    sessions = app.state.ingestor.sessions
    _wait_warm(sessions)
    before = sessions.store_lookups
    ids = {send(client, site).json()["session_id"] for _ in range(20)}
    assert len(ids) == 20 and sessions.store_lookups == before
    # A backfilled event (before the memory was complete) still looks in the store.
    send(client, site, timestamp=iso(T0))
    assert sessions.store_lookups == before + 1


def test_warm_up_restores_live_sessions_after_a_restart(client, app, new_site):
    import asyncio

    site = new_site()
    ip = fresh_ip()
    first = send(client, site, ip=ip).json()
    wait_flushed(app)
    sessions = app.state.ingestor.sessions
    _wait_warm(sessions)
    for cache in (sessions._by_id, sessions._by_visitor, sessions._page_visits):
        cache.clear()  # a restart
    loaded = asyncio.run(sessions.warm_up(dt.datetime.now(dt.UTC)))
    assert loaded >= 1
    before = sessions.store_lookups
    again = send(client, site, ip=ip).json()
    assert again["session_id"] == first["session_id"] and sessions.store_lookups == before
