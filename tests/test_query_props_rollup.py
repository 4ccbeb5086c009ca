"""Property breakdowns with session metrics from the per-site-day property rows (props_rollup.py)
answer what the event rows answer: a differential over a seeded history (random keys, filters,
periods, time zones) and hand-made sessions that cross midnight, late events into a sealed day,
a session continued past midnight after its day was sealed, and days sealed before the table
existed (backfilled at their seal's version). Exact metrics identical; visitors never below and at
most 2% (plus one per id carried past a site midnight) above, as for the rollup (issue 9)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random

import pytest

from engine import rollups
from engine.query import props_rollup
from engine.query.parse import parse_query
from engine.query.run import prop_coverage, resolve
from engine.rollups import maintain_site, seal_all
from loadtest.model import ModelConfig
from loadtest.seed import SeedOptions, seed
from tests.query_support import Visitor, flush, make_site, rollup_and_raw

SESSION_METRICS = ["sessions", "bounce_rate", "avg_duration", "views_per_visit", "clickers",
                   "avg_scroll", "events", "pageviews", "visitors"]


@contextlib.contextmanager
def props_only_seal():
    """Seal only the site totals of the rollup besides the property rows (what these tests
    read): the seal's per-dimension rows cost most of its time and are tested elsewhere."""
    saved = rollups.ROLLUP_KEYS, rollups.TABLES
    rollups.ROLLUP_KEYS, rollups.TABLES = ("",), (("rollup_dims", ("value",)),)
    try:
        yield
    finally:
        rollups.ROLLUP_KEYS, rollups.TABLES = saved


def both(store, site, body, now):
    """(answer with the day rows, answer from event rows only, the coverage used)"""
    query = parse_query(body)
    used = prop_coverage(store, site, query, resolve(query, now, None))
    fast, slow = rollup_and_raw(store, site, body, now, switch=props_rollup)
    return fast, slow, used


def assert_same(fast: dict, slow: dict, body: dict, slack: int = 0) -> None:
    assert [r for r in fast["results"]] and len(fast["results"]) == len(slow["results"]), body
    for a, b in zip(fast["results"], slow["results"], strict=True):
        va, vb = a.pop("visitors", None), b.pop("visitors", None)
        assert a == b, body
        if va is not None:
            assert vb <= va <= vb + max(slack, vb * 0.02) + slack, (body, va, vb)


# --- differential over a seeded history -------------------------------------------------------

NOW = dt.datetime(2026, 6, 15, 13, 20, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def history(app, client):
    store = app.state.store
    opts = SeedOptions(
        data_dir=app.state.config.data_dir, events=12_000,
        model=ModelConfig(seed=5, sites=2, history_days=35), progress=False, now=NOW,
        geoip_path=app.state.config.geoip_path, chunk_rows=20_000,
    )
    result = seed(opts, store=store)
    app.state.registry.refresh()
    sites = [app.state.registry.site(s["site_id"]) for s in result.sites]
    with props_only_seal():
        assert seal_all(store, [(s.site_id, s.timezone) for s in sites]) > 0
    keys = {}
    for s in sites:
        keys[s.site_id] = {k: [v for (v,) in store.rows(
            "SELECT value FROM event_props WHERE site_id = {s:UInt32} AND key = {k:String} "
            "GROUP BY value ORDER BY count() DESC LIMIT 3", {"s": s.site_id, "k": k})]
            for (k,) in store.rows("SELECT DISTINCT key FROM event_props WHERE site_id = {s:UInt32}",
                                   {"s": s.site_id})}
    assert any(keys.values())
    yield store, sites, keys
    # The seals above wrote no rollup rows but the totals': forget them, so that a later module
    # seeding the same model sites (same domains, same session store) cannot read those days as
    # sealed from rows that were never written.
    for s in sites:
        rollups.invalidate_site(store, s.site_id)


def test_differential_day_rows_equal_event_rows(history):
    store, sites, keys = history
    rnd = random.Random(13)
    used_days = 0
    for i in range(16):
        site = sites[i % len(sites)]
        key = rnd.choice(sorted(keys[site.site_id]))
        metrics = rnd.sample(SESSION_METRICS, rnd.randint(1, 4))
        if not set(metrics) & {"bounce_rate", "avg_duration", "views_per_visit", "clickers", "avg_scroll"}:
            metrics.append("bounce_rate")
        body = {"metrics": metrics, "dimensions": [f"prop:{key}"],
                "period": rnd.choice(["7d", "30d", "all", "yesterday"]),
                "timezone": rnd.choice([site.timezone, site.timezone, "UTC", "Asia/Kolkata"]),
                "limit": 50}
        if rnd.random() < 0.4:
            values = keys[site.site_id][key] + ["(none)"]
            op = rnd.choice(["is", "is_not", "contains", "starts_with"])
            value = rnd.choice(values)
            body["filters"] = [{"dimension": f"prop:{key}", "operator": op,
                                "value": value if op in ("is", "is_not") else value[:2]}]
        fast, slow, used = both(store, site, body, NOW)
        if not slow["results"]:
            assert fast == slow
            continue
        assert_same(fast, slow, body, slack=2)
        used_days += len(used.days) if used else 0
    assert used_days > 40  # the day rows did answer most of it
    # the two statements' rows combined in Python (compile.Split): ordered and paged as the SQL
    site = sites[0]
    key = max(keys[site.site_id], key=lambda k: len(keys[site.site_id][k]))
    for order_by, order_dir, offset in (("visitors", "asc", 0), ("bounce_rate", "desc", 1),
                                        ("views_per_visit", "asc", 2), (f"prop:{key}", "desc", 0)):
        body = {"metrics": ["visitors", "bounce_rate", "views_per_visit", "avg_duration"],
                "dimensions": [f"prop:{key}"], "period": "30d", "order_by": order_by,
                "order_dir": order_dir, "limit": 3, "offset": offset}
        fast, slow, used = both(store, site, body, NOW)
        assert used is not None and used.days
        assert_same(fast, slow, body, slack=2)


def test_final_value_is_final_sql(app):
    """metrics.Metric.final_value (rows combined in Python) = final_sql, rounding included."""
    from engine.query.metrics import METRICS

    rnd = random.Random(7)
    store = app.state.store
    for m in METRICS.values():
        for _ in range(3):
            sums = {c: rnd.choice([0, 1, 2, 3, 7, 1000, rnd.randint(0, 10**9)]) for c in m.components}
            cols = ", ".join(f"toInt64({v}) AS {c}" for c, v in sums.items())
            (sql_value,), = store.rows(f"SELECT {m.final_sql()} FROM (SELECT {cols})")
            assert m.final_value(sums) == sql_value, (m.name, sums)


# --- hand-made sessions: crossers, late events, a continued session, backfill -------------------

H_NOW = dt.datetime(2026, 9, 20, 12, 0, tzinfo=dt.UTC)
D1, D2 = dt.date(2026, 9, 14), dt.date(2026, 9, 15)
BODY = {"metrics": ["visitors", "sessions", "events", "pageviews", "bounce_rate", "avg_duration",
                    "views_per_visit"], "dimensions": ["prop:plan"],
        "date_range": {"start": "2026-09-13", "end": "2026-09-17"}}
ONE_DAY = {**BODY, "date_range": {"start": "2026-09-15", "end": "2026-09-16"}}


@pytest.fixture
def crossing(app, client, admin_headers):
    site = make_site(client, admin_headers)
    x = Visitor(client, site, country="GB")  # crosses midnight D1 → D2: pro, then free
    x.pageview("2026-09-14 23:50:00", "/a", meta_keys=["plan"], meta_values=["pro"])
    x.custom("2026-09-15 00:10:00", "signup", "/a", meta_keys=["plan"], meta_values=["free"])
    y = Visitor(client, site, country="SE")  # contained in D1: pro, two pageviews
    y.pageview("2026-09-14 10:00:00", "/b", meta_keys=["plan"], meta_values=["pro"])
    y.pageview("2026-09-14 10:05:00", "/c")
    z = Visitor(client, site, country="US")  # contained in D2, no property (a bounce)
    z.pageview("2026-09-15 09:00:00", "/d")
    flush(app)
    reg = app.state.registry.site(site.site_id)
    with props_only_seal():
        seal_all(app.state.store, [(site.site_id, site.timezone)])
        yield app.state.store, reg, (x, y, z)


def _rows(answer: dict) -> dict:
    return {r["prop:plan"]: {k: v for k, v in r.items() if k != "prop:plan"} for r in answer["results"]}


def _check(store, site, expect_days: set[dt.date]) -> dict:
    out = {}
    for body in (BODY, ONE_DAY):
        fast, slow, used = both(store, site, body, H_NOW)
        assert fast == slow, body
        assert used is not None and expect_days & set(body_days(body)) <= set(used.days), (body, used)
        out[body["date_range"]["start"]] = _rows(fast)
    return out


def body_days(body: dict) -> list[dt.date]:
    a = dt.date.fromisoformat(body["date_range"]["start"])
    b = dt.date.fromisoformat(body["date_range"]["end"])
    return [a + dt.timedelta(days=i) for i in range((b - a).days)]


def test_crossing_backfill_late_events_and_a_session_continued_past_midnight(app, crossing):
    """In one sequence (each step needs a reseal): a session crossing midnight, days sealed
    before the table existed, a late event into a sealed day, a contained session continued past
    midnight after its seal."""
    store, site, (x, y, z) = crossing
    # 0. the crossing session counts once per value
    rows = _check(store, site, {D1, D2})
    whole, d2 = rows["2026-09-13"], rows["2026-09-15"]
    # x: pro and free (one session each row, counted once); y: pro; z: (none); x and y have "(none)"
    # events too (y's second pageview; none of x's)
    assert whole["pro"]["sessions"] == 2 and whole["pro"]["events"] == 2
    assert whole["free"]["sessions"] == 1 and whole["free"]["events"] == 1
    assert whole["(none)"]["sessions"] == 2 and whole["(none)"]["events"] == 2
    # D2 alone: x's D2 event is free; x's session (with both values) counts under free only
    assert d2["free"]["sessions"] == 1 and "pro" not in d2
    assert d2["(none)"]["sessions"] == 1 and d2["(none)"]["bounce_rate"] == 100
    # 0b. x started before D2 (23:50 on D1): D2's marker names it, read with the query alone
    one_day = parse_query(ONE_DAY)
    assert prop_coverage(store, site, one_day, resolve(one_day, H_NOW, None)).crossers_from == \
        dt.datetime(2026, 9, 14, 23, 50, tzinfo=dt.UTC)
    #     markers written before schema/0017 (crossers_from unknown): the query reads the
    #     crossers for it, then the maintenance pass rewrites those days
    store.command("ALTER TABLE prop_rollup_markers UPDATE crossers_from = toDateTime64(0, 3, 'UTC') "
                  "WHERE 1", settings={"mutations_sync": 2})
    used = prop_coverage(store, site, one_day, resolve(one_day, H_NOW, None))
    assert used.days == (D2,) and used.crossers_from is None
    assert _check(store, site, set()) == rows
    maintain_site(store, site.site_id, site.timezone, quiet_s=0)
    used = prop_coverage(store, site, one_day, resolve(one_day, H_NOW, None))
    assert used.days == (D2,) and used.crossers_from is not None
    # 1. no property rows (as for days sealed before schema/0015): event rows answer, then the
    #    maintenance pass writes them at the days' existing seal versions
    #    (pair rows of the same days are left: the backfill's fresh version must not add to them)
    for table in ("prop_rollup_markers", "prop_rollup_days", "prop_rollup_crossers"):
        store.command(f"TRUNCATE TABLE {table}")
    query = parse_query(BODY)
    used = prop_coverage(store, site, query, resolve(query, H_NOW, None))
    assert used is None or not {D1, D2} & set(used.days)
    fast, slow, _ = both(store, site, BODY, H_NOW)
    assert fast == slow
    assert maintain_site(store, site.site_id, site.timezone, quiet_s=0) == (0, 0)  # nothing dirty
    _check(store, site, {D1, D2})
    # 2. a late event into sealed D1: D1 is dirty (event rows answer at once), then resealed
    y.custom("2026-09-14 10:07:00", "upgrade", "/c", meta_keys=["plan"], meta_values=["team"])
    flush(app)
    used = prop_coverage(store, site, query, resolve(query, H_NOW, None))
    assert used is None or D1 not in used.days
    fast, slow, _ = both(store, site, BODY, H_NOW)
    assert fast == slow and _rows(fast)["team"]["sessions"] == 1
    seal_all(store, [(site.site_id, site.timezone)])
    assert _check(store, site, {D1, D2})["2026-09-13"]["team"]["sessions"] == 1
    # 3. y's session (contained in D1 when sealed) continues into D2 with a "free" event: by its
    #    start hour D1 is dirty; D2 alone must count it under free
    y.pageview("2026-09-14 23:45:00", "/e")
    y.custom("2026-09-15 00:05:00", "signup", "/e", meta_keys=["plan"], meta_values=["free"])
    flush(app)
    fast, slow, _ = both(store, site, ONE_DAY, H_NOW)
    assert fast == slow and _rows(fast)["free"]["sessions"] == 2
    seal_all(store, [(site.site_id, site.timezone)])
    rows = _check(store, site, {D1, D2})
    assert rows["2026-09-15"]["free"]["sessions"] == 2 and rows["2026-09-13"]["pro"]["sessions"] == 2
