"""A seeded, reproducible traffic model of real-looking analytics traffic.

Everything is drawn from `numpy.random.Generator`s seeded by (model seed, site, day), so a given
(seed, site, day) always produces the same sessions no matter how the work is chunked.

What is modelled (shares are documented in docs/loadtest.md):
- sites: a long-tail size mix (site k gets weight 1/k^site_zipf), each with a kind (blog, shop, saas,
  docs, news), a timezone, a home country and a page catalogue whose popularity is Zipf;
- visitors: real User-Agent strings in realistic proportions (`data/user_agents.json`), IPv4
  addresses inside real ISP ranges per country (`data/ip_ranges.json`), a share of same-day repeat
  visits (the visitor id rotates daily, so only same-day repeats make visitors < sessions);
- sessions: geometric page depth (device dependent), Zipf pages, acquisition (direct, search, social,
  AI assistants, paid with click ids, email, referral) with UTMs, screen widths per device;
- engagement: per page visit 0-3 engagement updates carrying running maxima of scroll depth and
  engaged time (so deltas are exact), quick bounces vs readers;
- clicks (outbound, downloads, CTAs), form submissions, custom events (Signup, Purchase with revenue
  in several currencies);
- seasonality: hour of day (site local time), day of week, a yearly growth trend and daily noise;
- bots and DNT requests in a small share (only for the HTTP driver: ingestion drops them, so the
  bulk seeder never stores them).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

DATA_DIR = Path(__file__).parent / "data"

# Local hour-of-day weights (midnight .. 23h) and day-of-week weights (Monday .. Sunday).
HOUR_WEIGHTS = np.array([
    0.25, 0.18, 0.14, 0.12, 0.12, 0.16, 0.30, 0.50, 0.75, 0.90, 1.00, 1.00,
    0.98, 0.98, 1.00, 0.98, 0.95, 0.90, 0.85, 0.85, 0.82, 0.72, 0.55, 0.38,
])
WEEKDAY_WEIGHTS = np.array([1.00, 1.02, 1.00, 0.97, 0.88, 0.62, 0.68])

# Event type codes used in the vectorized arrays (index into EVENT_TYPES).
EVENT_TYPES = ("pageview", "engagement", "click", "form", "custom")
PAGEVIEW, ENGAGEMENT, CLICK, FORM, CUSTOM = range(5)

# Event names (index into EVENT_NAMES); 0 = no name (pageviews, engagement).
EVENT_NAMES = ("", "Outbound Link: Click", "File Download", "CTA Click", "Contact", "Newsletter",
               "Signup", "Purchase")
CLICK_NAMES = (1, 2, 3)
CLICK_NAME_P = (0.70, 0.15, 0.15)
FORM_NAMES = (4, 5)
FORM_NAME_P = (0.6, 0.4)
SIGNUP, PURCHASE = 6, 7

CURRENCIES = ("", "USD", "EUR", "GBP", "JPY", "CAD")
# Typical order value (median, in the currency's unit) and lognormal spread.
CURRENCY_MEDIAN = {"USD": 49.0, "EUR": 45.0, "GBP": 39.0, "JPY": 6800.0, "CAD": 65.0}
OUTBOUND_HOSTS = ("github.com", "twitter.com", "www.youtube.com", "docs.python.org", "en.wikipedia.org",
                  "www.linkedin.com", "stripe.com", "apps.apple.com", "play.google.com")

DEVICE_NAMES = ("Desktop", "Mobile", "Tablet")
# P(one more pageview) per device: page depth is geometric with mean 1 / (1 - p).
CONTINUE_P = {"Desktop": 0.52, "Mobile": 0.40, "Tablet": 0.46}
# Number of engagement updates per page visit (0 = the tracker never reported: tab killed, etc.).
ENGAGEMENT_UPDATES_P = (0.12, 0.50, 0.25, 0.13)

SITE_TEMPLATES = (
    # slug, kind, timezone, home country (None = international), currency
    ("dev-notes.example", "blog", "UTC", None, "USD"),
    ("northwind-outdoor.example", "shop", "Europe/Berlin", "DE", "EUR"),
    ("acme-saas.example", "saas", "America/New_York", "US", "USD"),
    ("docs.quillkit.example", "docs", "UTC", None, "USD"),
    ("the-daily-pixel.example", "news", "Europe/London", "GB", "GBP"),
    ("kaffee-roesterei.example", "shop", "Europe/Berlin", "DE", "EUR"),
    ("tokyo-ramen-guide.example", "blog", "Asia/Tokyo", "JP", "JPY"),
    ("maple-ledger.example", "saas", "America/Toronto", "CA", "CAD"),
    ("paris-atelier.example", "shop", "Europe/Paris", "FR", "EUR"),
    ("bytes-weekly.example", "news", "America/Los_Angeles", "US", "USD"),
    ("sydney-surf.example", "blog", "Australia/Sydney", "AU", "USD"),
    ("madrid-eventos.example", "blog", "Europe/Madrid", "ES", "EUR"),
    ("indie-games.example", "shop", "UTC", None, "USD"),
    ("learn-rust.example", "docs", "UTC", None, "USD"),
    ("saopaulo-tech.example", "news", "America/Sao_Paulo", "BR", "USD"),
    ("warsaw-dev.example", "blog", "Europe/Warsaw", "PL", "EUR"),
    ("nordic-design.example", "shop", "Europe/Stockholm", "SE", "EUR"),
    ("mumbai-startups.example", "news", "Asia/Kolkata", "IN", "USD"),
    ("amsterdam-bikes.example", "shop", "Europe/Amsterdam", "NL", "EUR"),
    ("cloud-status.example", "saas", "UTC", None, "USD"),
)

_WORDS = (
    "privacy analytics clickhouse python rust docker kubernetes postgres pricing guide tutorial "
    "release notes performance security cookies marketing seo growth design product launch review "
    "coffee travel camping hiking recipe budget startup remote team hiring api webhooks billing "
    "dashboard mobile android ios browser cache database backup migration scaling"
).split()


@dataclass(frozen=True)
class ModelConfig:
    seed: int = 42
    sites: int = 12
    site_zipf: float = 1.2          # site k (1-based) gets traffic weight 1/k^site_zipf
    history_days: int = 400
    page_zipf: float = 1.05         # page popularity ~ 1/(rank+2)^page_zipf inside a site's catalogue
    repeat_visit: float = 0.12      # share of a day's sessions by a visitor who already had one that day
    returning_share: float = 0.30   # share of a day's visitors who are regulars of the site (same IP+UA)
    regulars: int = 20000           # size of the biggest site's pool of regulars (others: by weight)
    growth_per_year: float = 0.30   # linear traffic growth over a year
    daily_noise: float = 0.08       # lognormal sigma of day-to-day traffic noise
    bot_share: float = 0.04         # share of HTTP visits made by bots (dropped at ingestion)
    dnt_share: float = 0.02         # share of human HTTP visits sending DNT: 1 (dropped at ingestion)


@dataclass
class SiteProfile:
    index: int
    domain: str
    kind: str
    timezone: str
    home_country: str | None
    currency: str
    weight: float
    pages: list[str]
    page_cdf: np.ndarray
    country_cdf: np.ndarray
    acq_cdf: np.ndarray

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Acquisition:
    """How a session arrived: referrer and landing-URL parameters (before any enrichment)."""

    referrer: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    utm_term: str = ""
    click_param: str = ""   # gclid, fbclid, ... (a random value is added to the landing URL)
    group: str = "direct"   # model label only: direct, search, social, ai, paid, email, referral
    weight: float = 0.0


@dataclass
class Sessions:
    """One (site, day) batch of sessions and their events, as parallel numpy arrays.

    Session arrays have length S; event arrays have length E and are NOT sorted by time.
    """

    site: SiteProfile
    day: dt.date
    # --- per session
    start_ms: np.ndarray        # int64 epoch ms (UTC)
    visitor: np.ndarray         # int64 visitor index within the batch
    ua: np.ndarray              # int16 index into model.humans
    ip: np.ndarray              # uint32 IPv4
    country: np.ndarray         # int16 index into model.countries (the range's country)
    acq: np.ndarray             # int32 index into model.acquisitions
    screen_width: np.ndarray    # int32
    depth: np.ndarray           # int32 pageviews in the session
    session_id: np.ndarray      # uint64 (< 2^53)
    landing_page: np.ndarray    # int32 index into site.pages
    click_token: list[str]      # the click-id value per session ("" when none)
    # --- per event
    ev_session: np.ndarray      # int64 index of the event's session
    ev_type: np.ndarray         # int8 EVENT_TYPES code
    ev_ts_ms: np.ndarray        # int64 epoch ms
    ev_page: np.ndarray         # int32 index into site.pages
    ev_pv: np.ndarray           # int64 index of the page visit (pageview/engagement), else -1
    ev_name: np.ndarray         # int8 index into EVENT_NAMES
    ev_scroll: np.ndarray       # int16, -1 = not reported
    ev_engaged: np.ndarray      # int64, -1 = not reported
    ev_delta: np.ndarray        # int64 engaged_delta_ms
    ev_revenue_micros: np.ndarray  # int64 revenue * 1e6
    ev_currency: np.ndarray     # int8 index into CURRENCIES
    ev_meta: np.ndarray         # int8: 0 none, 1 outbound url, 2 file, 3 cta, 4 form id, 5 plan
    ev_meta_arg: np.ndarray     # int32 argument of the meta value (host index, plan index, ...)
    pv_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # uint64 per page visit

    @property
    def n_sessions(self) -> int:
        return len(self.start_ms)

    @property
    def n_events(self) -> int:
        return len(self.ev_type)


def _load_json(name: str) -> dict:
    with open(DATA_DIR / name, encoding="utf-8") as handle:
        return json.load(handle)


def _cdf(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return c


def draw(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """n categorical draws from a cumulative distribution (much faster than rng.choice(p=...))."""
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int32)


class TrafficModel:
    def __init__(self, config: ModelConfig | None = None):
        self.config = config or ModelConfig()
        ua = _load_json("user_agents.json")
        self.humans: list[dict] = ua["humans"]
        self.bots: list[dict] = ua["bots"]
        self.ua_cdf = _cdf([h["share"] for h in self.humans])
        self.bot_cdf = _cdf([b["share"] for b in self.bots])
        self.ua_device = np.array([DEVICE_NAMES.index(h["device"]) for h in self.humans], np.int8)
        ips = _load_json("ip_ranges.json")["countries"]
        self.countries: list[str] = list(ips)
        self.country_share = np.array([ips[c]["share"] for c in self.countries])
        # Per country: the CIDRs as (first address, size) arrays.
        self.country_ranges: list[tuple[np.ndarray, np.ndarray]] = []
        for code in self.countries:
            nets = [ipaddress.ip_network(c) for c in ips[code]["cidrs"]]
            self.country_ranges.append((
                np.array([int(n.network_address) for n in nets], np.uint64),
                np.array([n.num_addresses for n in nets], np.uint64),
            ))
        self.acquisitions = build_acquisitions()
        self._pools: dict[int, dict[str, np.ndarray]] = {}
        self.sites = [self._site(i) for i in range(self.config.sites)]

    # --- sites -------------------------------------------------------------------------------

    def _site(self, index: int) -> SiteProfile:
        cfg = self.config
        slug, kind, tz, home, currency = SITE_TEMPLATES[index % len(SITE_TEMPLATES)]
        if index >= len(SITE_TEMPLATES):
            slug = f"site{index + 1}-{slug}"
        weight = 1.0 / (index + 1) ** cfg.site_zipf
        rng = np.random.default_rng([cfg.seed, 7919, index])
        # Bigger sites have bigger catalogues (long tail of old posts/products).
        n_pages = int(np.clip(60 * weight ** -0.8, 40, 4000)) if index else 2500
        pages = _catalogue(kind, n_pages, rng)
        ranks = np.arange(len(pages), dtype=np.float64)
        page_w = 1.0 / (ranks + 2.0) ** cfg.page_zipf
        page_w[0] *= 3.0  # the home page
        country_w = self.country_share.copy()
        if home is not None:
            # A national site: ~60% of its visitors from its home country.
            i = self.countries.index(home)
            others = country_w.sum() - country_w[i]
            country_w = country_w * (0.4 / others)
            country_w[i] = 0.6
        acq_w = np.array([a.weight for a in self.acquisitions])
        acq_w = acq_w * _kind_channel_boost(kind, self.acquisitions)
        return SiteProfile(
            index=index, domain=slug, kind=kind, timezone=tz, home_country=home,
            currency=currency, weight=weight, pages=pages, page_cdf=_cdf(page_w),
            country_cdf=_cdf(country_w), acq_cdf=_cdf(acq_w),
        )

    @cached_property
    def site_share(self) -> np.ndarray:
        w = np.array([s.weight for s in self.sites])
        return w / w.sum()

    # --- volume ------------------------------------------------------------------------------

    def day_factor(self, site: SiteProfile, day: dt.date, end_day: dt.date) -> float:
        """Relative traffic of a site on a day: weekday × growth trend × seeded noise."""
        cfg = self.config
        age_years = (end_day - day).days / 365.0
        trend = max(0.2, 1.0 - cfg.growth_per_year * age_years)
        rng = np.random.default_rng([cfg.seed, 104729, site.index, day.toordinal()])
        noise = math.exp(rng.normal(0.0, cfg.daily_noise))
        return WEEKDAY_WEIGHTS[day.weekday()] * trend * noise

    def daily_sessions(self, days: list[dt.date], total_sessions: float) -> np.ndarray:
        """Expected sessions per (day, site) so that the sum over the history is total_sessions."""
        end_day = days[-1]
        f = np.array([[self.day_factor(s, d, end_day) * s.weight for s in self.sites] for d in days])
        return f * (total_sessions / f.sum())

    @cached_property
    def events_per_session(self) -> float:
        """Mean stored events per human session, measured on a seeded pilot sample."""
        total_events = total_sessions = 0
        day = dt.date(2025, 1, 8)
        for site in self.sites[:4]:
            batch = self.sessions(site, day, 3000, start_of_day_ms=0)
            total_events += batch.n_events
            total_sessions += batch.n_sessions
        return total_events / total_sessions

    # --- sessions ----------------------------------------------------------------------------

    def local_midnight_ms(self, site: SiteProfile, day: dt.date) -> int:
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=site.tz)
        return int(midnight.timestamp() * 1000)

    def sessions(
        self, site: SiteProfile, day: dt.date, n: int, start_of_day_ms: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> Sessions:
        """n human sessions of `site` starting on local `day`, with all their events."""
        if rng is None:
            rng = np.random.default_rng([self.config.seed, site.index, day.toordinal()])
        if start_of_day_ms is None:
            start_of_day_ms = self.local_midnight_ms(site, day)
        n_visitors = max(1, n - int(round(n * self.config.repeat_visit))) if n else 0
        # Start times: hour by the hourly curve, then uniform inside the hour.
        hour = draw(rng, _HOUR_CDF, n)
        start_ms = start_of_day_ms + hour.astype(np.int64) * 3_600_000 + rng.integers(0, 3_600_000, n)
        start_ms.sort()
        # Visitors: the first n_visitors sessions each bring a new visitor; the rest repeat one.
        visitor = np.arange(n, dtype=np.int64)
        if n > n_visitors:
            repeats = rng.choice(n, n - n_visitors, replace=False)
            visitor[repeats] = rng.integers(0, n_visitors, len(repeats))
            _, visitor = np.unique(visitor, return_inverse=True)
        nv = int(visitor.max()) + 1 if n else 0
        v_ua = draw(rng, self.ua_cdf, nv).astype(np.int16)
        v_country = draw(rng, site.country_cdf, nv).astype(np.int16)
        v_ip = self._ips(rng, v_country)
        v_screen = _screen_widths(rng, self.ua_device[v_ua])
        # Regulars come back on other days with the same device and address; loyal ones more often.
        pool = self.regulars(site)
        back = np.flatnonzero(rng.random(nv) < self.config.returning_share)
        member = (len(pool["ua"]) * rng.random(len(back)) ** 2).astype(np.int64)
        v_ua[back] = pool["ua"][member]
        v_country[back] = pool["country"][member]
        v_ip[back] = pool["ip"][member]
        v_screen[back] = pool["screen"][member]
        device = self.ua_device[v_ua]
        ua = v_ua[visitor]
        device = device[visitor]
        acq = draw(rng, site.acq_cdf, n)
        acq = self._in_app_acquisition(ua, acq)
        p_continue = np.array([CONTINUE_P[d] for d in DEVICE_NAMES])[device]
        depth = rng.geometric(1.0 - p_continue).astype(np.int32)
        np.minimum(depth, 60, out=depth)
        session_id = rng.integers(1, 2**53, n, dtype=np.int64).astype(np.uint64)
        landing = draw(rng, site.page_cdf, n)
        tokens = [self._click_token(rng, self.acquisitions[a].click_param) for a in acq]
        batch = Sessions(
            site=site, day=day, start_ms=start_ms, visitor=visitor, ua=ua, ip=v_ip[visitor],
            country=v_country[visitor], acq=acq, screen_width=v_screen[visitor], depth=depth,
            session_id=session_id, landing_page=landing, click_token=tokens,
            **self._events(rng, site, start_ms, depth, landing),
        )
        batch.pv_id = rng.integers(0, 2**62, int(depth.sum()), dtype=np.int64).astype(np.uint64) * 2 + 1
        return batch

    def regulars(self, site: SiteProfile) -> dict[str, np.ndarray]:
        """The site's pool of regular visitors (seeded per site)."""
        pool = self._pools.get(site.index)
        if pool is None:
            rng = np.random.default_rng([self.config.seed, 49157, site.index])
            size = max(200, int(self.config.regulars * site.weight / self.sites[0].weight))
            ua = draw(rng, self.ua_cdf, size).astype(np.int16)
            country = draw(rng, site.country_cdf, size).astype(np.int16)
            pool = self._pools[site.index] = {
                "ua": ua, "country": country, "ip": self._ips(rng, country),
                "screen": _screen_widths(rng, self.ua_device[ua]),
            }
        return pool

    def _ips(self, rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
        out = np.empty(len(country), np.uint64)
        for c in np.unique(country):
            mask = country == c
            k = int(mask.sum())
            starts, sizes = self.country_ranges[c]
            which = rng.integers(0, len(starts), k)
            # Skip the network and broadcast-looking ends of each range.
            offset = (rng.random(k) * (sizes[which] - 2).astype(np.float64)).astype(np.uint64) + 1
            out[mask] = starts[which] + offset
        return out.astype(np.uint32)

    def _in_app_acquisition(self, ua: np.ndarray, acq: np.ndarray) -> np.ndarray:
        """In-app browsers (Facebook, Instagram) arrive from their own app."""
        for i, human in enumerate(self.humans):
            if human["browser"] in ("Facebook", "Instagram"):
                acq[ua == i] = self._acq_by_source[human["browser"].lower()]
        return acq

    @cached_property
    def _acq_by_source(self) -> dict[str, int]:
        out = {}
        for i, a in enumerate(self.acquisitions):
            if a.group == "social" and "facebook.com" in a.referrer:
                out.setdefault("facebook", i)
            if a.group == "social" and "instagram.com" in a.referrer:
                out.setdefault("instagram", i)
        return out

    @staticmethod
    def _click_token(rng: np.random.Generator, param: str) -> str:
        if not param:
            return ""
        raw = rng.bytes(24 if param in ("gclid", "fbclid") else 12)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _events(self, rng, site: SiteProfile, start_ms, depth, landing) -> dict:
        """Vectorized events of a batch: pageviews, engagement updates, clicks, forms, custom."""
        n = len(start_ms)
        P = int(depth.sum())
        pv_session = np.repeat(np.arange(n, dtype=np.int64), depth)
        first_pv = (np.cumsum(depth) - depth).astype(np.int64)
        pv_pos = np.arange(P, dtype=np.int64) - np.repeat(first_pv, depth)
        pv_page = draw(rng, site.page_cdf, P)
        pv_page[pv_pos == 0] = landing
        single = (depth == 1)[pv_session]
        # Engaged time: single-page sessions are mostly quick looks; others read.
        quick = single & (rng.random(P) < 0.85)
        median_s = np.where(quick, 5.0, 28.0)
        engaged = np.exp(np.log(median_s * 1000) + rng.normal(0, np.where(quick, 0.7, 1.0)))
        engaged = np.minimum(engaged, 30 * 60 * 1000).astype(np.int64)
        scroll = np.where(quick, rng.beta(1.2, 6.0, P), rng.beta(2.2, 1.8, P)) * 100
        scroll = np.clip(np.round(scroll), 0, 100).astype(np.int64)
        # Time between page starts: engaged time plus hidden/idle time and navigation.
        gap = (engaged * rng.uniform(1.0, 1.8, P)).astype(np.int64) + rng.integers(800, 6000, P)
        cs = np.cumsum(gap)
        before = cs - gap
        pv_ts = np.repeat(start_ms, depth) + before - np.repeat(before[first_pv], depth)
        pv_ts[pv_pos == 0] = start_ms

        # Engagement updates: k per page visit, running maxima, the last one reports the totals.
        k = draw(rng, _ENG_CDF, P)
        E = int(k.sum())
        eng_pv = np.repeat(np.arange(P, dtype=np.int64), k)
        first_eng = (np.cumsum(k) - k).astype(np.int64)
        i = np.arange(E, dtype=np.int64) - np.repeat(first_eng, k) + 1
        frac = i / np.repeat(np.maximum(k, 1), k)
        eng_engaged = np.round(engaged[eng_pv] * frac).astype(np.int64)
        eng_scroll = np.round(scroll[eng_pv] * np.sqrt(frac)).astype(np.int64)
        prev = np.where(i > 1, np.round(engaged[eng_pv] * (i - 1) / np.repeat(np.maximum(k, 1), k)), 0)
        eng_delta = eng_engaged - prev.astype(np.int64)
        eng_ts = pv_ts[eng_pv] + eng_engaged + 400 * i  # in update order

        # Clicks: per page visit; forms and custom events: per session, on one of its pages.
        click_pv = np.flatnonzero(rng.random(P) < _CLICK_P[site.kind])
        C = len(click_pv)
        click_ts = pv_ts[click_pv] + (engaged[click_pv] * rng.random(C)).astype(np.int64) + 200
        click_name = np.array(CLICK_NAMES, np.int8)[draw(rng, _cdf(CLICK_NAME_P), C)]
        p_form, p_signup, p_purchase = _SESSION_EVENT_P[site.kind]
        form_s = np.flatnonzero(rng.random(n) < p_form)
        signup_s = np.flatnonzero(rng.random(n) < p_signup)
        purchase_s = np.flatnonzero(rng.random(n) < p_purchase)
        sess_ev_s = np.concatenate([form_s, signup_s, purchase_s])
        sess_ev_name = np.concatenate([
            np.array(FORM_NAMES, np.int8)[draw(rng, _cdf(FORM_NAME_P), len(form_s))],
            np.full(len(signup_s), SIGNUP, np.int8), np.full(len(purchase_s), PURCHASE, np.int8),
        ])
        # On the session's last page for purchases/signups (a thank-you page), else a random one.
        last_pv = first_pv[sess_ev_s] + depth[sess_ev_s] - 1
        rand_pv = first_pv[sess_ev_s] + (rng.random(len(sess_ev_s)) * depth[sess_ev_s]).astype(np.int64)
        sess_ev_pv = np.where(sess_ev_name >= SIGNUP, last_pv, rand_pv)
        sess_ev_ts = (pv_ts[sess_ev_pv] + 300
                      + (engaged[sess_ev_pv] * rng.random(len(sess_ev_s))).astype(np.int64))
        sess_ev_type = np.where(sess_ev_name <= 5, FORM, CUSTOM).astype(np.int8)
        # Revenue: purchases only, in the site's currency (85%) or another one.
        revenue = np.zeros(len(sess_ev_s), np.int64)
        currency = np.zeros(len(sess_ev_s), np.int8)
        buy = np.flatnonzero(sess_ev_name == PURCHASE)
        if len(buy):
            home = CURRENCIES.index(site.currency)
            cur = np.where(rng.random(len(buy)) < 0.85, home, draw(rng, _cdf([0, 5, 3, 2, 1, 1]), len(buy)))
            cur = np.where(cur == 0, home, cur).astype(np.int8)
            med = np.array([0.0] + [CURRENCY_MEDIAN[c] for c in CURRENCIES[1:]])[cur]
            amount = np.exp(np.log(med) + rng.normal(0, 0.8, len(buy)))
            decimals = np.where(cur == CURRENCIES.index("JPY"), 0, 2)
            amount = np.round(amount, 2)
            amount = np.where(decimals == 0, np.round(amount), amount)
            revenue[buy] = np.round(amount * 1_000_000).astype(np.int64)
            currency[buy] = cur

        n_eng = E
        types = np.concatenate([
            np.full(P, PAGEVIEW, np.int8), np.full(n_eng, ENGAGEMENT, np.int8),
            np.full(C, CLICK, np.int8), sess_ev_type,
        ])
        meta = np.concatenate([
            np.zeros(P + n_eng, np.int8), click_name.astype(np.int8),   # 1 outbound, 2 file, 3 cta
            np.where(sess_ev_name <= 5, 4, np.where(sess_ev_name == SIGNUP, 5, 0)).astype(np.int8),
        ])
        meta_arg = np.concatenate([
            np.zeros(P + n_eng, np.int32), rng.integers(0, 1000, C).astype(np.int32),
            rng.integers(0, 1000, len(sess_ev_s)).astype(np.int32),
        ])
        return dict(
            ev_session=np.concatenate([pv_session, pv_session[eng_pv], pv_session[click_pv],
                                       sess_ev_s.astype(np.int64)]),
            ev_type=types,
            ev_ts_ms=np.concatenate([pv_ts, eng_ts, click_ts, sess_ev_ts]),
            ev_page=np.concatenate([pv_page, pv_page[eng_pv], pv_page[click_pv], pv_page[sess_ev_pv]]),
            ev_pv=np.concatenate([np.arange(P, dtype=np.int64), eng_pv,
                                  np.full(C + len(sess_ev_s), -1, np.int64)]),
            ev_name=np.concatenate([np.zeros(P + n_eng, np.int8), click_name, sess_ev_name]),
            ev_scroll=np.concatenate([np.full(P, -1), eng_scroll, np.full(C + len(sess_ev_s), -1)]),
            ev_engaged=np.concatenate([np.full(P, -1), eng_engaged, np.full(C + len(sess_ev_s), -1)]),
            ev_delta=np.concatenate([np.zeros(P, np.int64), eng_delta,
                                     np.zeros(C + len(sess_ev_s), np.int64)]),
            ev_revenue_micros=np.concatenate([np.zeros(P + n_eng + C, np.int64), revenue]),
            ev_currency=np.concatenate([np.zeros(P + n_eng + C, np.int8), currency]),
            ev_meta=meta,
            ev_meta_arg=meta_arg,
        )

    # --- presentation helpers (shared by the seeder and the HTTP driver) ----------------------

    def landing_url(self, batch: Sessions, s: int) -> str:
        site = batch.site
        path = site.pages[batch.landing_page[s]]
        a = self.acquisitions[batch.acq[s]]
        params = [(k, v) for k, v in (
            ("utm_source", a.utm_source), ("utm_medium", a.utm_medium),
            ("utm_campaign", a.utm_campaign), ("utm_content", a.utm_content),
            ("utm_term", a.utm_term)) if v]
        if a.click_param:
            params.append((a.click_param, batch.click_token[s]))
        query = "&".join(f"{k}={v}" for k, v in params)
        return f"https://{site.domain}{path}" + (f"?{query}" if query else "")

    def meta_for(self, site: SiteProfile, kind: int, arg: int) -> tuple[list[str], list[str]]:
        if kind == 1:
            host = OUTBOUND_HOSTS[arg % len(OUTBOUND_HOSTS)]
            return ["url"], [f"https://{host}/{_WORDS[arg % len(_WORDS)]}"]
        if kind == 2:
            return ["file"], [f"/downloads/{_WORDS[arg % len(_WORDS)]}-{arg % 7 + 1}.pdf"]
        if kind == 3:
            return ["button"], [("hero", "navbar", "footer", "pricing-table")[arg % 4]]
        if kind == 4:
            return ["form_id"], [("contact-form", "newsletter-footer", "demo-request")[arg % 3]]
        if kind == 5:
            return ["plan", "interval"], [("free", "pro", "team")[arg % 3], ("monthly", "annual")[arg % 2]]
        return [], []

    def ip_text(self, ip: int) -> str:
        ip = int(ip)
        return f"{ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}"


_HOUR_CDF = _cdf(HOUR_WEIGHTS)
_ENG_CDF = _cdf(ENGAGEMENT_UPDATES_P)
_CLICK_P = {"blog": 0.05, "shop": 0.02, "saas": 0.04, "docs": 0.06, "news": 0.03}
# P(form submit), P(signup), P(purchase) per session, by site kind.
_SESSION_EVENT_P = {
    "blog": (0.012, 0.004, 0.0),
    "shop": (0.008, 0.010, 0.028),
    "saas": (0.020, 0.030, 0.006),
    "docs": (0.004, 0.008, 0.0),
    "news": (0.006, 0.006, 0.002),
}


def _screen_widths(rng: np.random.Generator, device: np.ndarray) -> np.ndarray:
    desktop = np.array([1280, 1366, 1440, 1536, 1680, 1920, 2560])
    desktop_p = _cdf([10, 12, 14, 12, 6, 38, 8])
    mobile = np.array([360, 375, 390, 393, 412, 414, 430])
    mobile_p = _cdf([18, 10, 22, 14, 16, 8, 12])
    tablet = np.array([768, 800, 810, 820, 1024])
    tablet_p = _cdf([30, 15, 15, 20, 20])
    out = np.empty(len(device), np.int32)
    for code, sizes, cdf in ((0, desktop, desktop_p), (1, mobile, mobile_p), (2, tablet, tablet_p)):
        mask = device == code
        out[mask] = sizes[draw(rng, cdf, int(mask.sum()))]
    return out


def _catalogue(kind: str, n: int, rng: np.random.Generator) -> list[str]:
    fixed = {
        "blog": ["/", "/about", "/archive", "/newsletter", "/contact"],
        "shop": ["/", "/cart", "/checkout", "/checkout/complete", "/collections/new", "/collections/sale",
                 "/account", "/shipping"],
        "saas": ["/", "/pricing", "/features", "/signup", "/login", "/docs", "/blog", "/changelog",
                 "/app/dashboard", "/app/settings", "/welcome"],
        "docs": ["/", "/getting-started", "/install", "/api", "/faq", "/changelog"],
        "news": ["/", "/latest", "/world", "/tech", "/business", "/opinion"],
    }[kind]
    prefix = {"blog": "/posts/", "shop": "/products/", "saas": "/blog/", "docs": "/docs/",
              "news": "/articles/"}[kind]
    pages = list(fixed)
    seen = set(pages)
    while len(pages) < n:
        words = rng.choice(len(_WORDS), 3, replace=False)
        slug = "-".join(_WORDS[w] for w in words)
        if kind == "docs":
            slug = f"{_WORDS[words[0]]}/{_WORDS[words[1]]}-{_WORDS[words[2]]}"
        path = prefix + slug
        if kind == "news":
            path = f"/{2024 + int(rng.integers(0, 2))}/{int(rng.integers(1, 13)):02d}/{slug}"
        if path not in seen:
            seen.add(path)
            pages.append(path)
    return pages


def _kind_channel_boost(kind: str, acquisitions: list[Acquisition]) -> np.ndarray:
    boost = {
        "blog": {"search": 1.2, "social": 1.3, "paid": 0.3, "referral": 1.4},
        "shop": {"paid": 2.2, "email": 1.8, "social": 1.2},
        "saas": {"paid": 1.3, "ai": 1.6, "email": 1.3, "referral": 1.2},
        "docs": {"search": 1.6, "ai": 2.0, "paid": 0.1, "social": 0.5, "email": 0.3},
        "news": {"social": 1.8, "direct": 1.2, "paid": 0.3, "ai": 0.6},
    }[kind]
    return np.array([boost.get(a.group, 1.0) for a in acquisitions])


def build_acquisitions() -> list[Acquisition]:
    """Acquisition templates with their share of human sessions (before per-site boosts).

    Shares follow typical small/medium-site mixes: ~34% direct, ~33% organic search, ~9% social,
    ~2% AI assistants, ~8% paid (with click ids), ~3% email, ~10% referral, the rest campaigns.
    """
    out: list[Acquisition] = []

    def add(weight: float, **kw) -> None:
        out.append(Acquisition(weight=weight, **kw))

    add(0.34, group="direct")
    for ref, w in (("https://www.google.com/", 0.24), ("https://www.google.de/", 0.012),
                   ("https://www.google.co.uk/", 0.01), ("https://www.google.fr/", 0.005),
                   ("https://www.bing.com/", 0.03), ("https://duckduckgo.com/", 0.015),
                   ("https://search.yahoo.com/", 0.004), ("https://www.ecosia.org/", 0.003),
                   ("https://yandex.ru/", 0.003), ("https://www.baidu.com/", 0.002),
                   ("https://search.brave.com/", 0.002), ("https://www.qwant.com/", 0.001)):
        add(w, referrer=ref, group="search")
    for ref, w, param in (("https://l.facebook.com/", 0.02, "fbclid"),
                          ("https://m.facebook.com/", 0.01, "fbclid"),
                          ("https://t.co/", 0.012, ""), ("https://www.linkedin.com/", 0.01, ""),
                          ("https://www.reddit.com/", 0.012, ""),
                          ("https://l.instagram.com/", 0.006, "fbclid"),
                          ("https://www.youtube.com/", 0.008, ""), ("https://www.pinterest.com/", 0.004, ""),
                          ("https://news.ycombinator.com/", 0.004, ""),
                          ("https://www.tiktok.com/", 0.003, ""),
                          ("https://www.threads.net/", 0.001, ""), ("https://mastodon.social/", 0.001, ""),
                          ("https://discord.com/", 0.001, ""), ("https://app.slack.com/", 0.001, "")):
        add(w, referrer=ref, click_param=param, group="social")
    add(0.012, referrer="https://chatgpt.com/", utm_source="chatgpt.com", group="ai")
    for ref, w in (("https://www.perplexity.ai/", 0.004), ("https://gemini.google.com/", 0.002),
                   ("https://claude.ai/", 0.0015), ("https://copilot.microsoft.com/", 0.001)):
        add(w, referrer=ref, group="ai")
    campaigns = ("brand", "generic-analytics", "competitor", "retargeting", "spring-sale", "black-friday")
    campaign_w = 1.0 / (np.arange(len(campaigns)) + 1.0)
    campaign_w /= campaign_w.sum()
    terms = ("web analytics", "privacy analytics", "google analytics alternative", "cookie free analytics")
    for cw, campaign in zip(campaign_w, campaigns, strict=True):
        for term in terms:
            add(0.04 * cw / len(terms), referrer="https://www.google.com/", utm_source="google",
                utm_medium="cpc", utm_campaign=campaign, utm_term=term, click_param="gclid", group="paid")
        add(0.012 * cw, referrer="https://l.facebook.com/", utm_source="facebook", utm_medium="paid_social",
            utm_campaign=campaign, utm_content=("video-a", "carousel-b")[len(out) % 2],
            click_param="fbclid", group="paid")
        add(0.004 * cw, referrer="https://l.instagram.com/", utm_source="instagram",
            utm_medium="paid_social", utm_campaign=campaign, click_param="fbclid", group="paid")
        add(0.006 * cw, referrer="https://www.bing.com/", utm_source="bing", utm_medium="cpc",
            utm_campaign=campaign, click_param="msclkid", group="paid")
    add(0.01, referrer="https://www.google.com/", click_param="gclid", group="paid")  # auto-tagging only
    add(0.002, referrer="https://www.linkedin.com/", utm_source="linkedin", utm_medium="paid_social",
        utm_campaign="b2b-launch", click_param="li_fat_id", group="paid")
    add(0.002, referrer="https://www.tiktok.com/", utm_source="tiktok", utm_medium="paid_social",
        utm_campaign="summer", click_param="ttclid", group="paid")
    add(0.001, referrer="https://t.co/", utm_source="twitter", utm_medium="paid_social",
        utm_campaign="launch", click_param="twclid", group="paid")
    add(0.003, referrer="https://www.google.com/", utm_source="google", utm_medium="display",
        utm_campaign="remarketing", click_param="gclid", group="paid")
    for n in range(12):
        add(0.02 / 12, utm_source="newsletter", utm_medium="email", utm_campaign=f"weekly-digest-{n + 1:02d}",
            utm_content=("header", "body-link")[n % 2], group="email")
    add(0.005, utm_source="mailchimp", utm_medium="email", utm_campaign="product-update",
        click_param="mc_eid", group="email")
    add(0.004, utm_source="partner-hub", utm_medium="affiliate", utm_campaign="partners", group="paid")
    for ref, w in (("https://github.com/", 0.006), ("https://stackoverflow.com/", 0.004),
                   ("https://medium.com/", 0.004), ("https://dev.to/", 0.002),
                   ("https://www.producthunt.com/", 0.002), ("https://en.wikipedia.org/", 0.003),
                   ("https://www.theverge.com/", 0.0015), ("https://techcrunch.com/", 0.0015)):
        add(w, referrer=ref, group="referral")
    for n in range(30):
        add(0.025 / (n + 1) / 4.0, referrer=f"https://blog.partner{n + 1:02d}.example/{_WORDS[n]}-tips",
            group="referral")
    return out
