"""The bulk seeder writes rows in exactly the shape ingestion produces (a small N, in the test
session's own store: chDB allows one data directory per process)."""

from __future__ import annotations

import datetime as dt

import pytest

from loadtest.model import ModelConfig
from loadtest.seed import SeedOptions, read_manifest, seed
from tests.conftest import wait_flushed

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def seeded(app, client):
    store = app.state.store
    opts = SeedOptions(
        data_dir=app.state.config.data_dir,  # the server's own secret: identical visitor ids
        events=12_000, model=ModelConfig(seed=5, sites=2, history_days=3),
        progress=False, now=NOW, geoip_path=app.state.config.geoip_path, chunk_rows=5_000,
    )
    result = seed(opts, store=store)
    app.state.registry.refresh()
    manifest = read_manifest(app.state.config.data_dir)
    return result, manifest, store


def _one(store, sql: str, ids: list[int]):
    return store.rows(sql.replace("{ids}", ",".join(map(str, ids))))[0]


def test_row_counts_and_materialized_views(seeded):
    result, manifest, store = seeded
    ids = [s["site_id"] for s in result.sites]
    assert 10_000 < result.events < 14_000 and result.chunks >= 2
    assert manifest["events"] >= result.events and all(s["key"].startswith("ck_") for s in manifest["sites"])
    events, sessions, pageviews = _one(store, "SELECT count(), uniqExact(session_id), countIf(type "
                                              "= 'pageview') "
                                              "FROM events WHERE site_id IN ({ids})", ids)
    assert events == result.events and sessions == result.sessions
    (merged,) = _one(store, "SELECT count() FROM sessions FINAL WHERE site_id IN ({ids})", ids)
    (visits,) = _one(store, "SELECT count() FROM page_visits FINAL WHERE site_id IN ({ids})", ids)
    assert merged == sessions and visits == pageviews
    (latest,) = _one(store, "SELECT max(timestamp) FROM events WHERE site_id IN ({ids})", ids)
    assert latest <= NOW


def test_every_event_of_a_session_carries_the_sessions_start_and_attributes(seeded):
    result, _, store = seeded
    ids = [s["site_id"] for s in result.sites]
    (bad,) = _one(store, """
        SELECT count() FROM (
            SELECT session_id FROM events WHERE site_id IN ({ids}) GROUP BY session_id
            HAVING uniqExact(session_start) > 1 OR uniqExact(user_id) > 1
                OR uniqExact(tuple(referrer_url, source, channel, utm_source, utm_medium, utm_campaign,
                    click_id_param, country, region, city, device, browser, browser_version, os,
                    os_version, screen)) > 1
                OR min(timestamp) < any(session_start))""", ids)
    assert bad == 0
    # enrichment ran: the engine's labels, not the model's
    sources, devices, channels = _one(store, "SELECT groupUniqArray(source), groupUniqArray(device), "
                                             "groupUniqArray(channel) FROM events WHERE site_id IN "
                                             "({ids})", ids)
    assert "Google" in sources and {"Desktop", "Mobile"} <= set(devices) and "Organic Search" in channels
    (click_urls,) = _one(store, "SELECT countIf(url LIKE '%gclid=%' OR url LIKE '%fbclid=%') "
                                "FROM events WHERE site_id IN ({ids})", ids)
    assert click_urls == 0  # click ids stripped from stored URLs


def test_page_visits_and_engagement_deltas(seeded):
    result, _, store = seeded
    ids = [s["site_id"] for s in result.sites]
    wrong_ids, = _one(store, "SELECT countIf((page_visit_id = 0) = (type IN ('pageview', 'engagement'))) "
                             "FROM events WHERE site_id IN ({ids})", ids)
    assert wrong_ids == 0
    (bad,) = _one(store, """
        SELECT count() FROM (
            SELECT page_visit_id, sum(engaged_delta_ms) AS s, max(ifNull(engaged_ms, 0)) AS m,
                   countIf(type = 'pageview') AS pv
            FROM events WHERE site_id IN ({ids}) AND page_visit_id != 0 GROUP BY page_visit_id
            HAVING s != m OR pv != 1)""", ids)
    assert bad == 0
    (orphans,) = _one(store, "SELECT count() FROM events WHERE site_id IN ({ids}) AND type = 'engagement' "
                             "AND page_visit_id NOT IN (SELECT page_visit_id FROM events WHERE "
                             "site_id IN ({ids}) AND type = 'pageview')", ids)
    assert orphans == 0


def test_a_live_event_joins_a_seeded_session(seeded, client, app):
    """Same secret, same hash: the server recognises a seeded visitor and continues its session."""
    result, manifest, store = seeded
    sample = result.samples[0]
    key = next(s["key"] for s in manifest["sites"] if s["site_id"] == sample["site_id"])
    domain = next(s["domain"] for s in manifest["sites"] if s["site_id"] == sample["site_id"])
    (last,) = store.rows("SELECT max(timestamp) FROM events WHERE site_id = {s:UInt32} AND "
                         "session_id = {id:UInt64}", {"s": sample["site_id"], "id": sample["session_id"]})[0]
    moment = last + dt.timedelta(minutes=5)
    r = client.post("/api/event", json={"url": f"https://{domain}/live", "timestamp": moment.isoformat()},
                    headers={"x-api-key": key, "User-Agent": sample["user_agent"],
                             "X-Forwarded-For": sample["ip"]})
    assert r.status_code == 200, r.text
    assert r.json()["session_id"] == sample["session_id"]
    wait_flushed(app)
    (uid,) = store.rows("SELECT any(user_id) FROM events WHERE site_id = {s:UInt32} AND pathname = '/live'",
                        {"s": sample["site_id"]})[0]
    assert uid == sample["user_id"]


def test_the_query_api_reads_the_seeded_site(seeded, client):
    result, manifest, store = seeded
    site = max(manifest["sites"], key=lambda s: s["events"])
    from loadtest.seed import manifest_site  # the benchmarks' choice of site: the same one
    assert manifest_site(manifest).site_id == site["site_id"]
    other = min(manifest["sites"], key=lambda s: s["events"])
    assert manifest_site(manifest, other["domain"]).site_id == other["site_id"]
    assert manifest_site(manifest, str(other["site_id"])).domain == other["domain"]
    (pageviews,) = store.rows("SELECT countIf(type = 'pageview') FROM events WHERE site_id = {s:UInt32}",
                              {"s": site["site_id"]})[0]  # the live event of the test above included
    body = {"metrics": ["pageviews", "visitors", "bounce_rate"],
            "date_range": {"start": "2026-03-01", "end": "2026-03-10T12:00:00Z"}}
    r = client.post("/api/query", json=body, headers={"x-api-key": site["key"]})
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    assert got["pageviews"] == pageviews and got["visitors"] > 0 and 15 < got["bounce_rate"] < 60
