"""The hourly rollup: when the planner reads it, and that it answers exactly like raw events."""

from __future__ import annotations

import pytest

from engine.query import compile_query
from engine.query import plan as planner
from engine.query.parse import parse_query
from engine.query.periods import resolve_range
from engine.query.plan import plan_query, rollup_window
from tests.query_support import Visitor, at, flush, frozen_clock, make_site, post_query

NOW = at("2026-05-14 10:20:00")


def window(body, now=NOW):
    query = parse_query(body)
    rng = resolve_range(query.period, query.date_range, query.timezone, now)
    return rollup_window(query, plan_query(query), rng)


def test_rollup_is_used_only_where_it_is_exact():
    assert window({"metrics": ["visitors", "pageviews"], "period": "7d"}) == (
        at("2026-05-08 00:00:00"), at("2026-05-14 10:00:00"))
    assert window({"metrics": ["visitors"], "dimensions": ["date"], "period": "30d",
                   "timezone": "Europe/Berlin"}) is not None
    # datetimes inside hours: only the whole hours between them
    assert window({"metrics": ["pageviews"], "date_range": {
        "start": "2026-05-01T10:30:00Z", "end": "2026-05-01T13:15:00Z"}}) == (
        at("2026-05-01 11:00:00"), at("2026-05-01 13:00:00"))
    # not for: filters, other dimensions, other metrics, under an hour, :30 zones with buckets
    assert window({"metrics": ["visitors"], "period": "7d", "filters": [
        {"dimension": "country", "operator": "is", "value": "SE"}]}) is None
    assert window({"metrics": ["visitors"], "dimensions": ["page"], "period": "7d"}) is None
    assert window({"metrics": ["visitors"], "dimensions": ["source"], "period": "7d"}) is None
    assert window({"metrics": ["bounce_rate"], "period": "7d"}) is None
    assert window({"metrics": ["visitors"], "period": "realtime"}) is None
    assert window({"metrics": ["visitors"], "dimensions": ["date"], "period": "7d",
                   "timezone": "Asia/Kolkata"}) is None
    assert window({"metrics": ["visitors"], "period": "7d", "timezone": "Asia/Kolkata"}) is not None
    # session metrics still come from the sessions aggregate next to it
    sql, _ = compile_query(1, {"metrics": ["visitors", "bounce_rate"], "period": "7d"}, now=NOW)
    assert "events_hourly" in sql and "FROM sessions FINAL" in sql


@pytest.fixture(scope="module")
def site(app, client, admin_headers):
    site = make_site(client, admin_headers, timezone="Asia/Kolkata")
    v = Visitor(client, site)
    for moment in ["2026-05-12 18:29:00", "2026-05-12 18:31:00", "2026-05-13 09:59:59.999",
                   "2026-05-13 10:00:00"]:
        Visitor(client, site).pageview(moment, "/")
    v.pageview("2026-05-14 10:05:00", "/a")   # the partial last hour
    v.pageview("2026-05-14 10:06:00", "/b")
    v.custom("2026-05-14 10:07:00", "Signup")
    Visitor(client, site).pageview("2026-05-14 10:30:00", "/late")  # after now
    flush(app)
    with frozen_clock(app, NOW):
        yield site


@pytest.mark.parametrize("body", [
    {"metrics": ["visitors", "pageviews"], "period": "7d"},
    {"metrics": ["pageviews", "visitors"], "period": "today"},
    {"metrics": ["visitors"], "dimensions": ["hour"], "period": "today"},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["date"], "period": "7d"},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["date"], "period": "7d",
     "timezone": "Asia/Kolkata"},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["hour"],
     "date_range": {"start": "2026-05-12T18:00:00Z", "end": "2026-05-13T10:00:00.001Z"}},
    {"metrics": ["visitors", "pageviews", "bounce_rate"], "period": "30d",
     "include_comparison": True},
])
def test_rollup_and_raw_events_agree(client, site, body, monkeypatch):
    with_rollup = post_query(client, site, body)
    monkeypatch.setattr(planner, "ROLLUP_ENABLED", False)
    assert post_query(client, site, body) == with_rollup


def test_rollup_counts(client, site):
    assert post_query(client, site, {"metrics": ["visitors", "pageviews"], "period": "7d"}) == {
        "results": {"visitors": 5, "pageviews": 6}}
    body = {"metrics": ["pageviews"], "dimensions": ["date"], "timezone": "Asia/Kolkata",
            "date_range": {"start": "2026-05-12", "end": "2026-05-15"}}
    # 18:29 UTC is 23:59 in Kolkata, 18:31 UTC is 00:01 the next day
    assert post_query(client, site, body)["results"] == [
        {"date": "2026-05-12", "pageviews": 1}, {"date": "2026-05-13", "pageviews": 3},
        {"date": "2026-05-14", "pageviews": 3}]  # 10:30 is in the range


def test_a_replayed_insert_is_not_counted_twice_in_the_hourly_rollup(app, client):
    """The writer retries and the spool replays with the batch's deduplication token: events skips
    the block, and so must events_hourly (migration 0004), or its pageviews double."""
    import datetime as dt

    store = app.state.store
    site_id = 4_000_000_123
    t = dt.datetime(2026, 5, 1, 10, tzinfo=dt.UTC)
    cols = ["site_id", "timestamp", "event_id", "type", "user_id", "session_id", "session_start", "pathname"]
    data = [[site_id] * 2, [t, t], [1, 2], ["pageview"] * 2, [7, 7], [9, 9], [t, t], ["/", "/a"]]
    for _ in range(2):
        store.insert_columns("events", data, cols, dedup_token=f"replay-{site_id}")
    q = {"s": site_id}
    assert store.rows("SELECT count() FROM events WHERE site_id = {s:UInt32}", q)[0][0] == 2
    assert store.rows("SELECT sum(pageviews) FROM events_hourly WHERE site_id = {s:UInt32}", q)[0][0] == 2


def _key(body, tz="UTC"):
    from engine.query.rollup import rollup_dimension

    return rollup_dimension(parse_query({"period": "30d", "timezone": tz, **body}), tz)


def _f(dim, value, op="is"):
    return {"dimension": dim, "operator": op, "value": value}


def test_which_rollup_key_answers_a_query():
    """Pairs of dimensions and page directories: used exactly where their rows add up."""
    vis = ["visitors", "pageviews"]
    page = {"metrics": vis, "dimensions": ["page"]}
    assert _key({**page, "filters": [_f("source", "Google")]}) == "source|page"
    # visitors over two sources do not add up (a visitor may come from both); pageviews do
    assert _key({**page, "filters": [_f("source", ["Google", "Bing"])]}) is None
    assert _key({"metrics": ["pageviews"], "dimensions": ["page"],
                 "filters": [_f("source", ["Google", "Bing"])]}) == "source|page"
    # a visitor has one device a day: several devices add up
    assert _key({"metrics": vis, "dimensions": ["source"],
                 "filters": [_f("device", ["Desktop", "Mobile"])]}) == "source|device"
    two = [_f("country", "US"), _f("device", "Mobile")]
    assert _key({"metrics": vis, "filters": two}) == "country|device"
    assert _key({"metrics": vis, "dimensions": ["device", "country", "date"]}) == "country|device"
    assert _key({**page, "filters": [_f("country", "US")]}) is None  # a pair not kept
    assert _key({**page, "metrics": ["sessions"], "filters": [_f("device", "Mobile")]}) is None
    assert _key({"metrics": vis, "dimensions": ["source"],
                 "filters": [_f("device", "Mobile"), _f("country", "US")]}) is None  # three dimensions
    assert _key({"metrics": vis, "dimensions": ["source", "date"], "filters": [_f("device", "Mobile")]},
                tz="UTC") == "source|device"
    # page directories: one directory ('/' and up to three levels below it), with visitors
    assert _key({"metrics": vis, "filters": [_f("page", "/blog/", "starts_with")]}) == "page_dir"
    assert _key({"metrics": vis, "filters": [_f("page", "/a/b/c/", "starts_with")]}) == "page_dir"
    assert _key({"metrics": vis, "filters": [_f("page", "/a/b/c/d/", "starts_with")]}) is None
    assert _key({"metrics": vis, "filters": [_f("page", "/a//", "starts_with")]}) is None
    assert _key({"metrics": vis, "filters": [_f("page", "/blog", "starts_with")]}) is None
    assert _key({"metrics": ["pageviews"], "filters": [_f("page", "/blog", "starts_with")]}) == "page"
    assert _key({"metrics": vis, "filters": [_f("page", ["/blog/", "/docs/"], "starts_with")]}) is None
    assert _key({"metrics": ["views_per_visit"], "filters": [_f("page", "/blog/", "starts_with")]}) is None
