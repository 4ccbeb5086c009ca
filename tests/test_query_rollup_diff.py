"""The pre-aggregated rollup answers exactly what raw data answers.

A modelled history (the load-test seeder: three sites in UTC, Europe/Berlin and America/New_York,
sessions with engagement, clicks, UTMs, several pages) is sealed into ``rollup_dims``; then ≥ 300
random queries (metrics × dimensions × filters × periods × time zones, comparison on and off) run
twice — through the planner with the rollup, and with the rollup switched off (raw data only) —
and must agree: every exact metric identical, visitors never below and at most 2% (plus the ids
carried past a site midnight, SPEC §2) above.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from engine.query.parse import parse_query
from engine.query.rollup import PAIRS
from engine.query.run import coverage, resolve
from engine.rollups import seal_all
from loadtest.model import ModelConfig
from loadtest.seed import SeedOptions, seed
from tests.query_support import rollup_and_raw

NOW = dt.datetime(2026, 6, 15, 13, 20, tzinfo=dt.UTC)
N_QUERIES = 320

METRICS = ["visitors", "sessions", "pageviews", "views_per_visit", "bounce_rate", "avg_duration",
           "avg_scroll", "clickers"]
VALUE_DIMS = ["source", "channel", "utm_medium", "utm_campaign", "country", "city", "device",
              "browser", "os", "screen", "page", "entry_page", "exit_page", "referrer_url"]
TIME_DIMS = ["date", "week", "month", "hour"]
PERIODS = ["7d", "14d", "30d", "90d", "12m", "all", "yesterday", "today"]
FILTER_VALUES = {
    "source": ["Google", "Direct / None", "Bing", "Twitter"],
    "channel": ["Organic Search", "Direct", "Organic Social", "Referral"],
    "utm_medium": ["(not set)", "cpc", "email"],
    "utm_campaign": ["(not set)", "spring"],
    "country": ["US", "DE", "GB", "(not set)", "FR"],
    "city": ["(not set)", "Berlin"],
    "device": ["Desktop", "Mobile", "Tablet"],
    "browser": ["Chrome", "Firefox", "Safari"],
    "os": ["Windows", "Mac OS X", "iOS", "Android"],
    "screen": ["Desktop", "Mobile", "Laptop"],
    "page": ["/", "/pricing", "/blog/", "/docs/"],
    "entry_page": ["/", "/pricing", "/blog/"],
    "exit_page": ["/", "/pricing"],
    "referrer_url": ["(not set)"],
}
OPERATORS = ["is", "is", "is", "is_not", "contains", "not_contains", "starts_with", "ends_with"]


@pytest.fixture(scope="module")
def history(app, client):
    store = app.state.store
    opts = SeedOptions(
        data_dir=app.state.config.data_dir, events=40_000,
        model=ModelConfig(seed=11, sites=3, history_days=75), progress=False, now=NOW,
        geoip_path=app.state.config.geoip_path, chunk_rows=20_000,
    )
    result = seed(opts, store=store)
    app.state.registry.refresh()
    sites = [app.state.registry.site(s["site_id"]) for s in result.sites]
    sealed = seal_all(store, [(s.site_id, s.timezone) for s in sites])
    assert sealed > 0
    return store, sites


def _random_filter(rnd: random.Random, dim: str, pool: list[str]) -> dict:
    """A filter on `dim`: a random operator over one or two of its values (cut short for the
    substring operators)."""
    op = rnd.choice(OPERATORS)
    count = rnd.choice([1, 1, 1, 2]) if len(pool) > 1 else 1
    values = rnd.sample(pool, count)
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        values = [v[: rnd.randint(1, max(1, len(v)))] for v in values]
    return {"dimension": dim, "operator": op, "value": values if len(values) > 1 else values[0]}


def _random_body(rnd: random.Random, site) -> dict:
    body: dict = {"metrics": rnd.sample(METRICS, rnd.randint(1, 4))}
    shape = rnd.random()
    dims: list[str] = []
    if shape < 0.55:
        dims.append(rnd.choice(VALUE_DIMS))
    if rnd.random() < 0.35:
        dims.append(rnd.choice(TIME_DIMS if rnd.random() < 0.3 else ["date", "week", "month"]))
    if rnd.random() < 0.05 and dims:
        dims.append(rnd.choice([d for d in VALUE_DIMS if d not in dims]))
    if dims:
        body["dimensions"] = dims
        body["limit"] = 10_000
    filters = []
    n_filters = rnd.choices([0, 1, 2], [0.45, 0.45, 0.10])[0]
    for _ in range(n_filters):
        # Mostly on the breakdown dimension (what a dashboard does after a click), else any.
        candidates = [d for d in dims if d in FILTER_VALUES] if rnd.random() < 0.6 else []
        dim = rnd.choice(candidates or list(FILTER_VALUES))
        filters.append(_random_filter(rnd, dim, FILTER_VALUES[dim]))
    if filters:
        body["filters"] = filters
    if rnd.random() < 0.12:
        start = dt.date(2026, 4, 1) + dt.timedelta(days=rnd.randint(0, 60))
        end = start + dt.timedelta(days=rnd.randint(1, 40))
        if rnd.random() < 0.3:
            body["date_range"] = {"start": f"{start.isoformat()}T{rnd.randint(0, 23):02d}:30:00",
                                  "end": f"{end.isoformat()}T0{rnd.randint(0, 9)}:15:00.250"}
        else:
            body["date_range"] = {"start": start.isoformat(), "end": end.isoformat()}
    else:
        body["period"] = rnd.choice(PERIODS)
    body["timezone"] = rnd.choices([site.timezone, "UTC", "Asia/Kolkata", "America/Los_Angeles"],
                                   [0.7, 0.1, 0.1, 0.1])[0]
    body["include_comparison"] = rnd.random() < 0.3
    return body


def _carried(store, site_id: int) -> int:
    """Visitor ids seen on more than one of their site's days (continued past midnight)."""
    return store.rows(
        "SELECT count() FROM (SELECT user_id FROM events WHERE site_id = {s:UInt32} "
        "GROUP BY user_id HAVING uniqExact(toDate(session_start)) < uniqExact(toDate(timestamp)))",
        {"s": site_id})[0][0]


def _key(row: dict, dims: list[str]) -> tuple:
    return tuple(row[d] for d in dims)


def _compare_results(fast, slow, metrics, dims, slack, where):
    if not dims:
        fast, slow = [fast], [slow]
    fast_rows = {_key(r, dims): r for r in fast}
    slow_rows = {_key(r, dims): r for r in slow}
    assert fast_rows.keys() == slow_rows.keys(), f"{where}: rows differ"
    for key, s in slow_rows.items():
        f = fast_rows[key]
        for m in metrics:
            if m == "visitors":
                assert s[m] <= f[m] <= s[m] * 1.02 + slack, f"{where} {key} visitors {f[m]} vs {s[m]}"
            else:
                assert f[m] == s[m], f"{where} {key} {m}: rollup {f[m]} vs raw {s[m]}"


def _check(store, site, body, query, slack: int, where: str) -> None:
    """The answer with the rollup equals the raw-data answer (results and comparison)."""
    fast, slow = rollup_and_raw(store, site, body, NOW)
    dims = list(query.dimensions)
    _compare_results(fast["results"], slow["results"], query.metrics, dims, slack, where)
    if "comparison" in slow:
        assert fast["comparison"]["date_range"] == slow["comparison"]["date_range"]
        _compare_results(fast["comparison"]["results"], slow["comparison"]["results"], query.metrics,
                         dims, slack, where + " (comparison)")


def test_rollup_matches_raw_for_random_queries(history):
    store, sites = history
    rnd = random.Random(20261129)
    used = 0
    slack = {s.site_id: _carried(store, s.site_id) for s in sites}
    for i in range(N_QUERIES):
        site = sites[i % len(sites)]
        body = _random_body(rnd, site)
        try:
            query = parse_query(body)
        except Exception:  # noqa: BLE001 - a generated body the API refuses: both paths agree on that
            continue
        rng = resolve(query, NOW, None)
        if coverage(store, site, query, rng) is not None:
            used += 1
        _check(store, site, body, query, slack[site.site_id], f"query {i} {body}")
    # The generator aims most queries at shapes the rollup serves; they must really use it.
    assert used >= N_QUERIES * 0.4, used


# --- pairs of dimensions (rollup_pairs) ---------------------------------------------------------

N_PAIR_QUERIES = 160


def _pair_body(rnd: random.Random, site, regions: list[str]) -> dict:
    """A dashboard view with one filter set: a pair of dimensions, each grouped or filtered."""
    values = {**FILTER_VALUES, "region": regions}
    if rnd.random() < 0.85:
        a, b = rnd.choice(PAIRS)
    else:  # a pair without rows of its own: raw data must answer it
        a, b = rnd.sample([d for d in VALUE_DIMS if d in values], 2)
    roles = rnd.choice(["group_a", "group_b", "group_both", "filter_both"])
    dims = {"group_a": [a], "group_b": [b], "group_both": [a, b], "filter_both": []}[roles]
    filtered = {"group_a": [b], "group_b": [a], "group_both": rnd.sample([a, b], rnd.randint(0, 1)),
                "filter_both": [a, b]}[roles]
    body: dict = {"metrics": rnd.sample(METRICS, rnd.randint(1, 4))}
    if rnd.random() < 0.3:
        dims.append(rnd.choice(["date", "week", "month"]))
    if dims:
        body["dimensions"] = dims
        body["limit"] = 10_000
    filters = []
    for dim in filtered:
        filters.append(_random_filter(rnd, dim, values[dim]))
    if filters:
        body["filters"] = filters
    body["period"] = rnd.choice(PERIODS)
    body["timezone"] = rnd.choices([site.timezone, "UTC"], [0.85, 0.15])[0]
    body["include_comparison"] = rnd.random() < 0.2
    return body


def test_pair_rollup_matches_raw_for_random_queries(history):
    """Two dimensions at once — a breakdown under a filter on another dimension, two filters, a
    two-dimension breakdown — through rollup_pairs and through raw data."""
    store, sites = history
    rnd = random.Random(20261130)
    slack = {s.site_id: _carried(store, s.site_id) for s in sites}
    regions = [r for (r,) in store.rows("SELECT region FROM events WHERE region != '' GROUP BY region "
                                        "ORDER BY count() DESC LIMIT 3")] + ["(not set)"]
    used = 0
    for i in range(N_PAIR_QUERIES):
        site = sites[i % len(sites)]
        body = _pair_body(rnd, site, regions)
        try:
            query = parse_query(body)
        except Exception:  # noqa: BLE001 - a generated body the API refuses: both paths agree on that
            continue
        cov = coverage(store, site, query, resolve(query, NOW, None))
        if cov is not None and "|" in cov.dim:
            used += 1
        _check(store, site, body, query, slack[site.site_id], f"pair query {i} {body}")
    assert used >= N_PAIR_QUERIES * 0.4, used


# --- page directories (rollup key page_dir) ------------------------------------------------------

N_DIR_QUERIES = 60


def test_page_directory_rollup_matches_raw(history):
    """"page starts_with <a directory>" — a section of the site — with distinct visitors, from
    the directory rows, equals raw data; and a directory's rows never include its subdirectories'."""
    store, sites = history
    rnd = random.Random(20261131)
    slack = {s.site_id: _carried(store, s.site_id) for s in sites}
    dirs = {}
    for s in sites:  # the site's sections, from its paths (computed here, not by the SQL under test)
        paths = [p for (p,) in store.rows("SELECT DISTINCT pathname FROM events WHERE site_id = {s:UInt32} "
                                          "AND type = 'pageview'", {"s": s.site_id})]
        found = {"/".join(p.split("/")[:n]) + "/" for p in paths for n in range(2, len(p.split("/")))}
        dirs[s.site_id] = sorted(found)[:4] + ["/"]
    assert all(len(v) > 1 for v in dirs.values()), dirs  # the model's sites have sections
    used = 0
    for i in range(N_DIR_QUERIES):
        site = sites[i % len(sites)]
        body: dict = {"metrics": rnd.sample(["visitors", "pageviews", "bounce_rate", "avg_scroll"],
                                            rnd.randint(1, 3)),
                      "filters": [{"dimension": "page", "operator": "starts_with",
                                   "value": rnd.choice(dirs[site.site_id])}],
                      "period": rnd.choice(PERIODS), "include_comparison": rnd.random() < 0.2}
        if rnd.random() < 0.3:
            body["dimensions"] = [rnd.choice(["date", "week", "month"])]
        query = parse_query(body)
        cov = coverage(store, site, query, resolve(query, NOW, None))
        if cov is not None and cov.dim == "page_dir":
            used += 1
        _check(store, site, body, query, slack[site.site_id], f"dir query {i} {body}")
    assert used >= N_DIR_QUERIES * 0.4, used
