"""POST /api/funnel (SPEC §8): step order within a session, steps separated by other events,
repeated steps, equal timestamps, a step before the range start, a session continuing past
midnight, filters, step types, rounding, and 400s naming the field or step.

Sessions (UTC; range 2026-09-01 → 2026-09-08; V = visitor):
  S1  V1 GB  09-02 10:00 /, 10:01 /pricing, 10:05 custom signup            F1 level 3
  S2  V2     09-02 11:00 /, 11:01 /about, 11:02 /pricing                   F1 level 2
  S3  V3     09-03 10:00 /pricing, 10:01 /                                 F1 level 1 (wrong order)
  S4  V4     09-03 12:00 signup, 12:01 /, 12:02 /pricing                   F1 level 2 (signup too early)
  S5  V5     09-07 23:50 /, 09-08 00:10 /pricing, 00:20 signup             F1 level 3 (past midnight)
  S6  V6     08-31 23:50 /, 09-01 00:10 /pricing, 00:20 signup             not in the range (started before)
  S7  V7     09-04 10:00 /                                                 F1 level 1
  S8  V1 GB  09-02 14:00 /, 14:01 /pricing  (V1's second session)          F1 level 2
  S9  V8     09-05 10:00 / and /pricing at the same instant, 10:01 signup  F1 level 1 (not strictly after)
  S10 V9     09-05 12:00 /about                                            F1 level 0
  S11 V10    09-06 10:00 /, 10:01 /pricing, 10:02 /                        F1 level 2, F2 level 3
  S12 V11    09-06 15:00 /blog/a, 15:01 click cta, 15:02 form (meta form_id demo)
  S13 V12    09-06 16:00 /blog/a/b, 16:01 click cta
"""

from __future__ import annotations

import pytest

from engine.query.funnel import conversion
from tests.query_support import Visitor, at, flush, frozen_clock, make_site

NOW = at("2026-09-10 12:00:00")
RANGE = {"start": "2026-09-01", "end": "2026-09-08"}
HOME, PRICING, SIGNUP = ({"type": "pageview", "match": "/"}, {"type": "pageview", "match": "/pricing"},
                         {"type": "custom", "match": "signup"})


@pytest.fixture(scope="module")
def site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    v1 = Visitor(client, site, country="GB")
    v1.pageview("2026-09-02 10:00:00", "/")
    v1.pageview("2026-09-02 10:01:00", "/pricing")
    v1.custom("2026-09-02 10:05:00", "signup", "/pricing")
    v2 = Visitor(client, site)
    for minute, path in ((0, "/"), (1, "/about"), (2, "/pricing")):
        v2.pageview(f"2026-09-02 11:0{minute}:00", path)
    v3 = Visitor(client, site)
    v3.pageview("2026-09-03 10:00:00", "/pricing")
    v3.pageview("2026-09-03 10:01:00", "/")
    v4 = Visitor(client, site)
    v4.custom("2026-09-03 12:00:00", "signup")
    v4.pageview("2026-09-03 12:01:00", "/")
    v4.pageview("2026-09-03 12:02:00", "/pricing")
    for day, next_day in (("2026-09-07", "2026-09-08"), ("2026-08-31", "2026-09-01")):  # S5, S6
        v = Visitor(client, site)
        v.pageview(f"{day} 23:50:00", "/")
        v.pageview(f"{next_day} 00:10:00", "/pricing")
        v.custom(f"{next_day} 00:20:00", "signup", "/pricing")
    Visitor(client, site).pageview("2026-09-04 10:00:00", "/")
    v1.new_session()
    v1.pageview("2026-09-02 14:00:00", "/")
    v1.pageview("2026-09-02 14:01:00", "/pricing")
    v8 = Visitor(client, site)
    v8.pageview("2026-09-05 10:00:00", "/")
    v8.pageview("2026-09-05 10:00:00", "/pricing")
    v8.custom("2026-09-05 10:01:00", "signup", "/pricing")
    Visitor(client, site).pageview("2026-09-05 12:00:00", "/about")
    v10 = Visitor(client, site)
    for minute, path in ((0, "/"), (1, "/pricing"), (2, "/")):
        v10.pageview(f"2026-09-06 10:0{minute}:00", path)
    v11 = Visitor(client, site)
    v11.pageview("2026-09-06 15:00:00", "/blog/a")
    v11.click("2026-09-06 15:01:00", "/blog/a", name="cta")
    v11.form("2026-09-06 15:02:00", path="/blog/a", meta_keys=["form_id"], meta_values=["demo"])
    v12 = Visitor(client, site)
    v12.pageview("2026-09-06 16:00:00", "/blog/a/b")
    v12.click("2026-09-06 16:01:00", "/blog/a/b", name="cta")
    flush(app)
    with frozen_clock(app, NOW):
        yield site


def funnel(client, site, steps, status=200, **extra) -> dict:
    body = {"steps": steps, "date_range": RANGE, **extra}
    response = client.post("/api/funnel", json=body, headers={"x-api-key": site.read_key})
    assert response.status_code == status, response.text
    return response.json()


def counts(result) -> list[tuple[int, int]]:
    return [(s["sessions"], s["visitors"]) for s in result["steps"]]


def test_home_pricing_signup(client, site):
    result = funnel(client, site, [HOME, PRICING, {**SIGNUP, "name": "Signed up"}])
    # step 1: S1 S2 S3 S4 S5 S7 S8 S9 S11 (V1 twice); step 2: S1 S2 S4 S5 S8 S11; step 3: S1 S5
    assert result == {
        "steps": [
            {"name": "/", "sessions": 9, "visitors": 8, "conversion_rate": 100.0, "dropoff": 0},
            {"name": "/pricing", "sessions": 6, "visitors": 5, "conversion_rate": 66.7, "dropoff": 3},
            {"name": "Signed up", "sessions": 2, "visitors": 2, "conversion_rate": 22.2,
             "dropoff": 4},
        ],
        "conversion_rate": 22.2,
    }


def test_repeated_steps(client, site):
    # / → /pricing → / again: only S11 views / after /pricing
    result = funnel(client, site, [HOME, PRICING, HOME])
    assert counts(result) == [(9, 8), (6, 5), (1, 1)]
    assert [s["dropoff"] for s in result["steps"]] == [0, 3, 5]
    assert result["conversion_rate"] == 11.1
    # one event never counts for two steps: only S11 views / twice
    assert counts(funnel(client, site, [HOME, HOME])) == [(9, 8), (1, 1)]


def test_order_and_strictly_later(client, site):
    # /pricing → /: step 1 S1 S2 S3 S4 S5 S8 S9 S11; step 2 S3 (/pricing 10:00, / 10:01) and S11
    # (/pricing 10:01, / 10:02). S9's / and /pricing share one instant: neither follows the other.
    assert counts(funnel(client, site, [PRICING, HOME])) == [(8, 7), (2, 2)]
    # signup → /: step 1 S1 S4 S5 S9; step 2 S4 only (the others' signups come after their /)
    assert counts(funnel(client, site, [SIGNUP, HOME])) == [(4, 4), (1, 1)]


def test_range_edges(client, site):
    # S6 started before the range: its /pricing and signup on 09-01 are not counted
    one_day = {"start": "2026-09-01", "end": "2026-09-02"}
    assert counts(funnel(client, site, [HOME, PRICING, SIGNUP], date_range=one_day)) == [(0, 0)] * 3
    # …but in Tokyo time S6 starts on 09-01 (08:50 JST) and counts with all its steps
    tokyo = funnel(client, site, [HOME, PRICING, SIGNUP], date_range=one_day, timezone="Asia/Tokyo")
    assert counts(tokyo) == [(1, 1)] * 3
    # S5 started on 09-07 and continues past midnight: its 09-08 steps count in a 09-07 range
    last_day = {"start": "2026-09-07", "end": "2026-09-08"}
    assert counts(funnel(client, site, [HOME, PRICING, SIGNUP], date_range=last_day)) == [(1, 1)] * 3


def test_session_filters(client, site):
    gb = [{"dimension": "country", "operator": "is", "value": "GB"}]
    result = funnel(client, site, [HOME, PRICING, SIGNUP], filters=gb)
    assert counts(result) == [(2, 1), (2, 1), (1, 1)]
    assert [s["conversion_rate"] for s in result["steps"]] == [100.0, 100.0, 50.0]
    not_gb = [{"dimension": "country", "operator": "is_not", "value": "GB"}]
    assert counts(funnel(client, site, [HOME, PRICING, SIGNUP], filters=not_gb)) == [
        (7, 7), (4, 4), (1, 1)]


def test_click_and_form_steps(client, site):
    blog = {"type": "pageview", "match": "/blog/*"}
    steps = [blog, {"type": "click", "match": "cta"}, {"type": "form", "match": "demo"}]
    # /blog/* is one path segment: S13's /blog/a/b does not match
    assert counts(funnel(client, site, steps)) == [(1, 1), (1, 1), (1, 1)]
    any_click = [{"type": "pageview", "match": "/blog/**"}, {"type": "click"}]
    result = funnel(client, site, any_click)
    assert counts(result) == [(2, 2), (2, 2)]
    assert [s["name"] for s in result["steps"]] == ["/blog/**", "any click"]


def test_no_sessions(client, site):
    result = funnel(client, site, [HOME, PRICING], date_range={"start": "2026-01-01", "end": "2026-01-02"})
    assert result == {"steps": [
        {"name": "/", "sessions": 0, "visitors": 0, "conversion_rate": 0.0, "dropoff": 0},
        {"name": "/pricing", "sessions": 0, "visitors": 0, "conversion_rate": 0.0, "dropoff": 0},
    ], "conversion_rate": 0.0}


def test_period(client, site):
    # 7d at 2026-09-10 12:00 = 09-04 → now: S5 S7 S9 S11 enter; S5 and S11 view /pricing later
    assert counts(funnel(client, site, [HOME, PRICING], date_range=None, period="7d")) == [
        (4, 4), (2, 2)]


def test_conversion_rounding():
    assert conversion(1, 16) == 6.3      # 6.25, half away from zero
    assert conversion(1, 3) == 33.3
    assert conversion(2, 3) == 66.7
    assert conversion(5, 5) == 100.0
    assert conversion(0, 0) == 0.0


def test_csv(client, site):
    body = {"steps": [HOME, {**PRICING, "name": "=Pricing, plans"}], "date_range": RANGE}
    response = client.post("/api/funnel", json=body,
                           headers={"x-api-key": site.read_key, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == ("step,name,sessions,visitors,conversion_rate,dropoff\r\n"
                             "1,/,9,8,100.0,0\r\n"
                             "2,\"'=Pricing, plans\",6,5,66.7,3\r\n")


@pytest.mark.parametrize(("body", "field"), [
    ({}, "steps"),
    ({"steps": [HOME]}, "steps"),
    ({"steps": [HOME] * 9}, "steps"),
    ({"steps": "/"}, "steps"),
    ({"steps": [HOME, "x"]}, "steps[1]"),
    ({"steps": [HOME, {"type": "visit", "match": "/"}]}, "steps[1].type"),
    ({"steps": [HOME, {"match": "/"}]}, "steps[1].type"),
    ({"steps": [{"type": "pageview"}, HOME]}, "steps[0].match"),
    ({"steps": [HOME, {"type": "pageview", "match": "pricing"}]}, "steps[1].match"),
    ({"steps": [HOME, {"type": "custom", "match": ""}]}, "steps[1].match"),
    ({"steps": [HOME, {"type": "custom", "match": 3}]}, "steps[1].match"),
    ({"steps": [HOME, {"type": "custom", "match": "x", "name": ""}]}, "steps[1].name"),
    ({"steps": [HOME, {**PRICING, "extra": 1}]}, "steps[1].extra"),
    ({"steps": [HOME, PRICING], "metrics": ["visitors"]}, "metrics"),
    ({"steps": [HOME, PRICING], "period": "week"}, "period"),
    ({"steps": [HOME, PRICING], "timezone": "Mars/Base"}, "timezone"),
    ({"steps": [HOME, PRICING], "filters": [{"dimension": "page", "operator": "is", "value": "/"}]},
     "filters[0].dimension"),
    ({"steps": [HOME, PRICING], "date_range": {"start": "2026-09-02", "end": "2026-09-01"}},
     "date_range.end"),
])
def test_bad_requests(client, site, body, field):
    response = client.post("/api/funnel", json=body, headers={"x-api-key": site.read_key})
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(f"{field}: "), response.json()


def test_needs_read_permission(client, site):
    body = {"steps": [HOME, PRICING], "date_range": RANGE}
    assert client.post("/api/funnel", json=body).status_code == 401
    response = client.post("/api/funnel", json=body, headers={"x-api-key": site.track_key})
    assert response.status_code == 401


@pytest.mark.parametrize("extra", [
    {},
    {"filters": [{"dimension": "country", "operator": "is_not", "value": "GB"}]},
    {"date_range": {"start": "2026-09-01", "end": "2026-09-02"}, "timezone": "Asia/Tokyo"},
    {"date_range": {"start": "2026-09-07", "end": "2026-09-08"}},
])
def test_session_events_answer_as_the_events_scan(client, site, monkeypatch, extra):
    """Funnels read session_events (schema/0012); reading `events` (the earlier SQL) gives the
    same answers."""
    from engine.query import funnel as funnel_mod

    for steps in ([HOME, PRICING, SIGNUP], [PRICING, HOME], [HOME, PRICING, HOME],
                  [{"type": "pageview", "match": "/blog/**"}, {"type": "click"},
                   {"type": "form", "match": "demo"}]):
        fast = funnel(client, site, steps, **extra)
        monkeypatch.setattr(funnel_mod, "SESSION_EVENTS_ENABLED", False)
        slow = funnel(client, site, steps, **extra)
        monkeypatch.setattr(funnel_mod, "SESSION_EVENTS_ENABLED", True)
        assert fast == slow


def test_session_events_backfill_matches_the_view(app, site):
    """schema/0012's backfill (for events stored before it) gives the rows its view gives."""
    from engine.migrations import migration_files, statements

    sql = next(text for _, name, text in migration_files() if name == "0012_session_events.sql")
    backfill = next(s for s in statements(sql) if s.startswith("INSERT INTO session_events"))
    select = backfill.removeprefix("INSERT INTO session_events").strip()
    order = " ORDER BY event_id"
    store = app.state.store
    params = {"site": site.site_id}
    live = store.rows(f"SELECT * FROM session_events WHERE site_id = {{site:UInt32}}{order}", params)
    again = store.rows(f"SELECT * FROM ({select}) WHERE site_id = {{site:UInt32}}{order}", params)
    assert len(live) == 32 and live == again  # every event of S1-S13 (no engagement updates)
