"""Time through the whole pipeline: every period against a frozen clock, exclusive ends, time-zone
buckets across DST, Monday weeks, zero-filled buckets and comparisons."""

from __future__ import annotations

import pytest

from tests.query_support import Visitor, at, flush, frozen_clock, make_site, post_query

NOW = at("2026-08-20 12:00:00")  # Thursday


@pytest.fixture(scope="module")
def periods_site(app, client, admin_headers):
    """One single-pageview visitor per moment, each placed just inside or outside a period."""
    site = make_site(client, admin_headers)
    for moment in [
        "2026-08-20 11:50:00",      # realtime, today
        "2026-08-20 01:00:00",      # today
        "2026-08-19 12:00:00",      # yesterday
        "2026-08-14 00:30:00",      # first day of 7d
        "2026-08-13 23:30:00",      # 14d, not 7d
        "2026-07-22 00:00:00",      # the first instant of 30d
        "2026-07-21 23:59:59.999",  # 90d, not 30d
        "2026-05-22 12:00:00",      # 12m, not 90d (90d starts 2026-05-23)
        "2025-08-31 23:00:00",      # all, not 12m (12m starts 2025-09-01)
        "2026-08-20 13:00:00",      # after now: in no period
    ]:
        Visitor(client, site).pageview(moment, "/")
    flush(app)
    with frozen_clock(app, NOW):
        yield site


@pytest.mark.parametrize("period, pageviews", [
    ("realtime", 1), ("today", 2), ("yesterday", 1), ("7d", 4), ("14d", 5), ("30d", 6),
    ("90d", 7), ("12m", 8), ("all", 9),
])
def test_every_period(client, periods_site, period, pageviews):
    result = post_query(client, periods_site, {"metrics": ["pageviews", "visitors"],
                                               "period": period})
    assert result == {"results": {"pageviews": pageviews, "visitors": pageviews}}


def test_default_period_is_today(client, periods_site):
    assert post_query(client, periods_site, {"metrics": ["pageviews"]}) == {
        "results": {"pageviews": 2}}


def test_date_range_end_is_exclusive(client, periods_site):
    def count(start, end):
        body = {"metrics": ["pageviews"], "date_range": {"start": start, "end": end}}
        return post_query(client, periods_site, body)["results"]["pageviews"]

    assert count("2026-07-21", "2026-07-22") == 1            # 23:59:59.999 in, 00:00 out
    assert count("2026-07-22", "2026-07-23") == 1
    assert count("2026-07-21T23:59:59.999Z", "2026-07-22T00:00:00Z") == 1
    assert count("2026-07-22T00:00:00Z", "2026-07-22T00:00:00.001Z") == 1
    assert count("2026-07-21T23:59:59.999Z", "2026-07-21T23:59:59.9995Z") == 1
    assert count("2026-07-22T00:00:00.001Z", "2026-07-23") == 0


def test_all_buckets_start_at_the_first_event(client, periods_site):
    rows = post_query(client, periods_site, {"metrics": ["pageviews"], "dimensions": ["month"],
                                             "period": "all"})["results"]
    assert [r["month"] for r in rows][0] == "2025-08"
    assert len(rows) == 13 and sum(r["pageviews"] for r in rows) == 9


@pytest.fixture(scope="module")
def berlin_site(app, client, admin_headers):
    site = make_site(client, admin_headers, timezone="Europe/Berlin")
    # 2026-10-25: Berlin falls back from CEST (+2) to CET (+1) at 01:00 UTC
    Visitor(client, site).pageview("2026-10-24 22:30:00", "/")  # 00:30 local
    Visitor(client, site).pageview("2026-10-25 00:30:00", "/")  # 02:30 CEST
    Visitor(client, site).pageview("2026-10-25 01:30:00", "/")  # 02:30 CET (the repeated hour)
    Visitor(client, site).pageview("2026-10-25 22:59:00", "/")  # 23:59 local
    Visitor(client, site).pageview("2026-10-25 23:00:00", "/")  # next local day
    # 2026-03-29: Berlin springs forward at 01:00 UTC (02:00 local does not exist)
    Visitor(client, site).pageview("2026-03-29 00:59:00", "/")  # 01:59 CET
    Visitor(client, site).pageview("2026-03-29 01:00:00", "/")  # 03:00 CEST
    flush(app)
    with frozen_clock(app, at("2026-11-01 12:00:00")):
        yield site


def test_hour_buckets_on_fall_back_day(client, berlin_site):
    body = {"metrics": ["pageviews", "sessions"], "dimensions": ["hour"], "timezone": "Europe/Berlin",
            "date_range": {"start": "2026-10-25", "end": "2026-10-26"}}
    rows = post_query(client, berlin_site, body)["results"]
    assert [r["hour"] for r in rows] == [f"2026-10-25 {h:02d}:00" for h in range(24)]
    counts = {r["hour"]: (r["pageviews"], r["sessions"]) for r in rows if r["pageviews"]}
    assert counts == {"2026-10-25 00:00": (1, 1), "2026-10-25 02:00": (2, 2),
                      "2026-10-25 23:00": (1, 1)}
    assert all(r["pageviews"] == 0 and r["sessions"] == 0 for r in rows
               if r["hour"] not in counts)


def test_hour_buckets_on_spring_forward_day(client, berlin_site):
    body = {"metrics": ["pageviews"], "dimensions": ["hour"], "timezone": "Europe/Berlin",
            "date_range": {"start": "2026-03-29", "end": "2026-03-30"}}
    rows = post_query(client, berlin_site, body)["results"]
    assert len(rows) == 23 and "2026-03-29 02:00" not in [r["hour"] for r in rows]
    assert {r["hour"]: r["pageviews"] for r in rows if r["pageviews"]} == {
        "2026-03-29 01:00": 1, "2026-03-29 03:00": 1}


def test_same_data_in_utc_buckets(client, berlin_site):
    body = {"metrics": ["pageviews"], "dimensions": ["date"], "timezone": "UTC",
            "date_range": {"start": "2026-10-24", "end": "2026-10-27"}}
    rows = post_query(client, berlin_site, body)["results"]
    assert rows == [{"date": "2026-10-24", "pageviews": 1}, {"date": "2026-10-25", "pageviews": 4},
                    {"date": "2026-10-26", "pageviews": 0}]
    body["timezone"] = "Europe/Berlin"
    rows = post_query(client, berlin_site, body)["results"]
    assert rows == [{"date": "2026-10-24", "pageviews": 0}, {"date": "2026-10-25", "pageviews": 4},
                    {"date": "2026-10-26", "pageviews": 1}]


@pytest.fixture(scope="module")
def compare_site(app, client, admin_headers):
    """Current period 2026-08-10..14 (exclusive), previous 2026-08-06..10."""
    site = make_site(client, admin_headers)
    for moment, path in [("2026-08-06 09:00:00", "/"), ("2026-08-08 09:00:00", "/a"),
                         ("2026-08-10 09:00:00", "/"), ("2026-08-10 10:00:00", "/"),
                         ("2026-08-11 09:00:00", "/")]:
        Visitor(client, site).pageview(moment, path)
    v = Visitor(client, site)
    v.pageview("2026-08-12 09:00:00", "/")
    v.pageview("2026-08-12 09:01:00", "/a")
    v.pageview("2026-08-12 09:02:00", "/b")
    flush(app)
    with frozen_clock(app, NOW):
        yield site


CURRENT = {"start": "2026-08-10", "end": "2026-08-14"}
PREVIOUS = {"start": "2026-08-06T00:00:00+00:00", "end": "2026-08-10T00:00:00+00:00"}


def test_comparison_totals(client, compare_site):
    body = {"metrics": ["visitors", "pageviews", "bounce_rate", "views_per_visit", "clickers"],
            "date_range": CURRENT, "include_comparison": True}
    assert post_query(client, compare_site, body) == {
        "results": {"visitors": 4, "pageviews": 6, "bounce_rate": 75, "views_per_visit": 1.5,
                    "clickers": 0},
        "comparison": {
            "date_range": PREVIOUS,
            "results": {"visitors": 2, "pageviews": 2, "bounce_rate": 100,
                        "views_per_visit": 1.0, "clickers": 0},
            "change": {"visitors": 100, "pageviews": 200, "bounce_rate": -25,
                       "views_per_visit": 50, "clickers": 0},
        },
    }


def test_comparison_time_rows_by_position(client, compare_site):
    body = {"metrics": ["visitors", "pageviews"], "dimensions": ["date"], "date_range": CURRENT,
            "include_comparison": True}
    result = post_query(client, compare_site, body)
    assert result["results"] == [
        {"date": "2026-08-10", "visitors": 2, "pageviews": 2},
        {"date": "2026-08-11", "visitors": 1, "pageviews": 1},
        {"date": "2026-08-12", "visitors": 1, "pageviews": 3},
        {"date": "2026-08-13", "visitors": 0, "pageviews": 0},
    ]
    assert result["comparison"] == {
        "date_range": PREVIOUS,
        "results": [
            {"date": "2026-08-06", "visitors": 1, "pageviews": 1},
            {"date": "2026-08-07", "visitors": 0, "pageviews": 0},
            {"date": "2026-08-08", "visitors": 1, "pageviews": 1},
            {"date": "2026-08-09", "visitors": 0, "pageviews": 0},
        ],
        "change": [
            {"date": "2026-08-10", "visitors": 100, "pageviews": 100},
            {"date": "2026-08-11", "visitors": None, "pageviews": None},
            {"date": "2026-08-12", "visitors": 0, "pageviews": 200},
            {"date": "2026-08-13", "visitors": 0, "pageviews": 0},
        ],
    }


def test_comparison_rows_by_dimension_value(client, compare_site):
    body = {"metrics": ["visitors"], "dimensions": ["page"], "date_range": CURRENT,
            "include_comparison": True}
    result = post_query(client, compare_site, body)
    assert result["results"] == [{"page": "/", "visitors": 4}, {"page": "/a", "visitors": 1},
                                 {"page": "/b", "visitors": 1}]
    assert result["comparison"]["results"] == [
        {"page": "/", "visitors": 1}, {"page": "/a", "visitors": 1}, {"page": "/b", "visitors": 0}]
    assert result["comparison"]["change"] == [
        {"page": "/", "visitors": 300}, {"page": "/a", "visitors": 0},
        {"page": "/b", "visitors": None}]


def test_comparison_of_a_period(client, compare_site):
    body = {"metrics": ["pageviews"], "period": "14d", "include_comparison": True}
    result = post_query(client, compare_site, body)
    # 14d = 08-07 .. now (08-20 12:00); previous = 07-24 .. 08-06 12:00
    assert result["results"] == {"pageviews": 7}
    assert result["comparison"]["date_range"] == {"start": "2026-07-24T00:00:00+00:00",
                                                  "end": "2026-08-06T12:00:00+00:00"}
    assert result["comparison"]["results"] == {"pageviews": 1}
    assert result["comparison"]["change"] == {"pageviews": 600}


def test_week_buckets_start_monday_and_empty_buckets_fill(client, compare_site):
    body = {"metrics": ["pageviews"], "dimensions": ["week"],
            "date_range": {"start": "2026-08-05", "end": "2026-08-20"}}
    rows = post_query(client, compare_site, body)["results"]
    assert rows == [{"week": "2026-08-03", "pageviews": 2},   # Monday before the range start
                    {"week": "2026-08-10", "pageviews": 6},
                    {"week": "2026-08-17", "pageviews": 0}]
    body = {"metrics": ["visitors", "bounce_rate", "avg_duration", "avg_scroll",
                        "views_per_visit"],
            "dimensions": ["date"], "date_range": {"start": "2026-08-01", "end": "2026-08-04"}}
    assert post_query(client, compare_site, body)["results"] == [
        {"date": d, "visitors": 0, "bounce_rate": 0, "avg_duration": 0, "avg_scroll": 0,
         "views_per_visit": 0.0} for d in ("2026-08-01", "2026-08-02", "2026-08-03")]


def test_time_series_order_and_paging(client, compare_site):
    body = {"metrics": ["pageviews"], "dimensions": ["date"], "date_range": CURRENT,
            "order_by": "pageviews", "order_dir": "desc"}
    rows = post_query(client, compare_site, body)["results"]
    # ties (08-10 and 08-11... none; 08-13 is 0) keep time order
    assert [r["date"] for r in rows] == ["2026-08-12", "2026-08-10", "2026-08-11", "2026-08-13"]
    body.update(order_by="date", order_dir="desc", limit=2, offset=1)
    rows = post_query(client, compare_site, body)["results"]
    assert [r["date"] for r in rows] == ["2026-08-12", "2026-08-11"]


def test_time_and_other_dimension(client, compare_site):
    body = {"metrics": ["pageviews"], "dimensions": ["date", "page"], "date_range": CURRENT}
    rows = post_query(client, compare_site, body)["results"]
    assert rows == [
        {"date": "2026-08-10", "page": "/", "pageviews": 2},
        {"date": "2026-08-11", "page": "/", "pageviews": 1},
        {"date": "2026-08-12", "page": "/", "pageviews": 1},
        {"date": "2026-08-12", "page": "/a", "pageviews": 1},
        {"date": "2026-08-12", "page": "/b", "pageviews": 1},
    ]
