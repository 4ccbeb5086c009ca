"""Every 400 of POST /api/query (naming the field and the valid values), auth, and hostile input."""

from __future__ import annotations

import pytest

from engine.query import compile_query
from engine.query.fields import DIMENSIONS, FILTER_DIMENSIONS, METRICS, OPERATORS, PERIODS
from tests.query_support import Visitor, at, flush, frozen_clock, get, make_site, post_query

NOW = at("2026-06-10 12:00:00")


@pytest.fixture(scope="module")
def site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    Visitor(client, site).pageview("2026-06-10 10:00:00", "/x")
    flush(app)
    with frozen_clock(app, NOW):
        yield site


def bad(client, site, body, field, *mentions):
    result = post_query(client, site, body, status=400)
    assert result["error"] == "Bad Request"
    message = result["message"]
    assert message.startswith(field + ":"), message
    for text in mentions:
        assert text in message, message
    return message


ALL_METRICS = ", ".join(METRICS)


@pytest.mark.parametrize("body, field, mentions", [
    ({"metric": ["visitors"]}, "metric", ["unknown field", "metrics, dimensions, period"]),
    ({"metrics": ["bounces"]}, "metrics", ["'bounces'", ALL_METRICS]),
    ({"metrics": "visitors"}, "metrics", ["list", ALL_METRICS]),
    ({"metrics": []}, "metrics", [ALL_METRICS]),
    ({"metrics": ["visitors", "visitors"]}, "metrics", ["twice"]),
    ({"metrics": [1]}, "metrics", [ALL_METRICS]),
    ({"dimensions": ["weekday"]}, "dimensions", ["'weekday'", ", ".join(DIMENSIONS)]),
    ({"dimensions": ["date", "hour"]}, "dimensions", ["one time dimension"]),
    ({"dimensions": "page"}, "dimensions", ["list"]),
    ({"period": "5d"}, "period", ["'5d'", ", ".join(PERIODS)]),
    ({"period": 7}, "period", [", ".join(PERIODS)]),
    ({"period": "7d", "date_range": {"start": "2026-01-01", "end": "2026-01-02"}}, "period",
     ["not both"]),
    ({"date_range": "2026-01-01"}, "date_range", ["start", "end"]),
    ({"date_range": {"start": "2026-01-01"}}, "date_range.end", ["required"]),
    ({"date_range": {"start": "2026-01-01", "end": "2026-02-30"}}, "date_range.end", ["date"]),
    ({"date_range": {"start": "2026-01-05", "end": "2026-01-01"}}, "date_range.end", ["after"]),
    ({"date_range": {"start": "2026-01-01", "end": "2026-01-02", "tz": "UTC"}},
     "date_range.tz", ["start, end"]),
    ({"filters": {"dimension": "page"}}, "filters", ["list"]),
    ({"filters": ["page"]}, "filters[0]", ["object"]),
    ({"filters": [{"dimension": "hour", "operator": "is", "value": "x"}]},
     "filters[0].dimension", ["cannot be filtered", ", ".join(FILTER_DIMENSIONS)]),
    ({"filters": [{"dimension": "page", "operator": "equals", "value": "x"}]},
     "filters[0].operator", ["'equals'", ", ".join(OPERATORS)]),
    ({"filters": [{"dimension": "page", "operator": "is", "value": 5}]},
     "filters[0].value", ["string"]),
    ({"filters": [{"dimension": "page", "operator": "is", "value": []}]},
     "filters[0].value", ["non-empty"]),
    ({"filters": [{"dimension": "page", "operator": "is", "value": ["a", None]}]},
     "filters[0].value", ["string"]),
    ({"filters": [{"dimension": "page", "operator": "is"}]}, "filters[0].value", ["string"]),
    ({"filters": [{"dimension": "page", "operator": "is", "value": "a", "x": 1}]},
     "filters[0].x", ["dimension, operator, value"]),
    ({"filters": [{"dimension": "page", "operator": "is", "value": "a" * 2001}]},
     "filters[0].value", ["2000"]),
    ({"order_by": "pageviews"}, "order_by", ["visitors"]),
    ({"metrics": ["visitors"], "dimensions": ["page"], "order_by": "country"}, "order_by",
     ["visitors, page"]),
    ({"order_dir": "up"}, "order_dir", ["asc, desc"]),
    ({"limit": 0}, "limit", ["1 to 10000"]),
    ({"limit": 10001}, "limit", ["1 to 10000"]),
    ({"limit": "10"}, "limit", ["1 to 10000"]),
    ({"limit": 1.5}, "limit", ["1 to 10000"]),
    ({"limit": True}, "limit", ["1 to 10000"]),
    ({"offset": -1}, "offset", ["0 to"]),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone", ["IANA"]),
    ({"timezone": "localtime"}, "timezone", ["IANA"]),
    ({"timezone": 1}, "timezone", ["IANA"]),
    ({"timezone": "../../../etc/passwd"}, "timezone", ["IANA"]),
    ({"include_comparison": "yes"}, "include_comparison", ["true or false"]),
    ({"dimensions": ["hour"], "period": "all", "date_range": None, "timezone": "UTC",
      "metrics": ["visitors"], "include_comparison": False, "filters": [], "limit": 5,
      "offset": 0, "order_dir": "asc", "order_by": None, "zzz": 1}, "zzz", ["unknown field"]),
])
def test_bad_requests(client, site, body, field, mentions):
    bad(client, site, body, field, *mentions)


def test_bad_bodies(client, site):
    headers = {"x-api-key": site.read_key, "content-type": "application/json"}
    for content in (b"", b"{", b"[1, 2]", b'"text"', b"null"):
        r = client.post("/api/query", content=content, headers=headers)
        assert r.status_code == 400, (content, r.text)
        assert r.json()["error"] == "Bad Request"


def test_too_many_buckets(client, site):
    bad(client, site, {"dimensions": ["hour"], "date_range": {"start": "1990-01-01",
                                                              "end": "2026-01-01"}},
        "dimensions", "hour")


def test_authentication(client, site):
    body = {"metrics": ["visitors"], "period": "today"}
    assert client.post("/api/query", json=body).status_code == 401
    r = client.post("/api/query", json=body, headers={"x-api-key": "ck_nope"})
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    r = client.post("/api/query", json=body, headers={"x-api-key": site.track_key})
    assert r.status_code == 401 and "read" in r.json()["message"]
    assert post_query(client, site, body, key=site.key) == {"results": {"visitors": 1}}
    assert post_query(client, site, body) == {"results": {"visitors": 1}}
    for path in ("/api/realtime", "/api/goals", "/api/pages", "/api/tech?type=os"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"x-api-key": site.track_key}).status_code == 401


def test_a_key_never_reads_another_site(client, admin_headers, site):
    other = make_site(client, admin_headers)
    body = {"metrics": ["visitors", "pageviews"], "period": "today"}
    assert post_query(client, other, body) == {"results": {"visitors": 0, "pageviews": 0}}
    assert get(client, other, "/api/pages") == {"results": []}


HOSTILE = [
    "'; DROP TABLE events; --", "\\' OR 1=1 --", "' OR '1'='1", "{site:UInt32}", "{p0:String}",
    "\x00", "a\nb\r\n", "%s", "%(site)s", "😀 ünï", "`; SELECT 1; --", '") OR ("1"="1',
    "Direct / None'", "\\", "$1$", "$$", "x" * 2000, "1) UNION ALL SELECT * FROM api_keys --",
    "toString(site_id)", "*/ SELECT 1 /*",
]


def test_hostile_filter_values_are_bound_and_harmless(client, site):
    for i, dimension in enumerate(FILTER_DIMENSIONS):
        for operator in (OPERATORS[i % len(OPERATORS)], OPERATORS[(i + 3) % len(OPERATORS)]):
            body = {"metrics": ["visitors", "sessions", "bounce_rate", "avg_scroll"],
                    "dimensions": ["page"], "period": "today",
                    "filters": [{"dimension": dimension, "operator": operator,
                                 "value": HOSTILE},
                                {"dimension": dimension, "operator": operator,
                                 "value": HOSTILE[i % len(HOSTILE)]}]}
            result = post_query(client, site, body)
            # the one pageview matches only the negative operators
            expected = 1 if operator in ("is_not", "not_contains") else 0
            assert len(result["results"]) == expected, (dimension, operator, result)
            # the SQL text does not depend on the values at all: they are only parameters
            values = [f"v{n}" for n in range(len(HOSTILE))]
            benign = {**body, "filters": [{**body["filters"][0], "value": values},
                                          {**body["filters"][1], "value": "v"}]}
            sql, params = compile_query(site.site_id, body, now=NOW)
            assert sql == compile_query(site.site_id, benign, now=NOW).sql
            assert list(HOSTILE) in params.values()
    # the data is still there
    assert post_query(client, site, {"metrics": ["pageviews"]}) == {"results": {"pageviews": 1}}


@pytest.mark.parametrize("hostile", HOSTILE[:8])
def test_hostile_identifiers_are_rejected(client, site, hostile):
    bad(client, site, {"dimensions": [hostile]}, "dimensions")
    bad(client, site, {"metrics": [hostile]}, "metrics")
    bad(client, site, {"order_by": hostile}, "order_by")
    bad(client, site, {"timezone": hostile}, "timezone")
    bad(client, site, {"period": hostile}, "period")
    bad(client, site, {"filters": [{"dimension": hostile, "operator": "is", "value": "x"}]},
        "filters[0].dimension")
    bad(client, site, {"filters": [{"dimension": "page", "operator": hostile, "value": "x"}]},
        "filters[0].operator")
    bad(client, site, {"date_range": {"start": hostile, "end": "2026-01-01"}},
        "date_range.start")
    bad(client, site, {"order_dir": hostile}, "order_dir")


def test_hostile_query_parameters_on_gets(client, site):
    for path in ("/api/pages", "/api/sources", "/api/goals", "/api/tech"):
        for name in ("start_date", "end_date", "timezone", "limit", "offset", "type"):
            if name == "type" and path != "/api/tech":
                continue
            for value in ("'; DROP TABLE events; --", "{site:UInt32}", "-1", "1e9", "%00"):
                params = {name: value}
                if path == "/api/tech" and name != "type":
                    params["type"] = "os"
                r = client.get(path, params=params, headers={"x-api-key": site.read_key})
                assert r.status_code in (200, 400), (path, name, value, r.text)
                if r.status_code == 400:
                    assert r.json()["message"].startswith(name), r.text
    r = client.get("/api/pages", params={"evil": "1"}, headers={"x-api-key": site.read_key})
    assert r.status_code == 400 and r.json()["message"].startswith("evil:")
