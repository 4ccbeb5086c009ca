"""Bulk seeder: N events of modelled history straight into the store, in the shape ingestion makes.

Rows are exactly what `engine/ingest/pipeline.py` writes: every event carries its session's
`session_start` and session attributes (from the session's first event), pageviews get a
`page_visit_id`, engagement rows carry running maxima and `engaged_delta_ms`, `user_id` is the
server's keyed hash of (day in the site's timezone, site, IP, UA) with the data dir's own secret.
The `sessions` and `page_visits` materialized views populate as they do for live traffic.

Enrichment ("--enrich engine", the default) runs the engine's own functions once per session, as
ingestion does for a session's first event: `parse_page_url` on the landing URL (UTMs, click-id
stripping), `classify` (source/channel), `GeoLocator.lookup` (country/region/city), `parse_client`
and `is_bot` (UA), with the same memoisation those functions have in the server. URLs of other
pages carry no parameters and are parsed once per catalogue page. "--enrich model" skips the
engine and writes the traffic model's own labels (faster; not "enriched").

Generation is vectorized (numpy), rows go in as Arrow tables (`insert_arrow`), one insert in flight
while the next chunk is generated.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import logging
import os
import resource
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from engine.ingest.identity import VisitorHasher, load_or_create_secret
from engine.ingest.rows import EVENT_COLUMNS, SESSION_ATTRS, EventRow, screen_class
from loadtest.model import (
    CURRENCIES,
    EVENT_NAMES,
    EVENT_TYPES,
    HOUR_WEIGHTS,
    ModelConfig,
    Sessions,
    SiteProfile,
    TrafficModel,
)

log = logging.getLogger("clickport.loadtest.seed")

MANIFEST = "loadtest_manifest.json"


@dataclass
class SeedOptions:
    data_dir: str = "data/bench"
    events: int = 1_000_000
    model: ModelConfig = field(default_factory=ModelConfig)
    chunk_rows: int = 1_000_000
    enrich: str = "engine"          # engine | model
    insert: bool = True             # False: generate + enrich only (measures that side alone)
    inserts_in_flight: int = 1
    cpus: int | None = None         # pin the process to this many CPUs (set before chDB starts)
    geoip_path: str | None = None   # default: the data dir's installed database, if any
    progress: bool = True
    now: dt.datetime | None = None  # end of the seeded history (default: the current time)


# --------------------------------------------------------------------------------------------
# Enrichment


class Encoder:
    """String → dense code, with the dictionary kept for Arrow DictionaryArrays."""

    def __init__(self, initial: tuple[str, ...] = ("",)):
        self.codes: dict[str, int] = {}
        self.values: list[str] = []
        for value in initial:
            self.code(value)
        self._dict: pa.Array | None = None

    def code(self, value: str) -> int:
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.values)
            self.values.append(value)
            self._dict = None
        return code

    def dictionary(self) -> pa.Array:
        if self._dict is None or len(self._dict) != len(self.values):
            self._dict = pa.array(self.values, pa.string())
        return self._dict


class Enricher:
    """Session attributes for a batch, through the engine's enrichment (or the model's labels)."""

    def __init__(self, model: TrafficModel, mode: str, geoip_path: str | None):
        self.model = model
        self.mode = mode
        self.attr_enc = {name: Encoder() for name in SESSION_ATTRS}
        self.url_enc = Encoder()
        self.path_enc = Encoder()
        self.host_enc = Encoder()
        self.geo_available = False
        if mode == "engine":
            from engine.enrich.bots import is_bot
            from engine.enrich.geo import GeoLocator
            from engine.enrich.referrer import classify
            from engine.enrich.urls import parse_page_url
            from engine.enrich.useragent import parse_client

            self._is_bot, self._classify = is_bot, classify
            self._parse_url, self._parse_client = parse_page_url, parse_client
            self.geo = GeoLocator(geoip_path)
            self.geo_available = self.geo.available
        elif mode != "model":
            raise ValueError("enrich: engine or model")
        # Catalogue pages: URL and path codes per site, parsed once (they carry no parameters).
        self.page_url_code: dict[int, np.ndarray] = {}
        self.page_path_code: dict[int, np.ndarray] = {}
        self.host_code: dict[int, int] = {}
        for site in model.sites:
            urls, paths = [], []
            for path in site.pages:
                url = f"https://{site.domain}{path}"
                if mode == "engine":
                    parsed = self._parse_url(url)
                    url, path = parsed.clean_url, parsed.pathname
                urls.append(self.url_enc.code(url))
                paths.append(self.path_enc.code(path))
            self.page_url_code[site.index] = np.array(urls, np.int32)
            self.page_path_code[site.index] = np.array(paths, np.int32)
            self.host_code[site.index] = self.host_enc.code(site.domain)
        self.sessions_enriched = 0
        self.seconds = 0.0

    def enrich(self, batch: Sessions, site_id: int, hasher: VisitorHasher) -> dict[str, np.ndarray]:
        """Per-session codes: user_id, landing url code and one code per session attribute.

        Real work per visitor (IP → text, geo lookup, keyed visitor hash) and per session whose
        landing URL carries parameters (parse_page_url: UTMs, click-id stripping). Pure functions of
        few distinct inputs (UA parse + bot check per UA string, classify per acquisition, screen
        class per width) run once per distinct input and are gathered per session: the server
        memoises the same functions (lru_cache), so this is the work it does, minus cache hits.
        """
        t0 = time.perf_counter()
        model, site = self.model, batch.site
        n = batch.n_sessions
        enc = self.attr_enc
        cols = {name: np.zeros(n, np.int32) for name in SESSION_ATTRS}
        # Visitors: address, geo, keyed id (per day). Plain lists: numpy scalar access is slow here.
        nv = int(batch.visitor.max()) + 1
        first = np.full(nv, -1, np.int64)
        first[batch.visitor[::-1]] = np.arange(n - 1, -1, -1)
        ips = batch.ip[first].tolist()
        uas = [model.humans[u]["ua"] for u in batch.ua[first].tolist()]
        tz = site.tz
        moment = dt.datetime.fromtimestamp(batch.start_ms[0] / 1000, dt.UTC)  # one local day
        engine = self.mode == "engine"
        geo_codes = self._geo_codes
        visitor_id = hasher.visitor_id
        uids: list[int] = []
        geos: list[tuple[int, int, int]] = []
        lookup = self.geo.lookup if engine else None
        countries = batch.country[first].tolist()
        for ip_int, ua, country in zip(ips, uas, countries, strict=True):
            ip = f"{ip_int >> 24}.{(ip_int >> 16) & 255}.{(ip_int >> 8) & 255}.{ip_int & 255}"
            uids.append(visitor_id(moment, tz, site_id, ip, ua))
            geo = lookup(ip) if engine else model.countries[country]
            codes = geo_codes.get(geo)
            if codes is None:
                if engine:
                    values = (geo.country, geo.region, geo.city)
                else:
                    values = (geo, "", "")
                codes = geo_codes[geo] = (enc["country"].code(values[0]), enc["region"].code(values[1]),
                                          enc["city"].code(values[2]))
            geos.append(codes)
        v_uid = np.array(uids, np.uint64)
        v_geo = np.array(geos, np.int32).reshape(nv, 3)
        for j, name in enumerate(("country", "region", "city")):
            cols[name] = v_geo[batch.visitor, j]
        # Client: per UA string and per screen width.
        ua_codes = np.array([self._ua_codes(i) for i in range(len(model.humans))], np.int32)
        for j, name in enumerate(("device", "browser", "browser_version", "os", "os_version")):
            cols[name] = ua_codes[batch.ua, j]
        widths, inverse = np.unique(batch.screen_width, return_inverse=True)
        cols["screen"] = np.array([enc["screen"].code(screen_class(int(w))) for w in widths],
                                  np.int32)[inverse]
        # Acquisition: landing URLs with parameters are parsed one by one (click ids are random).
        landing_url = self.page_url_code[site.index][batch.landing_page].copy()
        acq_names = ("referrer_url", "source", "channel", "utm_source", "utm_medium", "utm_campaign",
                     "utm_content", "utm_term", "click_id_param")
        acq_codes = np.zeros((len(model.acquisitions), len(acq_names)), np.int32)
        for a in np.unique(batch.acq):
            acq_codes[a] = self._acq_codes(site, int(a), acq_names)
        for j, name in enumerate(acq_names):
            cols[name] = acq_codes[batch.acq, j]
        with_params = self._with_params
        url_code = self.url_enc.code
        parse = self._parse_url if engine else None
        for s in np.flatnonzero(with_params[batch.acq]).tolist():
            url = model.landing_url(batch, s)
            landing_url[s] = url_code(parse(url).clean_url if engine else _strip_click(url))
        user_id = v_uid[batch.visitor]
        self.sessions_enriched += n
        self.seconds += time.perf_counter() - t0
        return {"user_id": user_id, "landing_url": landing_url, **cols}

    @cached_property
    def _with_params(self) -> np.ndarray:
        return np.array([bool(a.click_param or a.utm_source or a.utm_medium or a.utm_campaign)
                         for a in self.model.acquisitions])

    @cached_property
    def _geo_codes(self) -> dict:
        return {}

    def _ua_codes(self, i: int) -> tuple[int, ...]:
        cache = self.__dict__.setdefault("_ua_cache", {})
        codes = cache.get(i)
        if codes is None:
            human = self.model.humans[i]
            enc = self.attr_enc
            if self.mode == "engine":
                if self._is_bot(human["ua"]):  # the model only holds human UAs
                    raise AssertionError(f"model UA classified as a bot: {human['ua']}")
                c = self._parse_client(human["ua"])
                values = (c.device, c.browser, c.browser_version, c.os, c.os_version)
            else:
                ver = human["ua"].split(human["browser"].split()[0] + "/")[-1].split(".")[0]
                values = (human["device"], human["browser"], ver if ver.isdigit() else "",
                          human["os"], "")
            codes = cache[i] = tuple(enc[name].code(v) for name, v in zip(
                ("device", "browser", "browser_version", "os", "os_version"), values, strict=True))
        return codes

    def _acq_codes(self, site: SiteProfile, a: int, names: tuple[str, ...]) -> tuple[int, ...]:
        cache = self.__dict__.setdefault("_acq_cache", {})
        key = (site.index, a)
        codes = cache.get(key)
        if codes is None:
            acq = self.model.acquisitions[a]
            if self.mode == "engine":
                # The parameters as the URL parser reads them from a landing URL of this template.
                page = self._parse_url(_template_url(site, acq))
                utm = page.utm
                r = self._classify(acq.referrer, utm.get("utm_source", ""), utm.get("utm_medium", ""),
                                   utm.get("utm_campaign", ""), page.click_id_param, site.domain)
                values = (r.referrer_url, r.source, r.channel, utm.get("utm_source", ""),
                          utm.get("utm_medium", ""), utm.get("utm_campaign", ""),
                          utm.get("utm_content", ""), utm.get("utm_term", ""), page.click_id_param)
            else:
                host = acq.referrer.split("/")[2] if acq.referrer else ""
                values = (acq.referrer, acq.utm_source or host.removeprefix("www."),
                          _CHANNEL_BY_GROUP[acq.group], acq.utm_source, acq.utm_medium,
                          acq.utm_campaign, acq.utm_content, acq.utm_term, acq.click_param)
            codes = cache[key] = tuple(self.attr_enc[name].code(v)
                                       for name, v in zip(names, values, strict=True))
        return codes


def _template_url(site: SiteProfile, acq) -> str:
    params = [(k, v) for k, v in (
        ("utm_source", acq.utm_source), ("utm_medium", acq.utm_medium),
        ("utm_campaign", acq.utm_campaign), ("utm_content", acq.utm_content),
        ("utm_term", acq.utm_term)) if v]
    if acq.click_param:
        params.append((acq.click_param, "x"))
    query = "&".join(f"{k}={v}" for k, v in params)
    return f"https://{site.domain}/" + (f"?{query}" if query else "")


def _strip_click(url: str) -> str:
    base, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p.startswith("utm_")]
    return base + ("?" + "&".join(kept) if kept else "")


_CHANNEL_BY_GROUP = {"direct": "Direct", "search": "Organic Search", "social": "Organic Social",
                     "ai": "AI Search", "paid": "Paid Search", "email": "Email", "referral": "Referral"}


# --------------------------------------------------------------------------------------------
# Rows


class ChunkBuilder:
    """Collects batches as code arrays and turns them into one Arrow table per insert."""

    def __init__(self, enricher: Enricher, model: TrafficModel):
        self.enricher = enricher
        self.model = model
        self.parts: list[dict] = []
        self.rows = 0
        self.type_dict = pa.array(EVENT_TYPES, pa.string())
        self.name_dict = pa.array(EVENT_NAMES, pa.string())
        self.currency_dict = pa.array(CURRENCIES, pa.string())
        self.meta_key_enc = Encoder(())
        self.event_rng = np.random.default_rng([model.config.seed, 31337])

    def add(self, batch: Sessions, site_id: int, codes: dict[str, np.ndarray], keep: np.ndarray) -> int:
        """Add a batch's events (only those where `keep`); returns the number of rows added."""
        site = batch.site
        ev = np.flatnonzero(keep)
        if not len(ev):
            return 0
        sess = batch.ev_session[ev]
        etype = batch.ev_type[ev]
        pv = batch.ev_pv[ev]
        page = batch.ev_page[ev]
        # The landing page visit's pageview and engagement rows carry the landing URL (cleaned).
        first_pv = np.cumsum(batch.depth) - batch.depth
        on_landing = (pv >= 0) & (pv == first_pv[sess])
        url = np.where(on_landing, codes["landing_url"][sess], self.enricher.page_url_code[site.index][page])
        pv_id = np.where(pv >= 0, batch.pv_id[np.maximum(pv, 0)], 0).astype(np.uint64)
        part = {
            "site_id": np.full(len(ev), site_id, np.uint32),
            "timestamp": batch.ev_ts_ms[ev],
            "type": etype.astype(np.int32),
            "name": batch.ev_name[ev].astype(np.int32),
            "user_id": codes["user_id"][sess],
            "session_id": batch.session_id[sess],
            "session_start": batch.start_ms[sess],
            "page_visit_id": pv_id,
            "hostname": np.full(len(ev), self.enricher.host_code[site.index], np.int32),
            "pathname": self.enricher.page_path_code[site.index][page],
            "url": url.astype(np.int32),
            "scroll_depth": batch.ev_scroll[ev],
            "engaged_ms": batch.ev_engaged[ev],
            "engaged_delta_ms": batch.ev_delta[ev],
            "revenue_amount": batch.ev_revenue_micros[ev],
            "revenue_currency": batch.ev_currency[ev].astype(np.int32),
        }
        for name in SESSION_ATTRS:
            part[name] = codes[name][sess]
        # Meta pairs: only clicks, forms and custom events carry them (a few % of rows).
        meta_kind = batch.ev_meta[ev]
        counts = np.zeros(len(ev), np.int32)
        keys: list[int] = []
        values: list[str] = []
        for i in np.flatnonzero(meta_kind):
            k, v = self.model.meta_for(site, int(meta_kind[i]), int(batch.ev_meta_arg[ev[i]]))
            counts[i] = len(k)
            keys.extend(self.meta_key_enc.code(x) for x in k)
            values.extend(v)
        part["meta_counts"] = counts
        part["meta_keys"] = np.array(keys, np.int32)
        part["meta_values"] = values
        self.parts.append(part)
        self.rows += len(ev)
        return len(ev)

    def table(self) -> pa.Table:
        parts, self.parts, n = self.parts, [], self.rows
        self.rows = 0

        def cat(name):
            return np.concatenate([p[name] for p in parts])

        def dict_col(codes, dictionary):
            return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary)

        enc = self.enricher
        cols: dict[str, pa.Array] = {
            "site_id": pa.array(cat("site_id")),
            "timestamp": pa.array(cat("timestamp"), pa.timestamp("ms", tz="UTC")),
            "event_id": pa.array(self.event_rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
                                 * 2 + self.event_rng.integers(0, 2, n).astype(np.uint64)),
            "type": dict_col(cat("type"), self.type_dict),
            "name": dict_col(cat("name"), self.name_dict),
            "user_id": pa.array(cat("user_id")),
            "session_id": pa.array(cat("session_id")),
            "session_start": pa.array(cat("session_start"), pa.timestamp("ms", tz="UTC")),
            "page_visit_id": pa.array(cat("page_visit_id")),
            "hostname": dict_col(cat("hostname"), enc.host_enc.dictionary()),
            "pathname": dict_col(cat("pathname"), enc.path_enc.dictionary()),
            "url": dict_col(cat("url"), enc.url_enc.dictionary()),
        }
        for name in SESSION_ATTRS:
            cols[name] = dict_col(cat(name), enc.attr_enc[name].dictionary())
        scroll = cat("scroll_depth")
        engaged = cat("engaged_ms")
        cols["scroll_depth"] = pa.array(np.maximum(scroll, 0).astype(np.uint8), mask=scroll < 0)
        cols["engaged_ms"] = pa.array(np.maximum(engaged, 0).astype(np.uint32), mask=engaged < 0)
        cols["engaged_delta_ms"] = pa.array(cat("engaged_delta_ms").astype(np.uint32))
        micros = cat("revenue_amount")
        words = np.zeros((n, 2), np.int64)  # decimal128 = little-endian 128-bit two's complement
        words[:, 0] = micros
        words[:, 1] = np.where(micros < 0, -1, 0)
        cols["revenue_amount"] = pa.Array.from_buffers(
            pa.decimal128(18, 6), n, [None, pa.py_buffer(words.tobytes())])
        cols["revenue_currency"] = dict_col(cat("revenue_currency"), self.currency_dict)
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(cat("meta_counts"), out=offsets[1:])
        meta_keys = np.concatenate([p["meta_keys"] for p in parts])
        meta_values = [v for p in parts for v in p["meta_values"]]
        cols["meta_key"] = pa.ListArray.from_arrays(
            pa.array(offsets), dict_col(meta_keys, self.meta_key_enc.dictionary()))
        cols["meta_value"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(meta_values, pa.string()))
        # The engine's own event record, filled with columns: a missing or extra field fails here.
        row = EventRow(**cols)
        return pa.table(list(row), names=list(EVENT_COLUMNS))


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class SeedResult:
    data_dir: str
    events: int = 0
    sessions: int = 0
    sites: list[dict] = field(default_factory=list)
    start: str = ""
    end: str = ""
    wall_s: float = 0.0
    events_per_s: float = 0.0
    generate_s: float = 0.0          # main thread: model + enrichment + Arrow building
    enrich_s: float = 0.0            # of which: per-session enrichment
    insert_wait_s: float = 0.0       # main thread blocked on the store
    insert_s: float = 0.0            # summed wall time of the inserts
    process_cpu_s: float = 0.0       # user+sys of the whole process (engine threads included)
    cpus: int = 0
    enrich: str = "engine"
    geo_database: bool = False
    inserted: bool = True
    peak_rss_mib: float = 0.0
    chunks: int = 0
    options: dict = field(default_factory=dict)
    # A few seeded sessions with their visitor's IP and UA (tests replay a live event for them).
    samples: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("samples")
        d["generate_events_per_s"] = self.events / self.generate_s if self.generate_s else None
        d["enrich_us_per_session"] = 1e6 * self.enrich_s / self.sessions if self.sessions else None
        d["insert_rows_per_s"] = self.events / self.insert_s if self.insert_s else None
        d["events_per_cpu_s"] = self.events / self.process_cpu_s if self.process_cpu_s else None
        return d


def _pin_cpus(n: int | None) -> int:
    available = sorted(os.sched_getaffinity(0))
    if n:
        os.sched_setaffinity(0, set(available[:n]))
    return len(os.sched_getaffinity(0))


def open_bench_store(data_dir: str):
    """The store of a bench data dir, with migrations applied (same layout as `clickport serve`)."""
    from engine.migrations import apply_migrations
    from engine.store import Store, StoreConfig, default_dsn

    os.makedirs(data_dir, exist_ok=True)
    store = Store(StoreConfig(dsn=default_dsn(data_dir), pool_size=2))
    apply_migrations(store)
    return store


def ensure_sites(store, model: TrafficModel, manifest: dict | None) -> list[dict]:
    """Create (or reuse) one site per model site, each with a read+tracker key."""
    from engine.registry import Registry

    registry = Registry(store)
    registry.refresh()
    known = {s["domain"]: s for s in (manifest or {}).get("sites", [])}
    sites = []
    for profile in model.sites:
        site = registry.site_by_domain(profile.domain)
        if site is None:
            site = registry.create_site(profile.domain, profile.timezone)
        key = known.get(profile.domain, {}).get("key")
        if not key or registry.authenticate(key) is None:
            key, _ = registry.create_key(site.site_id, name="loadtest", read=True, track=True)
        sites.append({"site_id": site.site_id, "domain": site.domain, "timezone": site.timezone,
                      "key": key, "kind": profile.kind, "weight": round(float(profile.weight), 5)})
    return sites


def read_manifest(data_dir: str) -> dict | None:
    try:
        with open(os.path.join(data_dir, MANIFEST), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def manifest_site(manifest: dict, site_ref: str = "largest"):
    """The seeded site a benchmark reads: the one with the most events, or the one named by id or
    domain; an `engine.sites.Site`."""
    from engine.sites import Site

    sites = manifest["sites"]
    chosen = (max(sites, key=lambda s: s.get("events", 0)) if site_ref == "largest" else
              next(s for s in sites if str(s["site_id"]) == site_ref or s["domain"] == site_ref))
    return Site(chosen["site_id"], chosen["domain"], chosen["timezone"])


def write_manifest(data_dir: str, manifest: dict) -> str:
    path = os.path.join(data_dir, MANIFEST)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
    os.replace(tmp, path)
    return path


def seed(opts: SeedOptions, store=None) -> SeedResult:
    """Generate and insert opts.events events. `store`: an open store to use (tests); else the
    data dir's embedded store is opened (and closed)."""
    cpus = _pin_cpus(opts.cpus)
    t_start = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    model = TrafficModel(opts.model)
    data_dir = os.path.abspath(opts.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    own_store = store is None and opts.insert
    if own_store:
        store = open_bench_store(data_dir)
    manifest = read_manifest(data_dir)
    sites = ensure_sites(store, model, manifest) if store is not None else [
        {"site_id": 10_000 + p.index, "domain": p.domain, "timezone": p.timezone, "key": "",
         "kind": p.kind} for p in model.sites]
    site_ids = [s["site_id"] for s in sites]
    geoip = opts.geoip_path
    if geoip is None and opts.enrich == "engine":
        from server.config import default_geoip_path

        geoip = default_geoip_path(data_dir)
    enricher = Enricher(model, opts.enrich, geoip)
    hasher = VisitorHasher(load_or_create_secret(os.path.join(data_dir, "secret.key")))
    builder = ChunkBuilder(enricher, model)

    now = opts.now or dt.datetime.now(dt.UTC)
    now_ms = int(now.timestamp() * 1000)
    cfg = opts.model
    # Local days of history; the last one may run past now for sites east of UTC: trimmed.
    first_day = (now - dt.timedelta(days=cfg.history_days - 1)).date()
    days = [first_day + dt.timedelta(days=i) for i in range((now.date() - first_day).days + 2)]
    target_sessions = opts.events / model.events_per_session
    expected = model.daily_sessions(days, 1.0)
    # Only the part of each local day before `now` is seeded: scale by the elapsed share of the
    # day's traffic (hourly curve), then normalize so the whole history holds the target.
    hour_cdf = np.concatenate(([0.0], np.cumsum(HOUR_WEIGHTS) / HOUR_WEIGHTS.sum()))
    for d, day in enumerate(days):
        for i, site in enumerate(model.sites):
            elapsed_h = (now_ms - model.local_midnight_ms(site, day)) / 3_600_000
            expected[d, i] *= float(np.interp(np.clip(elapsed_h, 0, 24), np.arange(25), hour_cdf))
    expected *= target_sessions / expected.sum()

    result = SeedResult(data_dir=data_dir, cpus=cpus, enrich=opts.enrich,
                        geo_database=enricher.geo_available, inserted=opts.insert,
                        options={"events": opts.events, "chunk_rows": opts.chunk_rows,
                                 "model": asdict(cfg), "now": now.isoformat()})
    per_site_events = np.zeros(len(model.sites), np.int64)
    pool = cf.ThreadPoolExecutor(max_workers=max(1, opts.inserts_in_flight))
    in_flight: list[cf.Future] = []
    bar = None
    if opts.progress:
        from tqdm import tqdm

        bar = tqdm(total=opts.events, unit="ev", unit_scale=True, smoothing=0.05,
                   desc=f"seeding {data_dir}")

    def do_insert(table: pa.Table) -> tuple[int, float]:
        t0 = time.perf_counter()
        try:
            with store.client() as client:
                client.insert_arrow("events", table)
        finally:
            store.writes += 1  # a write past Store.insert_*: caches of the store's state must see it
        return table.num_rows, time.perf_counter() - t0

    def collect(block: bool) -> None:
        while in_flight and (block or len(in_flight) >= max(1, opts.inserts_in_flight)):
            t0 = time.perf_counter()
            rows, seconds = in_flight.pop(0).result()
            result.insert_wait_s += time.perf_counter() - t0
            result.insert_s += seconds
            if bar is not None:
                bar.update(rows)

    def flush() -> None:
        if not builder.rows:
            return
        t0 = time.perf_counter()
        table = builder.table()
        result.generate_s += time.perf_counter() - t0
        result.chunks += 1
        if not opts.insert:
            if bar is not None:
                bar.update(table.num_rows)
            return
        collect(block=False)
        in_flight.append(pool.submit(do_insert, table))

    try:
        month = None
        for d, day in enumerate(days):
            if month is not None and day.month != month:
                flush()  # keep each insert inside one or two monthly partitions
            month = day.month
            t0 = time.perf_counter()
            for i, site in enumerate(model.sites):
                count_rng = np.random.default_rng([cfg.seed, 15485863, i, day.toordinal()])
                n = int(count_rng.poisson(expected[d, i]))
                if n == 0:
                    continue
                batch = model.sessions(site, day, n)
                live = batch.start_ms <= now_ms
                if not live.any():
                    continue
                keep = batch.ev_ts_ms <= now_ms
                result.sessions += int(live.sum())
                codes = enricher.enrich(batch, site_ids[i], hasher)
                if len(result.samples) < 5 and live[0]:
                    result.samples.append({
                        "site_id": site_ids[i], "session_id": int(batch.session_id[0]),
                        "user_id": int(codes["user_id"][0]), "ip": model.ip_text(batch.ip[0]),
                        "user_agent": model.humans[batch.ua[0]]["ua"], "start_ms": int(batch.start_ms[0])})
                added = builder.add(batch, site_ids[i], codes, keep)
                per_site_events[i] += added
                result.events += added
            result.generate_s += time.perf_counter() - t0
            if builder.rows >= opts.chunk_rows:
                flush()
        flush()
        collect(block=True)
    finally:
        pool.shutdown(wait=True)
        if bar is not None:
            bar.close()
    result.enrich_s = enricher.seconds
    result.wall_s = time.perf_counter() - t_start
    result.events_per_s = result.events / result.wall_s if result.wall_s else 0.0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    result.process_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    result.peak_rss_mib = ru1.ru_maxrss / 1024
    result.start = dt.datetime.combine(first_day, dt.time(0), dt.UTC).isoformat()
    result.end = now.isoformat()
    for s, count in zip(sites, per_site_events, strict=True):
        s["events"] = int(count)
    result.sites = sites
    if opts.insert:
        _record(data_dir, manifest, result, opts)
    if own_store:
        store.close()
    return result


def _record(data_dir: str, manifest: dict | None, result: SeedResult, opts: SeedOptions) -> None:
    manifest = manifest or {"runs": []}
    previous = {s["domain"]: s.get("events", 0) for s in manifest.get("sites", [])}
    sites = [dict(s, events=s["events"] + previous.get(s["domain"], 0)) for s in result.sites]
    runs = manifest.get("runs", []) + [{k: v for k, v in result.summary().items() if k != "sites"}]
    manifest.update({
        "data_dir": data_dir,
        "sites": sites,
        "events": sum(s["events"] for s in sites),
        "first_event": min([manifest.get("first_event", result.start), result.start]),
        "seeded_until": max([manifest.get("seeded_until", result.end), result.end]),
        "seed": opts.model.seed,
        "runs": runs,
    })
    write_manifest(data_dir, manifest)
