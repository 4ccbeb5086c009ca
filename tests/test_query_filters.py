"""Filters: every operator, string and list values, case rules, empty-value labels, AND of filters.

Five one-pageview visits, each on its own page so a filter's matches read as a set of pages:
  /Blog/Post-One  Google referral, GB, utm_campaign Spring_Sale (from the URL)
  /blog/post-two  Hacker News referral, SE
  /about          direct, no geo, iPhone
  /pricing        utm_source Newsletter / email / spring_sale, CN
  /BLOG/x         DuckDuckGo referral, US
"""

from __future__ import annotations

import pytest

from tests.query_support import (
    SAFARI_IPHONE,
    Visitor,
    at,
    flush,
    frozen_clock,
    make_site,
    post_query,
)

NOW = at("2026-09-10 12:00:00")
RANGE = {"start": "2026-09-01", "end": "2026-09-08"}
A, B, C, D, E = "/Blog/Post-One", "/blog/post-two", "/about", "/pricing", "/BLOG/x"


@pytest.fixture(scope="module")
def site(app, client, admin_headers):
    site = make_site(client, admin_headers)
    Visitor(client, site, country="GB").pageview(
        "2026-09-02 10:00:00", A + "?utm_campaign=Spring_Sale", referrer="https://www.google.com/")
    Visitor(client, site, country="SE").pageview(
        "2026-09-02 11:00:00", B, referrer="https://news.ycombinator.com/item?id=1")
    Visitor(client, site, ua=SAFARI_IPHONE).pageview("2026-09-03 12:00:00", C)
    Visitor(client, site, country="CN").pageview(
        "2026-09-04 13:00:00",
        D + "?utm_source=Newsletter&utm_medium=email&utm_campaign=spring_sale")
    Visitor(client, site, country="US").pageview(
        "2026-09-05 14:00:00", E, referrer="https://duckduckgo.com/")
    flush(app)
    with frozen_clock(app, NOW):
        yield site


def pages(client, site, *filters) -> set[str]:
    body = {"metrics": ["visitors", "pageviews"], "dimensions": ["page"], "date_range": RANGE,
            "filters": [{"dimension": d, "operator": o, "value": v} for d, o, v in filters]}
    rows = post_query(client, site, body)["results"]
    assert all(r["visitors"] == 1 and r["pageviews"] == 1 for r in rows), rows
    total = post_query(client, site, {**body, "dimensions": []})["results"]
    assert total == {"visitors": len(rows), "pageviews": len(rows)}
    return {r["page"] for r in rows}


def test_dataset_sources(client, site):
    rows = post_query(client, site, {"metrics": ["visitors"], "dimensions": ["source", "page"],
                                     "date_range": RANGE})["results"]
    assert {r["page"]: r["source"] for r in rows} == {
        A: "Google", B: "Hacker News", C: "Direct / None", D: "Newsletter", E: "DuckDuckGo"}


def test_is(client, site):
    assert pages(client, site, ("source", "is", "Google")) == {A}
    assert pages(client, site, ("source", "is", ["Google", "DuckDuckGo"])) == {A, E}
    assert pages(client, site, ("source", "is", "google")) == set()  # exact case
    assert pages(client, site, ("page", "is", "/about")) == {C}
    assert pages(client, site, ("page", "is", ["/about", "/ABOUT", "/nowhere"])) == {C}


def test_is_not_list_ands(client, site):
    assert pages(client, site, ("source", "is_not", "Google")) == {B, C, D, E}
    assert pages(client, site, ("source", "is_not", ["Google", "Direct / None"])) == {B, D, E}
    assert pages(client, site, ("page", "is_not", [A, B, C, D, E])) == set()


def test_contains_ignores_case(client, site):
    assert pages(client, site, ("page", "contains", "blog")) == {A, B, E}
    assert pages(client, site, ("page", "contains", ["ABOUT", "pric"])) == {C, D}
    assert pages(client, site, ("utm_campaign", "contains", "SPRING")) == {A, D}
    assert pages(client, site, ("city", "contains", "linkö")) == {B}


def test_not_contains_list_ands(client, site):
    assert pages(client, site, ("page", "not_contains", "BLOG")) == {C, D}
    assert pages(client, site, ("page", "not_contains", ["blog", "about"])) == {D}


def test_starts_with_is_exact_case(client, site):
    assert pages(client, site, ("page", "starts_with", "/blog")) == {B}
    assert pages(client, site, ("page", "starts_with", ["/blog", "/Blog"])) == {A, B}
    assert pages(client, site, ("referrer_url", "starts_with", "https://news.")) == {B}


def test_ends_with_is_exact_case(client, site):
    assert pages(client, site, ("page", "ends_with", "-One")) == {A}
    assert pages(client, site, ("page", "ends_with", "-one")) == set()
    assert pages(client, site, ("page", "ends_with", ["x", "two"])) == {B, E}


def test_labels_match_empty_values(client, site):
    assert pages(client, site, ("source", "is", "Direct / None")) == {C}
    assert pages(client, site, ("channel", "is", "Direct")) == {C}
    assert pages(client, site, ("country", "is", "(not set)")) == {C}
    assert pages(client, site, ("city", "is_not", "(not set)")) == {A, B, D, E}
    assert pages(client, site, ("utm_source", "is", "(not set)")) == {A, B, C, E}
    assert pages(client, site, ("utm_campaign", "is", "spring_sale")) == {D}
    # a filter sees the label, so contains matches it like any other value
    assert pages(client, site, ("source", "contains", "direct")) == {C}


def test_labels_in_results(client, site):
    body = {"metrics": ["visitors"], "date_range": RANGE,
            "filters": [{"dimension": "page", "operator": "is", "value": C}]}
    for dim, label in [("source", "Direct / None"), ("channel", "Direct"),
                       ("referrer_url", "(not set)"), ("utm_source", "(not set)"),
                       ("utm_medium", "(not set)"), ("utm_campaign", "(not set)"),
                       ("utm_content", "(not set)"), ("utm_term", "(not set)"),
                       ("country", "(not set)"), ("region", "(not set)"), ("city", "(not set)"),
                       ("screen", "(not set)"), ("device", "Mobile"), ("os", "iOS")]:
        rows = post_query(client, site, {**body, "dimensions": [dim]})["results"]
        assert rows == [{dim: label, "visitors": 1}], dim


def test_several_filters_and(client, site):
    assert pages(client, site, ("page", "contains", "blog"), ("country", "is", "GB")) == {A}
    assert pages(client, site, ("page", "contains", "blog"), ("country", "is_not", "GB"),
                 ("source", "starts_with", "Duck")) == {E}
    assert pages(client, site, ("device", "is", "Mobile"), ("os", "is", "iOS")) == {C}
    assert pages(client, site, ("device", "is", "Mobile"), ("os", "is", "Android")) == set()
