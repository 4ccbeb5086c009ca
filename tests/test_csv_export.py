"""CSV export (SPEC §8): `Accept: text/csv` on POST /api/query and every breakdown GET gives the
same rows as JSON — header of dimensions then metrics in request order, RFC 4180 quoting,
formula-injection prefix, no comparison block, one row without dimensions.

Campaign names are chosen to need quoting (comma, quote, line break) and the formula prefix
(=, +, -, @).
"""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import pytest

from engine.query.breakdowns import BREAKDOWNS, TECH_TYPES
from engine.query.fields import DIMENSIONS
from server.csv_export import wants_csv
from tests.query_support import (
    CHROME_WIN,
    SAFARI_IPHONE,
    Visitor,
    add_goal,
    at,
    flush,
    frozen_clock,
    get,
    make_site,
)

NOW = at("2026-06-20 12:00:00")
RANGE = {"start": "2026-06-01", "end": "2026-06-15"}
CAMPAIGNS = ['=HYPERLINK("http://x")', "a,b", 'say "hi"', "two\nlines", "-5", "@home", "+1", "plain"]
METRICS = ["visitors", "sessions", "pageviews", "views_per_visit", "bounce_rate", "avg_duration",
           "avg_scroll", "clickers"]


@pytest.fixture(scope="module")
def site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    for i, campaign in enumerate(CAMPAIGNS):
        v = Visitor(client, site, country=("GB", "SE", "US", None)[i % 4],
                    ua=SAFARI_IPHONE if i % 3 == 0 else CHROME_WIN)
        day = f"2026-06-{2 + i:02d}"
        url = (f"/p{i % 3}?utm_campaign={quote(campaign)}&utm_source=src{i % 2}&utm_medium=m"
               f"&utm_content=c{i % 2}&utm_term=-t{i % 3}")
        extra = {"referrer": "https://www.google.com/"} if i % 2 else {}
        pv = v.pageview(f"{day} 10:00:00", url, **extra)
        v.engage(f"{day} 10:00:20", pv, f"/p{i % 3}", scroll=30 + i, engaged_ms=20000 + 1000 * i)
        if i % 2:
            v.form(f"{day} 10:00:30", path=f"/p{i % 3}", meta_keys=["form_id"], meta_values=[campaign])
            v.pageview(f"{day} 10:01:00", "/-minus")
            v.click(f"{day} 10:02:00", "/-minus")
    flush(app)
    with frozen_clock(app, NOW):
        yield site


def post(client, site, body, accept=None):
    headers = {"x-api-key": site.read_key}
    if accept:
        headers["Accept"] = accept
    response = client.post("/api/query", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


def parse_csv(text: str) -> list[list[str]]:
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline="")))


def unguard(cell: str) -> str:
    return cell[1:] if cell[:2] in {"'=", "'+", "'-", "'@"} else cell


def as_text(value) -> str:
    return str(value)


def check_same(csv_text: str, columns: list[str], rows: list[dict]) -> None:
    table = parse_csv(csv_text)
    assert table[0] == columns
    assert len(table) == len(rows) + 1
    for line, row in zip(table[1:], rows, strict=True):
        assert [unguard(c) for c in line] == [as_text(row[c]) for c in columns]
        for cell, col in zip(line, columns, strict=True):
            if isinstance(row[col], str) and row[col][:1] in "=+-@":
                assert cell == "'" + row[col]


@pytest.mark.parametrize("dimension", [*DIMENSIONS, "prop:form_id"])
def test_every_dimension(client, site, dimension):
    metrics = METRICS[::-1] + (["events"] if dimension.startswith("prop:") else [])
    body = {"metrics": metrics, "dimensions": [dimension], "date_range": RANGE}
    rows = post(client, site, body).json()["results"]
    assert rows
    response = post(client, site, body, "text/csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    check_same(response.text, [dimension] + metrics, rows)


def test_quoting_and_formula_prefix(client, site):
    body = {"metrics": ["visitors"], "dimensions": ["utm_campaign"], "date_range": RANGE,
            "order_by": "utm_campaign", "order_dir": "asc"}
    text = post(client, site, body, "text/csv").text
    assert text == (
        "utm_campaign,visitors\r\n"
        "'+1,1\r\n"
        "'-5,1\r\n"
        "\"'=HYPERLINK(\"\"http://x\"\")\",1\r\n"
        "'@home,1\r\n"
        "\"a,b\",1\r\n"
        "plain,1\r\n"
        "\"say \"\"hi\"\"\",1\r\n"
        "\"two\nlines\",1\r\n"
    )


def test_two_dimensions_and_time(client, site):
    body = {"metrics": ["pageviews", "visitors"], "dimensions": ["date", "page"],
            "date_range": RANGE, "include_comparison": True}
    as_json = post(client, site, body).json()
    assert "comparison" in as_json
    check_same(post(client, site, body, "text/csv").text, ["date", "page", "pageviews", "visitors"],
               as_json["results"])


def test_time_series_is_complete(client, site):
    body = {"metrics": ["visitors"], "dimensions": ["date"], "date_range": RANGE}
    rows = post(client, site, body).json()["results"]
    assert len(rows) == 14
    check_same(post(client, site, body, "text/csv").text, ["date", "visitors"], rows)


def test_no_dimensions_is_one_row(client, site):
    body = {"metrics": ["pageviews", "visitors", "bounce_rate"], "date_range": RANGE,
            "include_comparison": True}
    totals = post(client, site, body).json()["results"]
    text = post(client, site, body, "text/csv").text
    assert text == (f"pageviews,visitors,bounce_rate\r\n"
                    f"{totals['pageviews']},{totals['visitors']},{totals['bounce_rate']}\r\n")
    assert totals["pageviews"] == 12


@pytest.mark.parametrize("path", [f"/api/{n}" for n in BREAKDOWNS] + ["/api/tech"])
def test_breakdown_gets(client, site, path):
    params = {"start_date": RANGE["start"], "end_date": RANGE["end"]}
    if path == "/api/tech":
        params["type"] = TECH_TYPES[0]
    headers = {"x-api-key": site.read_key}
    as_json = client.get(path, params=params, headers=headers)
    assert as_json.status_code == 200, as_json.text
    rows = as_json.json()["results"]
    assert rows
    response = client.get(path, params=params, headers={**headers, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    columns = list(rows[0])
    check_same(response.text, columns, rows)


def test_goals(client, admin_headers, site):
    add_goal(client, admin_headers, site, "=Signup, paid", "custom", "signup")
    add_goal(client, admin_headers, site, "Pricing", "pageview", "/p1")
    params = {"start_date": RANGE["start"], "end_date": RANGE["end"]}
    goals = get(client, site, "/api/goals", params)["goals"]
    response = client.get("/api/goals", params=params,
                          headers={"x-api-key": site.read_key, "Accept": "text/csv"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert [g["pageviews"] for g in goals if g["type"] == "pageview"] == [3]   # i = 1, 4, 7
    assert response.text == ("goal,type,visitors,conversions,revenue,currency\r\n"
                             "\"'=Signup, paid\",custom,0,0,,\r\n"
                             "Pricing,pageview,3,3,,\r\n")


def test_errors_stay_json(client, site):
    response = client.post("/api/query", json={"metrics": ["nope"]},
                           headers={"x-api-key": site.read_key, "Accept": "text/csv"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("metrics: ")
    response = client.get("/api/pages", params={"limit": "x"},
                          headers={"x-api-key": site.read_key, "Accept": "text/csv"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("limit: ")


def test_streams_large_results(client, site):
    body = {"metrics": ["visitors"], "dimensions": ["hour"], "date_range":
            {"start": "2026-01-01", "end": "2026-06-15"}}
    with client.stream("POST", "/api/query", json=body,
                       headers={"x-api-key": site.read_key, "Accept": "text/csv"}) as response:
        chunks = list(response.iter_raw())
    text = b"".join(chunks).decode()
    assert len(parse_csv(text)) == 1 + 165 * 24
    assert len(chunks) > 1


class _Req:
    def __init__(self, accept):
        self.headers = {"accept": accept} if accept is not None else {}


@pytest.mark.parametrize(("accept", "expected"), [
    (None, False), ("*/*", False), ("application/json", False), ("text/csv", True),
    ("text/csv; charset=utf-8", True), ("application/json, text/csv", True),
    ("application/json;q=1, text/csv;q=0.5", False), ("text/csv;q=0", False),
    ("TEXT/CSV", True), ("text/html,application/xhtml+xml,*/*;q=0.8", False),
])
def test_accept_header(accept, expected):
    assert wants_csv(_Req(accept)) is expected
