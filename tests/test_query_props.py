"""Custom properties in /api/query (SPEC §8): `prop:<key>` dimensions and filters, the `events`
metric, "(none)", every operator with string and list values, combinations with other dimensions,
session metrics over the sessions that sent the value, GET /api/props, and the 400s.

Events (UTC, 2026-08-02; engagement updates are not events):
  SA  VA GB  10:00 pageview /pricing {plan: pro}; 10:01 custom signup {plan: pro, interval: annual};
             10:02 click (no props); engagement on /pricing: scroll 50, 20 s
  SB  VB SE  10:00 pageview / ; 10:05 custom signup {plan: free, interval: monthly}
  SC  VC     11:00 custom signup {plan: team, interval: annual}          (no pageview)
  SD  VD     12:00 pageview /blog {plan: pro, plan: free} (first value counts); 12:01 pageview /blog/2
Sessions: SA 1 pageview + click, 20 s engaged (no bounce); SB 1 pageview, 300 s, bounce;
          SC 0 pageviews, 0 s, bounce; SD 2 pageviews, 60 s.
"""

from __future__ import annotations

import pytest

from tests.query_support import Visitor, at, flush, frozen_clock, get, make_site, post_query

NOW = at("2026-08-10 12:00:00")
RANGE = {"start": "2026-08-01", "end": "2026-08-08"}


@pytest.fixture(scope="module")
def site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    va = Visitor(client, site, country="GB")
    pv = va.pageview("2026-08-02 10:00:00", "/pricing", meta_keys=["plan"], meta_values=["pro"])
    va.custom("2026-08-02 10:01:00", "signup", "/pricing", meta_keys=["plan", "interval"],
              meta_values=["pro", "annual"])
    va.click("2026-08-02 10:02:00", "/pricing")
    va.engage("2026-08-02 10:03:00", pv, "/pricing", scroll=50, engaged_ms=20000)
    vb = Visitor(client, site, country="SE")
    vb.pageview("2026-08-02 10:00:00", "/")
    vb.custom("2026-08-02 10:05:00", "signup", "/", meta_keys=["plan", "interval"],
              meta_values=["free", "monthly"])
    Visitor(client, site).custom("2026-08-02 11:00:00", "signup", "/", meta_keys=["plan", "interval"],
                                 meta_values=["team", "annual"])
    vd = Visitor(client, site)
    vd.pageview("2026-08-02 12:00:00", "/blog", meta_keys=["plan", "plan"], meta_values=["pro", "free"])
    vd.pageview("2026-08-02 12:01:00", "/blog/2")
    flush(app)
    with frozen_clock(app, NOW):
        yield site


def q(client, site, metrics, dimensions=(), filters=(), status=200, **extra):
    body = {"metrics": list(metrics), "dimensions": list(dimensions), "date_range": RANGE,
            "filters": [{"dimension": d, "operator": o, "value": v} for d, o, v in filters], **extra}
    return post_query(client, site, body, status=status)


def test_breakdown_with_none(client, site):
    rows = q(client, site, ["events", "visitors", "sessions", "pageviews"], ["prop:plan"])["results"]
    assert rows == [
        {"prop:plan": "(none)", "events": 3, "visitors": 3, "sessions": 3, "pageviews": 2},
        {"prop:plan": "pro", "events": 3, "visitors": 2, "sessions": 2, "pageviews": 2},
        {"prop:plan": "free", "events": 1, "visitors": 1, "sessions": 1, "pageviews": 0},
        {"prop:plan": "team", "events": 1, "visitors": 1, "sessions": 1, "pageviews": 0},
    ]


def test_avg_scroll_over_the_page_visits_of_those_sessions(client, site):
    rows = q(client, site, ["avg_scroll", "events"], ["prop:plan"])["results"]
    # only SA's /pricing page visit reported a scroll (50): pro (SA SD) and (none) (SA SB SD) show it
    assert rows == [{"prop:plan": "(none)", "avg_scroll": 50, "events": 3},
                    {"prop:plan": "pro", "avg_scroll": 50, "events": 3},
                    {"prop:plan": "free", "avg_scroll": 0, "events": 1},
                    {"prop:plan": "team", "avg_scroll": 0, "events": 1}]


def test_session_metrics_over_the_sessions_that_sent_the_value(client, site):
    rows = q(client, site, ["sessions", "bounce_rate", "views_per_visit", "clickers", "avg_duration"],
             ["prop:plan"])["results"]
    assert rows == [
        # SA SB SD: 1 bounce of 3; (1+1+2)/3 pageviews; SA clicked; (20+300+60)/3 s
        {"prop:plan": "(none)", "sessions": 3, "bounce_rate": 33, "views_per_visit": 1.33,
         "clickers": 1, "avg_duration": 127},
        # SA SD
        {"prop:plan": "pro", "sessions": 2, "bounce_rate": 0, "views_per_visit": 1.5, "clickers": 1,
         "avg_duration": 40},
        {"prop:plan": "free", "sessions": 1, "bounce_rate": 100, "views_per_visit": 1.0,
         "clickers": 0, "avg_duration": 300},
        {"prop:plan": "team", "sessions": 1, "bounce_rate": 100, "views_per_visit": 0.0,
         "clickers": 0, "avg_duration": 0},
    ]


def events_where(client, site, *filters) -> int:
    return q(client, site, ["events"], (), filters)["results"]["events"]


def test_operators_and_lists(client, site):
    key = "prop:plan"
    assert events_where(client, site, (key, "is", "pro")) == 3
    assert events_where(client, site, (key, "is", ["pro", "team"])) == 4
    assert events_where(client, site, (key, "is", "Pro")) == 0                      # exact case
    assert events_where(client, site, (key, "is", "(none)")) == 3
    assert events_where(client, site, (key, "is", ["(none)", "team"])) == 4
    assert events_where(client, site, (key, "is_not", "pro")) == 5                  # (none) free team
    assert events_where(client, site, (key, "is_not", ["pro", "(none)"])) == 2      # list ANDs
    assert events_where(client, site, (key, "contains", "R")) == 4                  # pro, free
    assert events_where(client, site, (key, "contains", ["TE", "NON"])) == 4       # team, (none)
    assert events_where(client, site, (key, "not_contains", "e")) == 3              # pro
    assert events_where(client, site, (key, "not_contains", ["p", "f"])) == 4       # (none), team
    assert events_where(client, site, (key, "starts_with", "t")) == 1
    assert events_where(client, site, (key, "starts_with", ["(", "f"])) == 4
    assert events_where(client, site, (key, "ends_with", ["o", "m"])) == 4          # pro, team
    assert events_where(client, site, (key, "ends_with", "E")) == 0                 # exact case
    assert events_where(client, site, ("prop:nokey", "is", "(none)")) == 8
    assert events_where(client, site, ("prop:nokey", "is_not", "(none)")) == 0


def test_two_keys(client, site):
    assert events_where(client, site, ("prop:plan", "is", "pro"), ("prop:interval", "is", "annual")) == 1
    rows = q(client, site, ["events", "visitors"], ["prop:interval"],
             [("prop:plan", "is_not", "free")])["results"]
    assert rows == [
        {"prop:interval": "(none)", "events": 5, "visitors": 3},   # e1 e3 e4 e7 e8
        {"prop:interval": "annual", "events": 2, "visitors": 2},   # e2 e6
    ]
    rows = q(client, site, ["events"], ["prop:plan", "prop:interval"])["results"]
    assert rows == [
        {"prop:plan": "(none)", "prop:interval": "(none)", "events": 3},
        {"prop:plan": "pro", "prop:interval": "(none)", "events": 2},
        {"prop:plan": "free", "prop:interval": "monthly", "events": 1},
        {"prop:plan": "pro", "prop:interval": "annual", "events": 1},
        {"prop:plan": "team", "prop:interval": "annual", "events": 1},
    ]


def test_with_other_dimensions_and_filters(client, site):
    rows = q(client, site, ["events"], ["hour", "prop:plan"])["results"]
    assert [(r["hour"], r["prop:plan"], r["events"]) for r in rows] == [
        ("2026-08-02 10:00", "(none)", 2), ("2026-08-02 10:00", "pro", 2),
        ("2026-08-02 10:00", "free", 1), ("2026-08-02 11:00", "team", 1),
        ("2026-08-02 12:00", "(none)", 1), ("2026-08-02 12:00", "pro", 1),
    ]
    gb = q(client, site, ["events", "visitors"], ["prop:plan"], [("country", "is", "GB")])["results"]
    assert gb == [{"prop:plan": "pro", "events": 2, "visitors": 1},
                  {"prop:plan": "(none)", "events": 1, "visitors": 1}]
    pages = q(client, site, ["events", "pageviews"], ["page"], [("prop:plan", "is", "pro")])["results"]
    assert pages == [{"page": "/pricing", "events": 2, "pageviews": 1},
                     {"page": "/blog", "events": 1, "pageviews": 1}]
    entry = q(client, site, ["events", "sessions"], ["entry_page"], [("prop:plan", "is", "pro")])["results"]
    assert entry == [{"entry_page": "/pricing", "events": 2, "sessions": 1},
                     {"entry_page": "/blog", "events": 1, "sessions": 1}]
    by_source = q(client, site, ["visitors"], ["source", "prop:interval"],
                  [("page", "is", "/"), ("exit_page", "is", "/")])["results"]
    # events on / (e4 e5 e6) of sessions that exited on / (SB; SC has no pageview)
    assert by_source == [{"source": "Direct / None", "prop:interval": "(none)", "visitors": 1},
                         {"source": "Direct / None", "prop:interval": "monthly", "visitors": 1}]


def test_time_series_and_totals(client, site):
    rows = q(client, site, ["events", "visitors"], ["date"], [("prop:plan", "is", "pro")])["results"]
    assert [(r["date"], r["events"], r["visitors"]) for r in rows] == [
        ("2026-08-01", 0, 0), ("2026-08-02", 3, 2)] + [(f"2026-08-0{d}", 0, 0) for d in range(3, 8)]
    totals = q(client, site, ["events", "visitors", "sessions", "pageviews", "bounce_rate"], (),
               [("prop:plan", "is_not", "(none)")])["results"]
    # SA SB SC SD all sent a plan: e1 e2 e5 e6 e7
    assert totals == {"events": 5, "visitors": 4, "sessions": 4, "pageviews": 2, "bounce_rate": 50}


def test_order_paging_comparison(client, site):
    rows = q(client, site, ["events"], ["prop:plan"], order_by="prop:plan", order_dir="desc",
             limit=2, offset=1)["results"]
    assert rows == [{"prop:plan": "pro", "events": 3}, {"prop:plan": "free", "events": 1}]
    result = q(client, site, ["events"], ["prop:plan"], include_comparison=True)
    assert result["comparison"]["results"][0] == {"prop:plan": "(none)", "events": 0}
    assert result["comparison"]["change"][0] == {"prop:plan": "(none)", "events": None}


def test_props_breakdown_get(client, site):
    params = {"key": "plan", "start_date": RANGE["start"], "end_date": RANGE["end"]}
    assert get(client, site, "/api/props", params)["results"] == [
        {"prop:plan": "(none)", "visitors": 3, "sessions": 3, "events": 3},
        {"prop:plan": "pro", "visitors": 2, "sessions": 2, "events": 3},
        {"prop:plan": "free", "visitors": 1, "sessions": 1, "events": 1},
        {"prop:plan": "team", "visitors": 1, "sessions": 1, "events": 1},
    ]
    keys = get(client, site, "/api/props", {k: v for k, v in params.items() if k != "key"})
    assert keys["results"] == [{"key": "plan", "visitors": 4, "events": 5},
                               {"key": "interval", "visitors": 3, "events": 3}]
    bad = get(client, site, "/api/props", {**params, "key": "a b"}, status=400)
    assert bad["message"].startswith("key: ")


@pytest.mark.parametrize(("body", "field"), [
    ({"metrics": ["events"]}, "metrics"),
    ({"metrics": ["events"], "dimensions": ["page"]}, "metrics"),
    ({"dimensions": ["prop:"]}, "dimensions"),
    ({"dimensions": ["prop:a b"]}, "dimensions"),
    ({"dimensions": ["prop:" + "k" * 101]}, "dimensions"),
    ({"dimensions": ["prop:plan", "prop:plan"]}, "dimensions"),
    ({"dimensions": ["prop:ü"]}, "dimensions"),
    ({"filters": [{"dimension": "prop:a'b", "operator": "is", "value": "x"}]}, "filters[0].dimension"),
    ({"filters": [{"dimension": "prop:plan", "operator": "like", "value": "x"}]}, "filters[0].operator"),
    ({"filters": [{"dimension": "prop:plan", "operator": "is", "value": 1}]}, "filters[0].value"),
    ({"dimensions": ["prop:plan"], "order_by": "prop:other"}, "order_by"),
])
def test_bad_requests(client, site, body, field):
    result = post_query(client, site, {"date_range": RANGE, **body}, status=400)
    assert result["message"].startswith(f"{field}: "), result


def test_key_charset_and_length(client, site):
    key = "prop:" + "a.b:c-d_E9" * 10
    assert q(client, site, ["events"], [key])["results"] == [{key: "(none)", "events": 8}]


def test_hostile_values_are_bound(client, site):
    hostile = "x') OR 1=1 --"
    assert events_where(client, site, ("prop:plan", "is", hostile)) == 0
    assert events_where(client, site, ("prop:x.y:z-_", "contains", [hostile, "%"])) == 0


def test_migration_backfill_matches_the_view(app, site):
    """schema/0010's backfill (for events stored before it) gives the rows its materialized view
    gives live events."""
    from engine.migrations import migration_files, statements

    sql = next(text for _, name, text in migration_files() if name == "0010_event_props.sql")
    backfill = next(s for s in statements(sql) if s.startswith("INSERT INTO event_props"))
    select = backfill.removeprefix("INSERT INTO event_props").strip()
    order = " ORDER BY event_id, key"
    store = app.state.store
    params = {"site": site.site_id}
    live = store.rows(f"SELECT * FROM event_props WHERE site_id = {{site:UInt32}}{order}", params)
    again = store.rows(f"SELECT * FROM ({select}) WHERE site_id = {{site:UInt32}}{order}", params)
    # e1 e2 e5 e6 e7 carry 1 + 2 + 2 + 2 + 1 (the repeated plan once) key/value pairs
    assert len(live) == 8 and live == again


# --- "(none)" from the hourly key-set rollup (schema/0011) --------------------------------------
#
# A second site (UTC), key k (V = visitor, each in one session):
#   VA  08-01 18:20 pageview /        08-01 18:45 pageview /x
#   VB  08-02 12:00 pageview /        12:01 click {k: a}      12:02 custom c {k: "(none)"}
#   VC  08-02 18:10 pageview /        18:11 custom c {k: b}   18:40 pageview /y
# In Asia/Kolkata (UTC+5:30) the day 08-02 is [08-01 18:30, 08-02 18:30) UTC: its whole UTC hours
# come from the rollup, VA's 18:45 and VC's 18:10/18:11 from the raw events of the partial hours.

@pytest.fixture(scope="module")
def edges_site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    va = Visitor(client, site)
    va.pageview("2026-08-01 18:20:00", "/")
    va.pageview("2026-08-01 18:45:00", "/x")
    vb = Visitor(client, site)
    vb.pageview("2026-08-02 12:00:00", "/")
    vb.send("2026-08-02 12:01:00", path="/", type="click", name="out", meta_keys=["k"],
            meta_values=["a"])
    vb.custom("2026-08-02 12:02:00", "c", "/", meta_keys=["k"], meta_values=["(none)"])
    vc = Visitor(client, site)
    vc.pageview("2026-08-02 18:10:00", "/")
    vc.custom("2026-08-02 18:11:00", "c", "/", meta_keys=["k"], meta_values=["b"])
    vc.pageview("2026-08-02 18:40:00", "/y")
    flush(app)
    return site


def _both_ways(client, site, body, monkeypatch):
    """The answer with the key-set rollup and without it (the scan of the events): equal."""
    from engine.query import props

    fast = post_query(client, site, body)
    monkeypatch.setattr(props, "KEYSETS_ENABLED", False)
    slow = post_query(client, site, body)
    monkeypatch.setattr(props, "KEYSETS_ENABLED", True)
    assert fast == slow
    return fast["results"]


def test_none_from_the_keyset_rollup_and_the_edge_hours(app, client, edges_site, monkeypatch):
    metrics = ["events", "visitors", "sessions", "pageviews"]
    day = {"start": "2026-08-02", "end": "2026-08-03"}
    body = {"metrics": metrics, "dimensions": ["prop:k"], "date_range": day, "timezone": "Asia/Kolkata"}
    # (none): VA 18:45, VB 12:00 and its literal "(none)" value, VC 18:10 (VC 18:40 is after the day)
    assert _both_ways(client, edges_site, body, monkeypatch) == [
        {"prop:k": "(none)", "events": 4, "visitors": 3, "sessions": 3, "pageviews": 3},
        {"prop:k": "a", "events": 1, "visitors": 1, "sessions": 1, "pageviews": 0},
        {"prop:k": "b", "events": 1, "visitors": 1, "sessions": 1, "pageviews": 0},
    ]
    # UTC day 08-02 (whole hours): VB 12:00 + literal, VC 18:10 and 18:40; VA is on 08-01
    utc = {**body, "timezone": "UTC"}
    assert _both_ways(client, edges_site, utc, monkeypatch)[0] == {
        "prop:k": "(none)", "events": 4, "visitors": 2, "sessions": 2, "pageviews": 3}
    # a range ending now (18:20, a partial hour): VB's two, VC's 18:10
    with frozen_clock(app, at("2026-08-02 18:20:00")):
        today = {"metrics": ["events", "visitors"], "dimensions": ["prop:k"], "period": "today"}
        assert _both_ways(client, edges_site, today, monkeypatch) == [
            {"prop:k": "(none)", "events": 3, "visitors": 2},
            {"prop:k": "a", "events": 1, "visitors": 1},
            {"prop:k": "b", "events": 1, "visitors": 1}]
    # filters that keep "(none)", and totals
    keep = {**body, "filters": [{"dimension": "prop:k", "operator": "is_not", "value": "b"}]}
    assert _both_ways(client, edges_site, keep, monkeypatch) == [
        {"prop:k": "(none)", "events": 4, "visitors": 3, "sessions": 3, "pageviews": 3},
        {"prop:k": "a", "events": 1, "visitors": 1, "sessions": 1, "pageviews": 0}]
    totals = {**keep, "dimensions": []}
    assert _both_ways(client, edges_site, totals, monkeypatch) == {
        "events": 5, "visitors": 3, "sessions": 3, "pageviews": 3}
    # no events at all in the range: no row
    empty = {**body, "date_range": {"start": "2026-07-01", "end": "2026-07-02"}}
    assert _both_ways(client, edges_site, empty, monkeypatch) == []
    # with session metrics: VA's session started before the Kolkata day (18:20 UTC) and counts
    # for its 18:45 pageview; durations (no engagement): VA 25 min, VB 2 min, VC 30 min
    session_metrics = {**body, "metrics": ["visitors", "events", "sessions", "bounce_rate",
                                           "views_per_visit", "clickers", "avg_duration"]}
    assert _both_ways(client, edges_site, session_metrics, monkeypatch) == [
        {"prop:k": "(none)", "visitors": 3, "events": 4, "sessions": 3, "bounce_rate": 0,
         "views_per_visit": 1.67, "clickers": 1, "avg_duration": 1140},
        {"prop:k": "a", "visitors": 1, "events": 1, "sessions": 1, "bounce_rate": 0,
         "views_per_visit": 1.0, "clickers": 1, "avg_duration": 120},
        {"prop:k": "b", "visitors": 1, "events": 1, "sessions": 1, "bounce_rate": 0,
         "views_per_visit": 2.0, "clickers": 0, "avg_duration": 1800},
    ]
    assert _both_ways(client, edges_site, {**session_metrics, "date_range": empty["date_range"]},
                      monkeypatch) == []


def test_the_fixture_queries_both_ways(client, site, monkeypatch):
    for dims, filters in ((["prop:plan"], []), (["prop:interval"], []),
                          (["prop:plan"], [{"dimension": "prop:plan", "operator": "contains",
                                            "value": ["o", "N"]}]),
                          ([], [{"dimension": "prop:plan", "operator": "is_not", "value": "pro"}])):
        for metrics in (["events", "visitors", "sessions", "pageviews"],
                        ["visitors", "sessions", "bounce_rate", "avg_duration", "views_per_visit",
                         "clickers", "events"]):
            body = {"metrics": metrics, "dimensions": dims, "filters": filters, "date_range": RANGE}
            _both_ways(client, site, body, monkeypatch)


def test_keyset_backfill_matches_the_view(app, site):
    """schema/0011's backfill gives the counts and states its materialized view gives."""
    from engine.migrations import migration_files, statements

    sql = next(text for _, name, text in migration_files() if name == "0011_prop_keysets_hourly.sql")
    backfill = next(s for s in statements(sql) if s.startswith("INSERT INTO prop_keysets_hourly"))
    select = backfill.removeprefix("INSERT INTO prop_keysets_hourly").strip()
    merged = ("SELECT hour, keys, sum(events), sum(pageviews), uniqMerge(visitors), uniqMerge(sessions) "
              "FROM ({}) WHERE site_id = {{site:UInt32}} GROUP BY hour, keys ORDER BY hour, keys")
    store = app.state.store
    params = {"site": site.site_id}
    live = store.rows(merged.format("SELECT * FROM prop_keysets_hourly"), params)
    again = store.rows(merged.format(select), params)
    # hours 10 ([plan], [interval, plan], []) 11 ([interval, plan]) 12 ([plan], [])
    assert len(live) == 6 and live == again
