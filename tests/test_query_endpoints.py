"""GET /api/realtime, GET /api/goals, the breakdown GETs, the API reference examples, ordering
and paging, and the query time/memory cap."""

from __future__ import annotations

import pytest

from engine.query import run as engine_run
from tests.query_support import (
    SAFARI_IPHONE,
    Visitor,
    add_goal,
    at,
    flush,
    frozen_clock,
    get,
    make_site,
    post_query,
)

# --- realtime -------------------------------------------------------------------------------

RT_NOW = at("2026-07-01 12:00:00")


@pytest.fixture(scope="module")
def realtime_site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    v1 = Visitor(client, site, country="SE")
    v1.pageview("2026-07-01 11:50:00", "/")
    pv = v1.pageview("2026-07-01 11:57:00", "/pricing")
    v1.engage("2026-07-01 11:58:00", pv, "/pricing", scroll=60, engaged_ms=30000)
    Visitor(client, site).pageview("2026-07-01 11:54:59", "/blog")     # just outside 5 minutes
    v3 = Visitor(client, site, ua=SAFARI_IPHONE)
    v3.pageview("2026-07-01 11:56:00", "/x", referrer="https://www.google.com/")
    v3.click("2026-07-01 11:59:00", "/x")
    Visitor(client, site).pageview("2026-07-01 12:10:00", "/later")    # in the future of now
    flush(app)
    with frozen_clock(app, RT_NOW):
        yield site


def test_realtime(client, realtime_site):
    result = get(client, realtime_site, "/api/realtime")
    session_ids = [v.pop("session_id") for v in result["visitors"]]
    assert all(isinstance(s, int) and 0 < s < 2**53 for s in session_ids)
    assert result == {
        "count": 2,
        "visitors": [
            {"entry_page": "/x", "exit_page": "/x",
             "pageviews": 1, "duration": 180, "source": "Google", "country": "(not set)",
             "city": "(not set)", "device": "Mobile", "browser": "Safari", "os": "iOS",
             "scroll": 0},
            {"entry_page": "/",
             "exit_page": "/pricing", "pageviews": 2, "duration": 30, "source": "Direct / None",
             "country": "SE", "city": "Linköping", "device": "Desktop", "browser": "Chrome",
             "os": "Windows", "scroll": 60},
        ],
    }


def test_realtime_window_moves_with_the_clock(app, client, realtime_site):
    with frozen_clock(app, at("2026-07-01 12:03:30")):  # V1's last event (11:58) is out
        result = get(client, realtime_site, "/api/realtime")
    assert result["count"] == 1 and result["visitors"][0]["entry_page"] == "/x"
    with frozen_clock(app, at("2026-07-01 11:59:59")):
        assert get(client, realtime_site, "/api/realtime")["count"] == 3   # 11:54:59 is in
    with frozen_clock(app, at("2026-07-01 13:00:00")):
        assert get(client, realtime_site, "/api/realtime") == {"count": 0, "visitors": []}


def test_realtime_lists_at_most_20_sessions(app, client, admin_headers):
    site = make_site(client, admin_headers)
    for i in range(23):
        Visitor(client, site).pageview(f"2026-07-02 09:{i:02d}:30", f"/p{i}")
    flush(app)
    with frozen_clock(app, at("2026-07-02 09:24:00")):
        result = get(client, site, "/api/realtime")
    assert result["count"] == 4   # 09:19:30 .. 09:22:30 are in the last 5 minutes
    assert [v["entry_page"] for v in result["visitors"]] == [f"/p{i}" for i in (22, 21, 20, 19)]
    with frozen_clock(app, at("2026-07-02 09:20:00")):
        result = get(client, site, "/api/realtime")
    # 09:15:30 .. 09:22:30 (up to 5 minutes ahead is accepted clock skew)
    assert result["count"] == 8
    with frozen_clock(app, at("2026-07-02 09:03:00")):
        result = get(client, site, "/api/realtime")
    assert result["count"] == 8 and len(result["visitors"]) == 8
    site2 = make_site(client, admin_headers)
    for i in range(22):
        Visitor(client, site2).pageview(f"2026-07-02 10:00:{i:02d}", f"/q{i}")
    flush(app)
    with frozen_clock(app, at("2026-07-02 10:01:00")):
        result = get(client, site2, "/api/realtime")
    assert result["count"] == 22 and len(result["visitors"]) == 20
    assert result["visitors"][0]["entry_page"] == "/q21"


# --- goals ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def goals_site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    ids = [
        add_goal(client, admin_headers, site, "Pricing", "pageview", "/pricing"),
        add_goal(client, admin_headers, site, "Blog", "pageview", "/blog/*"),
        add_goal(client, admin_headers, site, "Purchase", "custom", "Purchase"),
        add_goal(client, admin_headers, site, "Contact Form", "form", "contact"),
        add_goal(client, admin_headers, site, "Any form", "form", ""),
        add_goal(client, admin_headers, site, "Outbound", "click", ""),
        add_goal(client, admin_headers, site, "Donate", "custom", "Donate"),
        add_goal(client, admin_headers, site, "Docs", "pageview", "/docs/**"),
        add_goal(client, admin_headers, site, "Named click", "click", "Buy"),
    ]
    v1 = Visitor(client, site)
    v1.pageview("2026-05-03 10:00:00", "/pricing")
    v1.pageview("2026-05-03 10:01:00", "/blog/a")
    v1.pageview("2026-05-03 10:02:00", "/blog/a/b")
    v1.custom("2026-05-03 10:03:00", "Purchase", "/checkout", revenue_amount=49.99,
              revenue_currency="USD")
    v1.custom("2026-05-03 10:04:00", "Purchase", "/checkout", revenue_amount="10.01",
              revenue_currency="usd")
    v1.form("2026-05-03 10:05:00", "contact", "/contact")
    v1.click("2026-05-03 10:06:00", "/contact", name="Outbound link")
    v2 = Visitor(client, site)
    v2.pageview("2026-05-10 10:00:00", "/pricing")
    v2.pageview("2026-05-10 10:01:00", "/pricing")
    v2.form("2026-05-10 10:02:00", path="/contact", meta_keys=["form_id"], meta_values=["contact"])
    v2.custom("2026-05-10 10:03:00", "Donate", revenue_amount=5, revenue_currency="EUR")
    v2.custom("2026-05-10 10:04:00", "Donate", revenue_amount=7.5, revenue_currency="USD")
    v2.pageview("2026-05-10 10:05:00", "/docs/a/b/c")
    v3 = Visitor(client, site)
    v3.pageview("2026-05-20 10:00:00", "/")
    v3.form("2026-05-20 10:01:00", "newsletter")
    v3.custom("2026-05-20 10:02:00", "Purchase")
    v3.click("2026-05-20 10:03:00", name="Buy")
    Visitor(client, site).pageview("2026-06-01 00:00:00", "/pricing")  # after the exclusive end
    flush(app)
    with frozen_clock(app, at("2026-06-15 12:00:00")):
        yield site, ids


def test_goals(client, goals_site):
    site, ids = goals_site
    result = get(client, site, "/api/goals", {"start_date": "2026-05-01", "end_date": "2026-06-01"})
    assert result == {"goals": [
        {"id": ids[0], "name": "Pricing", "type": "pageview", "visitors": 2, "pageviews": 3},
        {"id": ids[1], "name": "Blog", "type": "pageview", "visitors": 1, "pageviews": 1},
        {"id": ids[2], "name": "Purchase", "type": "custom", "visitors": 2, "events": 3,
         "total_revenue": 60.0, "currency": "USD"},
        {"id": ids[3], "name": "Contact Form", "type": "form", "visitors": 2, "submissions": 2},
        {"id": ids[4], "name": "Any form", "type": "form", "visitors": 3, "submissions": 3},
        {"id": ids[5], "name": "Outbound", "type": "click", "visitors": 2, "clicks": 2},
        {"id": ids[6], "name": "Donate", "type": "custom", "visitors": 1, "events": 2,
         "total_revenue": {"EUR": 5.0, "USD": 7.5}},
        {"id": ids[7], "name": "Docs", "type": "pageview", "visitors": 1, "pageviews": 1},
        {"id": ids[8], "name": "Named click", "type": "click", "visitors": 1, "clicks": 1},
    ]}


def test_goals_date_handling(client, goals_site):
    site, _ = goals_site
    # default: the last 30 days including today (2026-05-17 .. 2026-06-15)
    goals = get(client, site, "/api/goals")["goals"]
    assert goals[0]["pageviews"] == 1 and goals[4]["submissions"] == 1
    goals = get(client, site, "/api/goals", {"start_date": "2026-05-10",
                                             "end_date": "2026-05-11"})["goals"]
    assert [g.get("visitors") for g in goals] == [1, 0, 0, 1, 1, 0, 1, 1, 0]
    assert "total_revenue" not in goals[2]
    for params in ({"start_date": "2026-05-10", "end_date": "2026-05-01"},
                   {"start_date": "May 1"}, {"timezone": "Nowhere/City"}, {"limit": "5"}):
        r = get(client, site, "/api/goals", params, status=400)
        assert r["error"] == "Bad Request"


def test_goals_without_goals(client, admin_headers):
    site = make_site(client, admin_headers)
    assert get(client, site, "/api/goals") == {"goals": []}


# --- breakdowns and the reference examples ----------------------------------------------------

BD_NOW = at("2026-04-20 12:00:00")


@pytest.fixture(scope="module")
def bd_site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    Visitor(client, site, country="SE").pageview(
        "2026-04-10 10:00:00", "/?utm_source=news&utm_medium=email&utm_campaign=launch"
                               "&utm_content=top&utm_term=analytics",
        referrer="https://news.ycombinator.com/item?id=7")
    v = Visitor(client, site, country="SE", ua=SAFARI_IPHONE)
    v.pageview("2026-04-19 10:00:00", "/", referrer="https://www.google.com/")
    v.pageview("2026-04-19 10:00:30", "/docs")
    Visitor(client, site, country="CN").pageview("2026-04-20 09:00:00", "/docs")
    Visitor(client, site).pageview("2026-03-21 23:59:00", "/old")  # before the last 30 days
    flush(app)
    with frozen_clock(app, BD_NOW):
        yield site


BREAKDOWN_EXPECTED = {
    "/api/pages": [
        {"page": "/", "visitors": 2, "pageviews": 2, "avg_scroll": 0, "avg_duration": 0},
        {"page": "/docs", "visitors": 2, "pageviews": 2, "avg_scroll": 0, "avg_duration": 0},
    ],
    "/api/sources": [
        {"source": "Direct / None", "visitors": 1, "sessions": 1, "bounce_rate": 100,
         "avg_duration": 0},
        {"source": "Google", "visitors": 1, "sessions": 1, "bounce_rate": 0, "avg_duration": 30},
        {"source": "Hacker News", "visitors": 1, "sessions": 1, "bounce_rate": 100,
         "avg_duration": 0},
    ],
    "/api/referrers": [
        {"referrer_url": "https://news.ycombinator.com/item", "visitors": 1, "sessions": 1,
         "bounce_rate": 100},
        {"referrer_url": "https://www.google.com/", "visitors": 1, "sessions": 1,
         "bounce_rate": 0},
    ],
    "/api/countries": [
        {"country": "SE", "visitors": 2, "sessions": 2, "pageviews": 3},
        {"country": "CN", "visitors": 1, "sessions": 1, "pageviews": 1},
    ],
    "/api/campaigns": [
        {"utm_campaign": "launch", "utm_source": "news", "utm_medium": "email", "visitors": 1,
         "sessions": 1, "bounce_rate": 100, "avg_duration": 0},
    ],
    "/api/utm-sources": [{"utm_source": "news", "visitors": 1, "sessions": 1, "bounce_rate": 100}],
    "/api/utm-mediums": [{"utm_medium": "email", "visitors": 1, "sessions": 1, "bounce_rate": 100}],
    "/api/utm-content": [{"utm_content": "top", "visitors": 1, "sessions": 1, "bounce_rate": 100}],
    "/api/utm-term": [{"utm_term": "analytics", "visitors": 1, "sessions": 1, "bounce_rate": 100}],
    "/api/entry-pages": [
        {"entry_page": "/", "sessions": 2, "visitors": 2, "bounce_rate": 50, "avg_duration": 15},
        {"entry_page": "/docs", "sessions": 1, "visitors": 1, "bounce_rate": 100,
         "avg_duration": 0},
    ],
    "/api/exit-pages": [
        {"exit_page": "/docs", "sessions": 2, "visitors": 2, "pageviews": 3},
        {"exit_page": "/", "sessions": 1, "visitors": 1, "pageviews": 1},
    ],
    "/api/tech?type=device": [
        {"device": "Desktop", "visitors": 2, "sessions": 2, "bounce_rate": 100, "avg_duration": 0},
        {"device": "Mobile", "visitors": 1, "sessions": 1, "bounce_rate": 0, "avg_duration": 30},
    ],
    "/api/tech?type=browser": [
        {"browser": "Chrome", "visitors": 2, "sessions": 2, "bounce_rate": 100,
         "avg_duration": 0},
        {"browser": "Safari", "visitors": 1, "sessions": 1, "bounce_rate": 0,
         "avg_duration": 30},
    ],
    "/api/tech?type=os": [
        {"os": "Windows", "visitors": 2, "sessions": 2, "bounce_rate": 100, "avg_duration": 0},
        {"os": "iOS", "visitors": 1, "sessions": 1, "bounce_rate": 0, "avg_duration": 30},
    ],
}


@pytest.mark.parametrize("path", list(BREAKDOWN_EXPECTED))
def test_breakdowns_default_to_the_last_30_days(client, bd_site, path):
    assert get(client, bd_site, path) == {"results": BREAKDOWN_EXPECTED[path]}


def test_breakdown_parameters(client, bd_site):
    rows = get(client, bd_site, "/api/pages", {"start_date": "2026-03-01",
                                               "end_date": "2026-04-20"})["results"]
    assert [r["page"] for r in rows] == ["/", "/docs", "/old"]
    assert [r["visitors"] for r in rows] == [2, 1, 1]   # 04-20 is excluded (end exclusive)
    rows = get(client, bd_site, "/api/pages", {"start_date": "2026-03-01", "limit": "1",
                                               "offset": "1"})["results"]
    assert [r["page"] for r in rows] == ["/docs"]
    rows = get(client, bd_site, "/api/countries", {"timezone": "Asia/Tokyo",
                                                   "end_date": "2026-04-20"})["results"]
    # Tokyo end 2026-04-20 00:00 (+09:00) = 04-19 15:00 UTC: the CN visit is out
    assert rows == [{"country": "SE", "visitors": 2, "sessions": 2, "pageviews": 3},
                    {"country": "(not set)", "visitors": 1, "sessions": 1, "pageviews": 1}]
    for params, field in [({"type": "gpu"}, "type"), ({}, "type")]:
        r = get(client, bd_site, "/api/tech", params, status=400)
        assert r["message"].startswith(field + ":")
    for params, field in [({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
                          ({"offset": "-3"}, "offset"), ({"start_date": "2026-13-01"},
                                                         "start_date"),
                          ({"timezone": "Europe/Nowhere"}, "timezone")]:
        r = get(client, bd_site, "/api/sources", params, status=400)
        assert r["message"].startswith(field), r


def test_reference_example_totals(client, bd_site):
    result = post_query(client, bd_site, {"metrics": ["visitors", "pageviews", "bounce_rate"],
                                          "period": "30d"})
    assert result == {"results": {"visitors": 3, "pageviews": 4, "bounce_rate": 67}}


def test_reference_example_top_pages(client, bd_site):
    body = {"metrics": ["visitors", "pageviews", "avg_scroll"], "dimensions": ["page"],
            "date_range": {"start": "2026-03-01", "end": "2026-03-31"},
            "filters": [{"dimension": "country", "operator": "is", "value": "DE"}],
            "limit": 10, "timezone": "Europe/Berlin"}
    assert post_query(client, bd_site, body) == {"results": []}
    body["filters"][0]["value"] = "SE"
    body["date_range"] = {"start": "2026-04-01", "end": "2026-04-30"}
    assert post_query(client, bd_site, body) == {"results": [
        {"page": "/", "visitors": 2, "pageviews": 2, "avg_scroll": 0},
        {"page": "/docs", "visitors": 1, "pageviews": 1, "avg_scroll": 0},
    ]}


def test_reference_example_daily(client, bd_site):
    result = post_query(client, bd_site, {"metrics": ["visitors", "pageviews"],
                                          "dimensions": ["date"], "period": "7d"})
    assert result == {"results": [
        {"date": "2026-04-14", "visitors": 0, "pageviews": 0},
        {"date": "2026-04-15", "visitors": 0, "pageviews": 0},
        {"date": "2026-04-16", "visitors": 0, "pageviews": 0},
        {"date": "2026-04-17", "visitors": 0, "pageviews": 0},
        {"date": "2026-04-18", "visitors": 0, "pageviews": 0},
        {"date": "2026-04-19", "visitors": 1, "pageviews": 2},
        {"date": "2026-04-20", "visitors": 1, "pageviews": 1},
    ]}


# --- ordering and paging ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ties_site(app, client, admin_headers):
    """Pages /a: 3 visitors, /d: 2, and /b, /c, /e: 1 each (ties)."""
    site = make_site(client, admin_headers)
    for page, n in [("/e", 1), ("/c", 1), ("/a", 3), ("/b", 1), ("/d", 2)]:
        for _ in range(n):
            Visitor(client, site).pageview("2026-04-02 10:00:00", page)
    flush(app)
    with frozen_clock(app, BD_NOW):
        yield site


def pages(client, site, **body):
    body = {"metrics": ["visitors"], "dimensions": ["page"],
            "date_range": {"start": "2026-04-01", "end": "2026-04-03"}, **body}
    return [r["page"] for r in post_query(client, site, body)["results"]]


def test_default_order_breaks_ties_by_dimension(client, ties_site):
    assert pages(client, ties_site) == ["/a", "/d", "/b", "/c", "/e"]
    assert pages(client, ties_site, limit=2) == ["/a", "/d"]
    assert pages(client, ties_site, limit=2, offset=2) == ["/b", "/c"]
    assert pages(client, ties_site, limit=2, offset=4) == ["/e"]
    assert pages(client, ties_site, offset=5) == []


def test_explicit_order(client, ties_site):
    assert pages(client, ties_site, order_by="visitors", order_dir="asc") == [
        "/b", "/c", "/e", "/d", "/a"]
    assert pages(client, ties_site, order_by="visitors") == ["/a", "/d", "/b", "/c", "/e"]
    assert pages(client, ties_site, order_by="page", order_dir="desc") == [
        "/e", "/d", "/c", "/b", "/a"]
    assert pages(client, ties_site, order_by="page", order_dir="asc", limit=3, offset=1) == [
        "/b", "/c", "/d"]
    # pages of a stable order partition the rows
    seen = []
    for offset in range(0, 5, 2):
        seen += pages(client, ties_site, metrics=["pageviews", "visitors"], limit=2,
                      offset=offset, order_by="pageviews")
    assert seen == ["/a", "/d", "/b", "/c", "/e"]


# --- limits ---------------------------------------------------------------------------------------

def test_a_query_over_its_memory_cap_is_a_clear_error(client, ties_site, monkeypatch):
    monkeypatch.setitem(engine_run.READ_SETTINGS, "max_memory_usage", 1000)
    r = client.post("/api/query", json={"metrics": ["visitors", "bounce_rate"],
                                        "dimensions": ["page"], "period": "30d"},
                    headers={"x-api-key": ties_site.read_key})
    assert r.status_code == 503
    assert r.json() == {"error": "Service Unavailable", "message": (
        "the query exceeded its time or memory limit; try a shorter date range or fewer "
        "dimensions")}


def test_a_query_over_its_time_cap_is_a_clear_error(client, ties_site, monkeypatch):
    def slow(store):
        return {**store.query_settings(), "max_execution_time": 0.001,
                "timeout_before_checking_execution_speed": 0}

    monkeypatch.setattr(engine_run, "settings", slow)
    original = engine_run.compile_planned

    def heavy(query, site_id, rng, coverage=None):
        compiled = original(query, site_id, rng, coverage)
        # stand-in for a huge scan: the same query, made to run long
        compiled.sql = (f"SELECT * FROM ({compiled.sql}) WHERE (SELECT count() FROM "
                        "numbers(10000000000) WHERE NOT ignore(sipHash64(number))) >= 0")
        return compiled

    monkeypatch.setattr(engine_run, "compile_planned", heavy)
    r = client.post("/api/query", json={"metrics": ["visitors"], "period": "30d"},
                    headers={"x-api-key": ties_site.read_key})
    assert r.status_code == 503 and "time or memory limit" in r.json()["message"]
