"""The load-test traffic model: seeded, reproducible, and distributed as documented."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import Counter

import numpy as np
import pytest

from loadtest.load import SiteKey, build_pool
from loadtest.model import (
    CLICK,
    CUSTOM,
    ENGAGEMENT,
    EVENT_NAMES,
    PAGEVIEW,
    PURCHASE,
    ModelConfig,
    TrafficModel,
)

DAY = dt.date(2025, 3, 4)  # a Tuesday


@pytest.fixture(scope="module")
def model() -> TrafficModel:
    return TrafficModel(ModelConfig(seed=11, sites=6))


@pytest.fixture(scope="module")
def batch(model):
    return model.sessions(model.sites[0], DAY, 20_000)


def test_reproducible_per_seed_site_and_day(model):
    a = model.sessions(model.sites[1], DAY, 500)
    b = TrafficModel(ModelConfig(seed=11, sites=6)).sessions(model.sites[1], DAY, 500)
    c = TrafficModel(ModelConfig(seed=12, sites=6)).sessions(model.sites[1], DAY, 500)
    for name in ("start_ms", "ip", "ua", "session_id", "ev_ts_ms", "ev_type", "ev_page"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.session_id, c.session_id)
    assert a.click_token == b.click_token


def test_sites_have_a_long_tail(model):
    share = model.site_share
    assert share[0] > 0.3 and share[-1] < share[0] / 8
    assert all(share[i] > share[i + 1] for i in range(len(share) - 1))
    assert len({s.domain for s in model.sites}) == len(model.sites)


def test_zipf_pages_head_share(model, batch):
    site = model.sites[0]
    pages = batch.ev_page[batch.ev_type == PAGEVIEW]
    home = float(np.mean(pages == 0))
    expected_home = float(site.page_cdf[0])
    assert abs(home - expected_home) < 0.02
    top10 = float(np.mean(pages < 10))
    assert 0.3 < top10 < 0.7            # a heavy head ...
    assert len(np.unique(pages)) > 300  # ... and a long tail


def test_device_mix_follows_the_labelled_ua_sample(model, batch):
    devices = Counter(model.humans[u]["device"] for u in batch.ua)
    expected = Counter()
    for h in model.humans:
        expected[h["device"]] += h["share"]
    for device in ("Desktop", "Mobile", "Tablet"):
        assert abs(devices[device] / batch.n_sessions - expected[device]) < 0.02, device


def test_visitor_ips_are_inside_their_countrys_ranges(model, batch):
    for s in range(0, batch.n_sessions, 97):
        code = model.countries[batch.country[s]]
        nets = [ipaddress.ip_network(c) for c in
                __import__("json").load(open(model_data("ip_ranges.json")))["countries"][code]["cidrs"]]
        ip = ipaddress.ip_address(model.ip_text(batch.ip[s]))
        assert any(ip in n for n in nets), (code, ip)
    us = float(np.mean(batch.country == model.countries.index("US")))
    assert 0.2 < us < 0.4  # an international site


def model_data(name: str) -> str:
    from loadtest.model import DATA_DIR

    return str(DATA_DIR / name)


def test_geometric_depth_and_repeat_visitors(batch):
    depth = batch.depth
    single = float(np.mean(depth == 1))
    assert 0.4 < single < 0.6
    # geometric: P(d >= k+1) / P(d >= k) is roughly constant
    ratios = [np.mean(depth >= k + 1) / np.mean(depth >= k) for k in (1, 2, 3)]
    assert max(ratios) - min(ratios) < 0.08
    assert len(np.unique(batch.visitor)) < batch.n_sessions  # some same-day repeat visits


def test_engagement_updates_are_running_maxima_with_exact_deltas(batch):
    eng = batch.ev_type == ENGAGEMENT
    pv = batch.ev_pv[eng]
    order = np.lexsort((batch.ev_ts_ms[eng], pv))
    pv, ts = pv[order], batch.ev_ts_ms[eng][order]
    engaged, scroll, delta = (batch.ev_engaged[eng][order], batch.ev_scroll[eng][order],
                              batch.ev_delta[eng][order])
    same = pv[1:] == pv[:-1]
    assert np.all(engaged[1:][same] >= engaged[:-1][same])
    assert np.all(scroll[1:][same] >= scroll[:-1][same])
    assert np.all(ts[1:][same] > ts[:-1][same])
    # per page visit: the deltas add up to the last (largest) engaged time
    last = np.r_[~same, True]
    sums = np.add.reduceat(delta, np.r_[0, np.flatnonzero(~same) + 1])
    assert np.array_equal(sums, engaged[last])
    assert np.all((scroll >= 0) & (scroll <= 100))


def test_bounce_rate_and_event_mix_are_plausible(batch):
    s = batch.n_sessions
    clicks = np.bincount(batch.ev_session[batch.ev_type == CLICK], minlength=s)
    engaged = np.bincount(batch.ev_session, weights=batch.ev_delta, minlength=s)
    scroll = np.zeros(s)
    np.maximum.at(scroll, batch.ev_session, batch.ev_scroll)
    bounce = (batch.depth <= 1) & (clicks == 0) & (scroll < 25) & (engaged < 15000)
    assert 0.25 < bounce.mean() < 0.5
    per_session = batch.n_events / s
    assert 3.5 < per_session < 6


def test_shop_purchases_carry_revenue_in_several_currencies(model):
    shop = model.sites[1]
    assert shop.kind == "shop"
    b = model.sessions(shop, DAY, 20_000)
    buy = (b.ev_type == CUSTOM) & (b.ev_name == EVENT_NAMES.index("Purchase"))
    assert buy.sum() > 300 and PURCHASE == EVENT_NAMES.index("Purchase")
    assert np.all(b.ev_revenue_micros[buy] > 0)
    assert np.all(b.ev_revenue_micros[~buy] == 0)
    currencies = Counter(b.ev_currency[buy].tolist())
    assert len(currencies) >= 3 and currencies.most_common(1)[0][1] > 0.7 * buy.sum()


def test_acquisition_mix_and_click_ids(model, batch):
    groups = Counter(model.acquisitions[a].group for a in batch.acq)
    n = batch.n_sessions
    assert 0.25 < groups["direct"] / n < 0.45
    assert 0.25 < groups["search"] / n < 0.5
    assert groups["paid"] > 0 and groups["ai"] > 0 and groups["email"] > 0
    paid = [s for s in range(n) if model.acquisitions[batch.acq[s]].click_param == "gclid"]
    assert paid and all("gclid=" in model.landing_url(batch, s) for s in paid[:50])


def test_daily_and_weekly_seasonality(model):
    b = model.sessions(model.sites[0], DAY, 20_000, start_of_day_ms=0)
    hours = Counter((b.start_ms // 3_600_000).tolist())
    assert hours[14] > 4 * hours[4]
    days = [DAY + dt.timedelta(days=i) for i in range(14)]
    expected = model.daily_sessions(days, 10_000)[:, 0]
    weekend = [expected[i] for i, d in enumerate(days) if d.weekday() >= 5]
    weekday = [expected[i] for i, d in enumerate(days) if d.weekday() < 5]
    assert np.mean(weekend) < 0.8 * np.mean(weekday)


def test_http_pool_has_bots_and_dnt_in_small_shares(model):
    sites = [SiteKey(model.sites[0].domain, "ck_test", 1.0)]
    pool = build_pool(model, sites, 4000, seed=3)
    visitors = {}
    for req in pool:
        visitors.setdefault(req.headers["X-Forwarded-For"] + req.headers["User-Agent"], req)
    bots = sum(1 for r in visitors.values() if any(b["ua"] == r.headers["User-Agent"] for b in model.bots))
    dnt = sum(1 for r in visitors.values() if r.headers.get("DNT") == "1")
    n = len(visitors)
    assert abs(bots / n - model.config.bot_share) < 0.015
    assert abs(dnt / n - model.config.dnt_share) < 0.015
    kinds = Counter(r.kind for r in pool)
    assert kinds["pageview"] > 0.8 * len(pool) and kinds["click"] > 0
    plans = [r for r in pool if r.engagement]
    assert plans
    assert all(a[1] <= b[1] for r in plans for a, b in zip(r.engagement, r.engagement[1:], strict=False))
