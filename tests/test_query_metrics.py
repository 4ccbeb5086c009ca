"""Exact metrics over a small, fully known dataset sent through POST /api/event.

Dataset (UTC site, all on Monday 2026-10-05):
  V1 (Google referral): S1  10:00 pageview /        engage scroll 40, 20 s
                             10:01 pageview /pricing engage scroll 80, 10 s; click on /pricing
                        → 2 pageviews, a click, 30 s engaged: not a bounce, duration 30 s
  V2 (direct):          S2  11:00 pageview /blog/a, 11:00:40 custom "Signup"
                        → bounce; no engagement → duration = last − first event = 40 s
  V3 (utm newsletter):  S3  12:00 pageview /, engage scroll 10, 5 s  → bounce, 5 s
                        S4  13:00 pageview /pricing, engage scroll 30 only → not a bounce
                            (scroll ≥ 25); no engaged time, single event → 0 s
  V4 (direct, Firefox): S5  14:00 pageview /blog/a, engage 16 s → not a bounce (≥ 15 s), 16 s
"""

from __future__ import annotations

import pytest

from engine.query.fields import DIMENSIONS
from tests.query_support import (
    FIREFOX_MAC,
    Visitor,
    at,
    flush,
    frozen_clock,
    make_site,
    post_query,
)

NOW = at("2026-10-07 12:00:00")
DAY = {"start": "2026-10-05", "end": "2026-10-06"}
ALL = ["visitors", "sessions", "pageviews", "views_per_visit", "bounce_rate", "avg_duration",
       "avg_scroll", "clickers"]


@pytest.fixture(scope="module")
def site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    v1 = Visitor(client, site, country="SE")
    pv = v1.pageview("2026-10-05 10:00:00", "/", referrer="https://www.google.com/search?q=x")
    v1.engage("2026-10-05 10:00:30", pv, "/", scroll=40, engaged_ms=20000)
    pv = v1.pageview("2026-10-05 10:01:00", "/pricing")
    v1.engage("2026-10-05 10:02:00", pv, "/pricing", scroll=80, engaged_ms=10000)
    v1.click("2026-10-05 10:02:10", "/pricing", name="Outbound")

    v2 = Visitor(client, site, country="SE")
    v2.pageview("2026-10-05 11:00:00", "/blog/a")
    v2.custom("2026-10-05 11:00:40", "Signup", "/blog/a")

    v3 = Visitor(client, site, country="CN")
    pv = v3.pageview("2026-10-05 12:00:00", "/?utm_source=newsletter&utm_medium=email")
    v3.engage("2026-10-05 12:00:20", pv, "/", scroll=10, engaged_ms=5000)
    v3.new_session()
    pv = v3.pageview("2026-10-05 13:00:00", "/pricing")
    v3.engage("2026-10-05 13:00:05", pv, "/pricing", scroll=30)

    v4 = Visitor(client, site, ua=FIREFOX_MAC)
    pv = v4.pageview("2026-10-05 14:00:00", "/blog/a")
    v4.engage("2026-10-05 14:00:20", pv, "/blog/a", engaged_ms=16000)
    flush(app)
    with frozen_clock(app, NOW):
        yield site


def q(client, site, **body):
    body.setdefault("date_range", DAY)
    return post_query(client, site, body)


def test_every_metric_totals(client, site):
    result = q(client, site, metrics=ALL)
    assert result == {"results": {
        "visitors": 4, "sessions": 5, "pageviews": 6, "views_per_visit": 1.2,
        "bounce_rate": 40,          # S2 and S3 of 5
        "avg_duration": 18,         # (30 + 40 + 5 + 0 + 16) / 5 = 18.2
        "avg_scroll": 40,           # page visits with a scroll report: 40, 80, 10, 30
        "clickers": 1,
    }}


def test_default_metric_is_visitors(client, site):
    assert q(client, site) == {"results": {"visitors": 4}}


def test_page_dimension_counts_the_pages_own_views(client, site):
    rows = q(client, site, metrics=ALL, dimensions=["page"])["results"]
    by_page = {r["page"]: r for r in rows}
    assert by_page["/"] == {
        "page": "/", "visitors": 2, "sessions": 2, "pageviews": 2,
        "views_per_visit": 1.5,     # sessions that entered on /: S1 (2), S3 (1)
        "bounce_rate": 50,          # S3 of S1, S3
        "avg_duration": 13,         # per page visit: (20 + 5) / 2 = 12.5 → half away from zero
        "avg_scroll": 25,           # (40 + 10) / 2
        "clickers": 0,              # no click on /
    }
    assert by_page["/pricing"] == {
        "page": "/pricing", "visitors": 2, "sessions": 2, "pageviews": 2,
        "views_per_visit": 1.0,     # entered on /pricing: S4 only
        "bounce_rate": 0,
        "avg_duration": 10,         # only S1's visit reported engaged time
        "avg_scroll": 55,           # (80 + 30) / 2
        "clickers": 1,
    }
    assert by_page["/blog/a"] == {
        "page": "/blog/a", "visitors": 2, "sessions": 2, "pageviews": 2,
        "views_per_visit": 1.0, "bounce_rate": 50, "avg_duration": 16,
        "avg_scroll": 0,            # no page visit reported a scroll depth
        "clickers": 0,
    }
    # default order: first metric desc, ties by dimension ascending
    assert [r["page"] for r in rows] == ["/", "/blog/a", "/pricing"]


def test_page_filter_semantics(client, site):
    flt = [{"dimension": "page", "operator": "is", "value": "/pricing"}]
    result = q(client, site, metrics=ALL, filters=flt)["results"]
    assert result == {
        "visitors": 2,              # V1, V3 made a matching pageview
        "sessions": 2,              # S1, S4 viewed /pricing
        "pageviews": 2,             # only the matching pageviews
        "views_per_visit": 1.5,     # all pageviews of S1 and S4: 3 / 2
        "bounce_rate": 0,           # sessions that entered on /pricing: S4 (not a bounce)
        "avg_duration": 15,         # S1 30 s, S4 0 s
        "avg_scroll": 55,           # the matching page visits: 80, 30
        "clickers": 1,              # S1
    }


def test_page_filter_bounce_uses_entry_sessions(client, site):
    flt = [{"dimension": "page", "operator": "is", "value": "/"}]
    result = q(client, site, metrics=["sessions", "bounce_rate", "views_per_visit"],
               filters=flt)["results"]
    # S1 and S3 viewed /, both entered there; S3 bounced
    assert result == {"sessions": 2, "bounce_rate": 50, "views_per_visit": 1.5}


def test_entry_and_exit_pages(client, site):
    rows = q(client, site, metrics=["sessions", "visitors", "pageviews", "bounce_rate"],
             dimensions=["entry_page"])["results"]
    assert rows == [
        {"entry_page": "/", "sessions": 2, "visitors": 2, "pageviews": 3, "bounce_rate": 50},
        {"entry_page": "/blog/a", "sessions": 2, "visitors": 2, "pageviews": 2, "bounce_rate": 50},
        {"entry_page": "/pricing", "sessions": 1, "visitors": 1, "pageviews": 1, "bounce_rate": 0},
    ]
    rows = q(client, site, metrics=["sessions"], dimensions=["exit_page"])["results"]
    assert rows == [
        {"exit_page": "/blog/a", "sessions": 2},
        {"exit_page": "/pricing", "sessions": 2},
        {"exit_page": "/", "sessions": 1},
    ]


def test_entry_page_filter_selects_sessions(client, site):
    flt = [{"dimension": "entry_page", "operator": "is", "value": "/"}]
    result = q(client, site, metrics=["visitors", "sessions", "pageviews", "avg_scroll"],
               filters=flt)["results"]
    # S1 (V1: 2 pageviews, scrolls 40, 80) and S3 (V3: 1 pageview, scroll 10)
    assert result == {"visitors": 2, "sessions": 2, "pageviews": 3, "avg_scroll": 43}
    flt = [{"dimension": "exit_page", "operator": "is", "value": "/pricing"}]
    assert q(client, site, metrics=["sessions", "clickers"], filters=flt)["results"] == {
        "sessions": 2, "clickers": 1}


def test_session_attribute_filter_selects_whole_sessions(client, site):
    flt = [{"dimension": "source", "operator": "is", "value": "Google"}]
    result = q(client, site, metrics=ALL, filters=flt)["results"]
    assert result == {
        "visitors": 1, "sessions": 1, "pageviews": 2, "views_per_visit": 2.0, "bounce_rate": 0,
        "avg_duration": 30, "avg_scroll": 60, "clickers": 1,
    }


def test_source_labels_and_dimension(client, site):
    rows = q(client, site, metrics=["visitors", "sessions"], dimensions=["source"])["results"]
    assert rows == [
        # S4 (V3's second visit) came without UTM tags: direct
        {"source": "Direct / None", "visitors": 3, "sessions": 3},
        {"source": "Google", "visitors": 1, "sessions": 1},
        {"source": "newsletter", "visitors": 1, "sessions": 1},
    ]


def test_clickers_and_tech_dimensions(client, site):
    rows = q(client, site, metrics=["visitors", "clickers"], dimensions=["browser"])["results"]
    assert rows == [
        {"browser": "Chrome", "visitors": 3, "clickers": 1},
        {"browser": "Firefox", "visitors": 1, "clickers": 0},
    ]
    rows = q(client, site, metrics=["visitors"], dimensions=["country", "city"])["results"]
    assert rows == [
        {"country": "SE", "city": "Linköping", "visitors": 2},
        {"country": "(not set)", "city": "(not set)", "visitors": 1},
        {"country": "CN", "city": "Changchun", "visitors": 1},
    ]


def test_engine_entry_points(app, client, site):
    import asyncio

    from engine.query import compile_query, run_query, run_query_sync
    from engine.query.run import settings

    body = {"metrics": ALL, "dimensions": ["page"], "date_range": DAY}
    over_http = post_query(client, site, body)
    store = app.state.store
    assert asyncio.run(run_query(store, site.site_id, body, now=NOW)) == over_http
    assert run_query_sync(store, site.site_id, body, now=NOW) == over_http
    sql, params = compile_query(site.site_id, body, now=NOW)
    assert params["site"] == site.site_id and "{site:UInt32}" in sql
    rows = store.rows(sql, params, settings=settings(store))
    assert sorted(r[0] for r in rows) == ["/", "/blog/a", "/pricing"]


@pytest.fixture(scope="module")
def bounce_site(app, client, admin_headers):
    """Single-page sessions around each bounce threshold (2026-10-06)."""
    site = make_site(client, admin_headers)

    def visit(hour: int) -> tuple[Visitor, str]:
        v = Visitor(client, site)
        return v, v.pageview(f"2026-10-06 {hour:02d}:00:00", f"/b{hour}")

    visit(1)                                                         # nothing: bounce
    v, _ = visit(2)
    v.click("2026-10-06 02:00:10", "/b2")                            # a click: not
    v, pv = visit(3)
    v.engage("2026-10-06 03:00:05", pv, "/b3", scroll=25)            # scroll 25: not
    v, pv = visit(4)
    v.engage("2026-10-06 04:00:05", pv, "/b4", scroll=24)            # scroll 24: bounce
    v, pv = visit(5)
    v.engage("2026-10-06 05:00:20", pv, "/b5", engaged_ms=15000)     # 15 s: not
    v, pv = visit(6)
    v.engage("2026-10-06 06:00:20", pv, "/b6", engaged_ms=9000)
    v.engage("2026-10-06 06:00:25", pv, "/b6", engaged_ms=14999)     # 14.999 s: bounce
    v.engage("2026-10-06 06:00:26", pv, "/b6", engaged_ms=14000)     # re-sent lower: ignored
    v, _ = visit(7)
    v.pageview("2026-10-06 07:00:20", "/b7b")                        # 2 pageviews: not
    flush(app)
    with frozen_clock(app, NOW):
        yield site


def test_bounce_rule_thresholds(client, bounce_site):
    body = {"metrics": ["sessions", "bounce_rate", "avg_duration", "clickers", "avg_scroll"],
            "date_range": {"start": "2026-10-06", "end": "2026-10-07"}}
    assert post_query(client, bounce_site, body)["results"] == {
        "sessions": 7,
        "bounce_rate": 43,      # b1, b4, b6 of 7 = 42.86
        # 0 + 10 (click − pageview) + 0 + 0 + 15 + 14.999 + 20 (last − first pageview) = 59.999 s
        "avg_duration": 9,
        "clickers": 1,
        "avg_scroll": 25,       # (25 + 24) / 2 = 24.5 → 25
    }
    rows = post_query(client, bounce_site, {**body, "metrics": ["bounce_rate"],
                                            "dimensions": ["entry_page"]})["results"]
    assert {r["entry_page"]: r["bounce_rate"] for r in rows} == {
        "/b1": 100, "/b2": 0, "/b3": 0, "/b4": 100, "/b5": 0, "/b6": 100, "/b7": 0}


@pytest.mark.parametrize("dimensions", [[d] for d in DIMENSIONS] + [
    ["page", "entry_page"], ["page", "exit_page", "source"], ["date", "source"],
    ["entry_page", "country"], ["week", "page"], ["exit_page", "hour"], ["month", "device", "os"],
])
def test_every_dimension_with_every_metric(client, site, dimensions):
    rows = q(client, site, metrics=ALL, dimensions=dimensions, include_comparison=True)
    assert rows["results"], dimensions
    for row in rows["results"]:
        assert set(row) == set(dimensions) | set(ALL)
        assert all(isinstance(row[d], str) and row[d] for d in dimensions)
    if dimensions[0] in ("source", "device", "country", "entry_page", "exit_page"):
        # session dimensions partition the sessions
        assert sum(r["sessions"] for r in rows["results"]) == 5
    assert len(rows["comparison"]["change"]) == len(rows["results"])
