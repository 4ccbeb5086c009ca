"""HTTP load driver for POST /api/event, loopback only, with stored-count accounting.

The request pool comes from the traffic model: modelled visits (real UAs, country IPs via
X-Forwarded-For, landing URLs with UTMs/click ids, referrers, clicks, forms, custom events with
revenue), a share of bot and DNT visits, interleaved so one visitor's requests are far apart.
After each pageview's response the driver sends that page visit's engagement updates (running
scroll/engaged maxima) with the returned `page_visit_id`.

Drivers:
- `wrk` (when installed): a generated Lua script holds the pool; counts stored/dropped responses
  per thread, requests per second, and latency percentiles from wrk's own histogram. Max
  throughput, or a target rate paced open-loop: `delay()` gives each request of a wrk thread
  its slot on a wall-clock schedule (LuaJIT's ffi clock), whichever connection is free to send it.
- built-in asyncio (raw sockets over asyncio streams, uvloop when present): the same pool and
  counters, open-loop pacing at a target rate. Slower than wrk (Python), so it caps lower.

Accounting: a 200 whose body has a non-null `session_id` is an acknowledged stored event; one with
`"session_id":null` a drop (DNT, bot, rate limit). After the run the driver waits for the server's
writer to drain and compares: acknowledged-stored vs the server's accepted/inserted counters
(admin status), and, for a server it started itself, vs `count()` in the store after shutdown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np
import orjson

from loadtest import servermetrics
from loadtest.model import (
    CLICK,
    CURRENCIES,
    CUSTOM,
    ENGAGEMENT,
    EVENT_NAMES,
    EVENT_TYPES,
    FORM,
    PAGEVIEW,
    ModelConfig,
    TrafficModel,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.9, 99.99)


# --------------------------------------------------------------------------------------------
# Request pool


@dataclass
class Req:
    headers: dict[str, str]
    body: bytes
    url: str
    kind: str
    # Engagement updates (scroll %, engaged ms) to send after this pageview's response.
    engagement: list[tuple[int, int]] | None = None


@dataclass
class SiteKey:
    domain: str
    key: str
    weight: float
    site_id: int = 0


def build_pool(model: TrafficModel, sites: list[SiteKey], visits: int, seed: int,
               engagement: bool = True) -> list[Req]:
    """Requests of `visits` modelled visits (humans, bots, DNT), interleaved in groups."""
    rng = np.random.default_rng([model.config.seed, seed, 271828])
    cfg = model.config
    weights = np.array([s.weight for s in sites], np.float64)
    weights /= weights.sum()
    n_bot = int(round(visits * cfg.bot_share))
    n_human = visits - n_bot
    per_site = rng.multinomial(n_human, weights)
    visit_lists: list[list[Req]] = []
    day = dt.date.today()
    for site_key, profile, n in zip(sites, model.sites, per_site, strict=False):
        if n == 0:
            continue
        batch = model.sessions(profile, day, int(n), start_of_day_ms=0,
                               rng=np.random.default_rng([cfg.seed, seed, profile.index]))
        dnt = rng.random(batch.n_sessions) < cfg.dnt_share
        order = np.lexsort((batch.ev_ts_ms, batch.ev_session))
        bounds = np.searchsorted(batch.ev_session[order], np.arange(batch.n_sessions + 1))
        for s in range(batch.n_sessions):
            evs = order[bounds[s]:bounds[s + 1]]
            visit_lists.append(_visit_requests(model, batch, s, evs, site_key, bool(dnt[s]), engagement))
    for _ in range(n_bot):
        visit_lists.append(_bot_requests(model, rng, sites[int(rng.integers(0, len(sites)))]))
    order = rng.permutation(len(visit_lists))
    visit_lists = [visit_lists[i] for i in order]
    # Interleave: request r of every visit in a group of 512 before request r+1 of any of them,
    # so a visitor's pageviews are far apart (as in real traffic) and never race each other.
    pool: list[Req] = []
    group = 512
    for g in range(0, len(visit_lists), group):
        chunk = visit_lists[g:g + group]
        depth = max(len(v) for v in chunk)
        for r in range(depth):
            pool.extend(v[r] for v in chunk if r < len(v))
    return pool


def _headers(key: str, ua: str, ip: str, dnt: bool) -> dict[str, str]:
    h = {"x-api-key": key, "Content-Type": "application/json", "User-Agent": ua, "X-Forwarded-For": ip}
    if dnt:
        h["DNT"] = "1"
    return h


def _visit_requests(model: TrafficModel, batch, s: int, evs: np.ndarray, site_key: SiteKey,
                    dnt: bool, engagement: bool) -> list[Req]:
    headers = _headers(site_key.key, model.humans[batch.ua[s]]["ua"], model.ip_text(batch.ip[s]), dnt)
    plans: dict[int, list[tuple[int, int]]] = {}
    for e in evs:
        if batch.ev_type[e] == ENGAGEMENT:
            update = (int(batch.ev_scroll[e]), int(batch.ev_engaged[e]))
            plans.setdefault(int(batch.ev_pv[e]), []).append(update)
    out: list[Req] = []
    for e, body in visit_bodies(model, batch, s, evs):
        etype = int(batch.ev_type[e])
        plan = None
        if etype == PAGEVIEW and engagement and not dnt:
            plan = plans.get(int(batch.ev_pv[e]), [])
        out.append(Req(headers, orjson.dumps(body), body["url"], EVENT_TYPES[etype], plan))
    return out


def visit_bodies(model: TrafficModel, batch, s: int, evs: np.ndarray):
    """(event index, /api/event body) for session `s`'s non-engagement events, in time order:
    the landing pageview with the acquisition's URL and referrer, later pageviews referred by the
    previous page, clicks/forms/custom events with name, meta and revenue. Shared by the HTTP
    load pool and the import history file (loadtest/history.py)."""
    site = batch.site
    acq = model.acquisitions[batch.acq[s]]
    landing = model.landing_url(batch, s)
    previous_url = ""
    first = True
    for e in evs:
        etype = int(batch.ev_type[e])
        if etype == ENGAGEMENT:
            continue
        url = f"https://{site.domain}{site.pages[batch.ev_page[e]]}"
        body: dict = {"type": EVENT_TYPES[etype], "url": url}
        if etype == PAGEVIEW:
            if first:
                url = body["url"] = landing
                if acq.referrer:
                    body["referrer"] = acq.referrer
                first = False
            elif previous_url:
                body["referrer"] = previous_url
            body["screen_width"] = int(batch.screen_width[s])
            previous_url = url
        elif etype in (CLICK, FORM, CUSTOM):
            body["name"] = EVENT_NAMES[batch.ev_name[e]]
            keys, values = model.meta_for(site, int(batch.ev_meta[e]), int(batch.ev_meta_arg[e]))
            if keys:
                body["meta_keys"], body["meta_values"] = keys, values
            if batch.ev_revenue_micros[e]:
                body["revenue_amount"] = round(int(batch.ev_revenue_micros[e]) / 1e6, 2)
                body["revenue_currency"] = CURRENCIES[batch.ev_currency[e]]
        yield int(e), body


def _bot_requests(model: TrafficModel, rng: np.random.Generator, site_key: SiteKey) -> list[Req]:
    bot = model.bots[int(np.searchsorted(model.bot_cdf, rng.random(), side="right"))]
    country = int(np.searchsorted(model.country_share.cumsum() / model.country_share.sum(), rng.random()))
    starts, sizes = model.country_ranges[min(country, len(model.countries) - 1)]
    i = int(rng.integers(0, len(starts)))
    ip = model.ip_text(int(starts[i]) + 1 + int(rng.integers(0, int(sizes[i]) - 2)))
    headers = _headers(site_key.key, bot["ua"], ip, False)
    site = next((p for p in model.sites if p.domain == site_key.domain), model.sites[0])
    pages = rng.integers(0, len(site.pages), int(rng.integers(1, 4)))
    return [Req(headers, orjson.dumps({"type": "pageview", "url": f"https://{site.domain}{site.pages[p]}"}),
                "", "pageview", None) for p in pages]


# --------------------------------------------------------------------------------------------
# wrk


def _lua_str(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def write_wrk_script(pool: list[Req], path: str, threads: int, connections: int, rate: float) -> str:
    """The Lua script and, beside it, the pool as a data file (`<path>.pool`) that each wrk thread
    reads at init: a literal table of tens of thousands of requests would exceed Lua's limit on
    constants per function. Data lines: header-set id, body, page URL, engagement plan
    ("-" = none, "" = an empty plan), tab-separated; header sets are "H" lines."""
    header_ids: dict[tuple, int] = {}
    lines: list[str] = []
    for req in pool:
        key = tuple(sorted(req.headers.items()))
        hid = header_ids.get(key)
        if hid is None:
            hid = header_ids[key] = len(header_ids) + 1
            lines.append("H\t" + "\t".join(f"{k}\t{v}" for k, v in key))
        plan = "-" if req.engagement is None else ";".join(f"{sc},{en}" for sc, en in req.engagement)
        body = req.body.decode()
        assert "\t" not in body and "\n" not in body and "\t" not in req.url
        lines.append(f"R\t{hid}\t{body}\t{req.url}\t{plan}")
    data_path = path + ".pool"
    with open(data_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    per_thread_ms = 1000.0 * max(1, threads) / rate if rate > 0 else 0.0
    script = (_WRK_LUA.replace("__POOL_FILE__", _lua_str(os.path.abspath(data_path)))
              .replace("__THREADS__", str(max(1, threads))).replace("__INTERVAL_MS__", repr(per_thread_ms)))
    if rate <= 0:
        script = script.replace("function delay()", "local function _unused_delay()")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(script)
    return path


_WRK_LUA = r"""
-- Generated by loadtest/load.py: reads the request pool of modelled visits; does the accounting.
local POOL_FILE = __POOL_FILE__
local NTHREADS = __THREADS__
local INTERVAL_MS = __INTERVAL_MS__
local threads = {}
local counter = 0

local function split(line)
  local out = {}
  for field in string.gmatch(line .. "\t", "([^\t]*)\t") do out[#out + 1] = field end
  return out
end

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  H = {}; P = {}
  for line in io.lines(POOL_FILE) do
    local f = split(line)
    if f[1] == "H" then
      local h = {}
      for i = 2, #f - 1, 2 do h[f[i]] = f[i + 1] end
      H[#H + 1] = h
    else
      local r = {h = tonumber(f[2]), b = f[3], u = f[4]}
      if f[5] ~= "-" then
        r.e = {}
        for sc, en in string.gmatch(f[5], "(%d+),(%d+)") do r.e[#r.e + 1] = {tonumber(sc), tonumber(en)} end
      end
      P[#P + 1] = r
    end
  end
  n = #P
  reqs = {}
  for i = 1, n do reqs[i] = wrk.format("POST", "/api/event", H[P[i].h], P[i].b) end
  idx = math.floor((tid - 1) * n / NTHREADS)
  queue = {}; qhead = 1; qtail = 0
  fifo = {}; fhead = 1; ftail = 0
  seen = {}
  persec = {}; codes = {}
  stored = 0; dropped = 0; engagement_sent = 0
end
-- Open-loop pacing: this thread's k-th request is due at start + k * INTERVAL_MS (wall clock,
-- through LuaJIT's ffi), whichever of its connections is free to send it, so answers that come
-- back late do not slow the schedule down (while a free connection is left).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } clickport_timespec;
int clock_gettime(int clock_id, clickport_timespec *tp);
]]
local ts = ffi.new("clickport_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local start_ms = nil
local slot = 0
function delay()
  local now = now_ms()
  if start_ms == nil then start_ms = now end
  slot = slot + 1
  local wait = start_ms + slot * INTERVAL_MS - now
  if wait <= 0 then return 0 end
  return math.floor(wait + 0.5)
end

function request()
  if qhead <= qtail then
    local r = queue[qhead]; queue[qhead] = nil; qhead = qhead + 1
    engagement_sent = engagement_sent + 1
    return r
  end
  idx = idx % n + 1
  if P[idx].e then ftail = ftail + 1; fifo[ftail] = idx end
  return reqs[idx]
end

function response(status, headers, body)
  local s = tostring(os.time())
  persec[s] = (persec[s] or 0) + 1
  local c = tostring(status)
  codes[c] = (codes[c] or 0) + 1
  if status ~= 200 then return end
  if string.find(body, '"session_id":null', 1, true) then dropped = dropped + 1; return end
  stored = stored + 1
  local pv = string.match(body, '"page_visit_id":"(%x+)"')
  if pv and not seen[pv] and fhead <= ftail then
    seen[pv] = true
    local p = P[fifo[fhead]]; fifo[fhead] = nil; fhead = fhead + 1
    for _, u in ipairs(p.e) do
      qtail = qtail + 1
      queue[qtail] = wrk.format("POST", "/api/event", H[p.h], string.format(
        '{"type":"engagement","url":"%s","page_visit_id":"%s","scroll_depth":%d,"engaged_ms":%d}',
        p.u, pv, u[1], u[2]))
    end
  end
end

local function jmap(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local agg = {stored = 0, dropped = 0, engagement_sent = 0}
  local ps, cs = {}, {}
  for _, t in ipairs(threads) do
    agg.stored = agg.stored + t:get("stored")
    agg.dropped = agg.dropped + t:get("dropped")
    agg.engagement_sent = agg.engagement_sent + t:get("engagement_sent")
    for k, v in pairs(t:get("persec")) do ps[k] = (ps[k] or 0) + v end
    for k, v in pairs(t:get("codes")) do cs[k] = (cs[k] or 0) + v end
  end
  local pcts = {}
  for _, p in ipairs({PERCENTILES}) do
    pcts[#pcts + 1] = string.format('"%s":%d', tostring(p), latency:percentile(p))
  end
  local e = summary.errors
  io.write(string.format(
    'JSON:{"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"p":{%s}},' ..
    '"stored":%d,"dropped":%d,"engagement_sent":%d,"codes":%s,"per_second":%s}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(pcts, ","),
    agg.stored, agg.dropped, agg.engagement_sent, jmap(cs), jmap(ps)))
end
""".replace("{PERCENTILES}", "{" + ", ".join(repr(p) for p in PERCENTILES) + "}")


def run_wrk(base_url: str, script: str, duration: float, connections: int, threads: int) -> dict:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
           "--latency", "--timeout", "10s", "-s", script, base_url]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr[-2000:]}")
    line = next((x for x in out.stdout.splitlines() if x.startswith("JSON:")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    data = json.loads(line[5:])
    data["started_at"] = t0
    data["wrk_text"] = "\n".join(x for x in out.stdout.splitlines() if not x.startswith("JSON:"))
    return _normalize(data, "wrk")


# --------------------------------------------------------------------------------------------
# asyncio driver


def run_asyncio(base_url: str, pool: list[Req], duration: float, connections: int, rate: float) -> dict:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    return runner(_asyncio_main(base_url, pool, duration, connections, rate))


def _render(req_headers: dict[str, str], body: bytes, host: str) -> bytes:
    head = ["POST /api/event HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in req_headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _asyncio_main(base_url: str, pool: list[Req], duration: float, connections: int,
                        rate: float) -> dict:
    u = urlparse(base_url)
    host, port = u.hostname, u.port or 80
    host_header = f"{host}:{port}"
    rendered = [_render(r.headers, r.body, host_header) for r in pool]
    latencies: list[float] = []
    per_second: Counter = Counter()
    codes: Counter = Counter()
    counts = {"stored": 0, "dropped": 0, "engagement_sent": 0, "errors": 0, "requests": 0}
    queue: deque = deque()
    seq = iter(range(10**12))
    slots = iter(range(10**12))
    t_start = time.perf_counter()
    t_end = t_start + duration
    wall0 = time.time()

    async def read_response(reader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await reader.readexactly(length) if length else b""
        return status, body

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                if rate > 0:
                    due = t_start + next(slots) / rate
                    wait = due - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                now = time.perf_counter()
                if now >= t_end:
                    return
                if queue:
                    data, plan_req = queue.popleft(), None
                    counts["engagement_sent"] += 1
                else:
                    i = next(seq) % len(pool)
                    data, plan_req = rendered[i], pool[i]
                t0 = time.perf_counter()
                writer.write(data)
                try:
                    status, body = await read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    counts["errors"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                t1 = time.perf_counter()
                latencies.append(t1 - t0)
                counts["requests"] += 1
                per_second[str(int(wall0 + (t1 - t_start)))] += 1
                codes[str(status)] += 1
                if status != 200:
                    continue
                if b'"session_id":null' in body:
                    counts["dropped"] += 1
                    continue
                counts["stored"] += 1
                if plan_req is not None and plan_req.engagement:
                    pv = orjson.loads(body).get("page_visit_id")
                    if pv:
                        for scroll, engaged in plan_req.engagement:
                            b = orjson.dumps({"type": "engagement", "url": plan_req.url, "page_visit_id": pv,
                                              "scroll_depth": scroll, "engaged_ms": engaged})
                            queue.append(_render(plan_req.headers, b, host_header))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - t_start
    lat = np.array(latencies) * 1e6 if latencies else np.zeros(1)
    data = {
        "requests": counts["requests"], "duration_us": int(elapsed * 1e6), "bytes": 0,
        "errors": {"connect": 0, "read": counts["errors"], "write": 0,
                   "status": sum(v for k, v in codes.items() if k != "200"), "timeout": 0},
        "latency_us": {"min": float(lat.min()), "max": float(lat.max()), "mean": float(lat.mean()),
                       "stdev": float(lat.std()),
                       "p": {str(p): float(np.percentile(lat, p)) for p in PERCENTILES}},
        "stored": counts["stored"], "dropped": counts["dropped"],
        "engagement_sent": counts["engagement_sent"], "codes": dict(codes),
        "per_second": dict(per_second), "started_at": wall0,
    }
    return _normalize(data, "asyncio")


def _normalize(data: dict, driver: str) -> dict:
    seconds = data["duration_us"] / 1e6
    per_second = sorted((int(k), v) for k, v in data.pop("per_second").items())
    lat = data["latency_us"]
    ok = int(data["codes"].get("200", 0))
    return {
        "driver": driver,
        "requests": data["requests"],
        "duration_s": round(seconds, 3),
        "requests_per_s": round(data["requests"] / seconds, 1) if seconds else 0.0,
        "ok_per_s": round(ok / seconds, 1) if seconds else 0.0,
        "accepted_per_s": round(data["stored"] / seconds, 1) if seconds else 0.0,
        "ok": ok,
        "stored_acks": data["stored"],
        "dropped_acks": data["dropped"],
        "engagement_sent": data["engagement_sent"],
        "codes": data["codes"],
        "errors": data["errors"],
        "error_count": sum(data["errors"].values()) - data["errors"].get("status", 0)
        + sum(v for k, v in data["codes"].items() if k != "200"),
        "latency_ms": {
            "min": lat["min"] / 1000, "mean": lat["mean"] / 1000, "max": lat["max"] / 1000,
            "stdev": lat["stdev"] / 1000,
            **{f"p{k}": v / 1000 for k, v in lat["p"].items()},
        },
        # Responses completed in each wall-clock second (first and last seconds are partial).
        "timeline": [[t, v] for t, v in per_second],
        "started_at": data.get("started_at"),
        "wrk_text": data.get("wrk_text", ""),
    }


# --------------------------------------------------------------------------------------------
# Servers


def _per_request(run: dict) -> float:
    return round(1e6 * run["server_cpu_s"] / max(run["requests"], 1), 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"loadtest load: only loopback targets are allowed, not {host!r}")


def _http_json(method: str, url: str, body: dict | None = None, token: str | None = None,
               timeout: float = 30) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


class Process:
    """A server subprocess on a loopback port, with RSS/CPU sampling."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict | None = None, log_path: str = ""):
        self.name = name
        self.argv = argv
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path or os.path.join(tempfile.gettempdir(), f"loadtest-{name}-{port}.log")
        self.proc: subprocess.Popen | None = None
        self.rss_samples: list[tuple[float, float]] = []
        self._sampling = False

    def start(self, timeout: float = 120.0) -> Process:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; log: {self.log_path}\n{self.tail()}")
            try:
                _http_json("GET", self.base + "/healthz", timeout=1)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become healthy; log: {self.log_path}\n{self.tail()}")

    def tail(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-3000:]
        except OSError:
            return ""

    def rss_mib(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, AttributeError):
            pass
        return 0.0

    def cpu_seconds(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, AttributeError, IndexError):
            return 0.0

    def sample_rss(self, interval: float = 0.5):
        self._sampling = True

        def loop() -> None:
            while self._sampling:
                self.rss_samples.append((time.time(), self.rss_mib()))
                time.sleep(interval)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def stop_sampling(self) -> None:
        self._sampling = False

    def terminate(self, timeout: float = 120.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start_clickport(data_dir: str, admin_token: str, env: dict | None = None) -> Process:
    port = free_port()
    os.makedirs(data_dir, exist_ok=True)
    argv = [sys.executable, "-m", "server.cli", "--data-dir", data_dir, "serve", "--port", str(port),
            "--log-level", "warning"]
    return Process("clickport", argv, port, {"CLICKPORT_ADMIN_TOKEN": admin_token, **(env or {})},
                   os.path.join(data_dir, f"loadtest-server-{port}.log")).start()


def start_echo() -> Process:
    port = free_port()
    return Process("echo", [sys.executable, "-m", "loadtest.echo", "--port", str(port)], port).start()


def ensure_sites(base: str, token: str, model: TrafficModel, n_sites: int) -> list[SiteKey]:
    existing = {s["domain"]: s for s in _http_json("GET", base + "/api/admin/sites", token=token)["sites"]}
    out = []
    for profile in model.sites[:n_sites]:
        site = existing.get(profile.domain)
        if site is None:
            site = _http_json("POST", base + "/api/admin/sites",
                              {"domain": profile.domain, "timezone": profile.timezone}, token=token)
        key = _http_json("POST", base + f"/api/admin/sites/{site['id']}/keys",
                         {"name": "loadtest", "permissions": ["tracker", "read"]}, token=token)["key"]
        out.append(SiteKey(profile.domain, key, profile.weight, site["id"]))
    return out


def writer_status(base: str, token: str) -> dict:
    status = _http_json("GET", base + "/api/admin/status", token=token)
    writer = status.get("writer", {})
    return {
        "accepted": int(writer.get("accepted_rows", writer.get("inserted_rows", 0))),
        "inserted": int(writer.get("inserted_rows", 0)),
        "pending": int(writer.get("pending", writer.get("buffered", 0) + writer.get("in_flight", 0))),
        "dropped": dict(status.get("dropped", {})),
    }


def wait_drained(base: str, token: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = writer_status(base, token)
        if status["pending"] == 0 or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------
# Orchestration


@dataclass
class LoadOptions:
    data_dir: str = "data/load"
    url: str | None = None
    admin_token: str | None = None
    duration: float = 20.0
    warmup: float = 3.0
    rate: float = 0.0
    connections: int = 32
    threads: int = 1
    driver: str = "auto"
    baseline: bool = False
    visits: int = 50_000
    seed: int = 7
    sites: int = 1
    engagement: bool = True
    count_in_store: bool = True
    server_env: dict = field(default_factory=dict)
    log: callable = field(default=print)


def pick_driver(name: str, rate: float = 0.0) -> str:
    """auto: wrk when installed (max throughput, or a target rate paced open-loop by the script's
    wall-clock schedule), else the asyncio driver (open-loop too, but in Python: at 2,000/s it
    used 0.23 of a core on the 2-core box, wrk 0.15, from the CPU the server it measures shares)."""
    if name == "auto":
        return "wrk" if shutil.which("wrk") else "asyncio"
    if name == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), use --driver asyncio")
    return name


def drive(driver: str, base: str, pool: list[Req], duration: float, opts: LoadOptions, workdir: str) -> dict:
    if driver == "wrk":
        script = write_wrk_script(pool, os.path.join(workdir, "load.lua"), opts.threads, opts.connections,
                                  opts.rate)
        return run_wrk(base, script, duration, opts.connections, opts.threads)
    return run_asyncio(base, pool, duration, opts.connections, opts.rate)


def run_load(opts: LoadOptions) -> dict:
    """Baseline (optional) then ingest; returns the results dict (see docs/loadtest.md)."""
    log = opts.log
    driver = pick_driver(opts.driver, opts.rate)
    model = TrafficModel(ModelConfig(sites=max(opts.sites, 1)))
    result: dict = {"driver": driver, "connections": opts.connections, "threads": opts.threads,
                    "server_env": opts.server_env,
                    "duration_s": opts.duration, "target_rate": opts.rate or None,
                    "visits_in_pool": opts.visits, "cpus": os.cpu_count(), "runs": {}}
    workdir = tempfile.mkdtemp(prefix="clickport-load-")
    try:
        if opts.baseline:
            echo = start_echo()
            try:
                echo_sites = [SiteKey(s.domain, "ck_echo", s.weight) for s in model.sites[:opts.sites]]
                pool = build_pool(model, echo_sites, opts.visits, opts.seed, opts.engagement)
                log(f"baseline: echo server on {echo.base}, {len(pool):,} pooled requests, {driver}")
                drive(driver, echo.base, pool, opts.warmup, opts, workdir)
                cpu0 = echo.cpu_seconds()
                echo.sample_rss()
                run = drive(driver, echo.base, pool, opts.duration, opts, workdir)
                echo.stop_sampling()
                run["server_cpu_s"] = round(echo.cpu_seconds() - cpu0, 2)
                run["server_cpu_us_per_request"] = _per_request(run)
                run["server_rss_mib_max"] = round(max((r for _, r in echo.rss_samples), default=0.0), 1)
                result["runs"]["baseline"] = run
                log(_line("baseline", run))
            finally:
                echo.terminate()

        server = None
        token = opts.admin_token
        base = opts.url
        data_dir = os.path.abspath(opts.data_dir)
        count_before = None
        if base is None:
            token = token or "cka_" + secrets.token_urlsafe(24)
            if opts.count_in_store and os.path.isdir(os.path.join(data_dir, "clickhouse")):
                count_before = count_in_store(data_dir, None)
            server = start_clickport(data_dir, token, opts.server_env)
            base = server.base
        else:
            check_loopback(base)
        try:
            if not token:
                raise SystemExit("loadtest load: --admin-token (or CLICKPORT_ADMIN_TOKEN) is needed "
                                 "for --url")
            initial = wait_drained(base, token)
            sites = ensure_sites(base, token, model, opts.sites)
            pool = build_pool(model, sites, opts.visits, opts.seed, opts.engagement)
            log(f"ingest: clickport on {base}, {len(pool):,} pooled requests over {len(sites)} "
                f"site(s), {driver}")
            warm = drive(driver, base, pool, opts.warmup, opts, workdir)
            before = wait_drained(base, token)
            cpu0 = server.cpu_seconds() if server else 0.0
            metrics0 = servermetrics.scrape(base)
            if server:
                server.sample_rss()
            run = drive(driver, base, pool, opts.duration, opts, workdir)
            run["server_side"] = server_side(metrics0, servermetrics.scrape(base))
            if server:
                server.stop_sampling()
                run["server_cpu_s"] = round(server.cpu_seconds() - cpu0, 2)
                run["server_cpu_us_per_request"] = _per_request(run)
                run["server_rss_mib_max"] = round(max((r for _, r in server.rss_samples), default=0.0), 1)
            t_drain = time.monotonic()
            after = wait_drained(base, token)
            run["drain_s"] = round(time.monotonic() - t_drain, 2)
            run["accounting"] = account(run, before, after, opts.connections)
            acc = run["accounting"]
            result["runs"]["ingest"] = run
            log(_line("ingest", run))
            if run["server_side"]:
                side = run["server_side"]
                log(f"server side: handler p50 ≤ {side['handler_p50_ms_at_most']} ms, p99 ≤ "
                    f"{side['handler_p99_ms_at_most']} ms, p99.9 ≤ {side['handler_p99.9_ms_at_most']} ms "
                    f"({side['event_requests']:,} POST /api/event 200s); spool appends p50 ≤ "
                    f"{side['spool_append_p50_ms_at_most']} ms, "
                    f"p99 ≤ {side['spool_append_p99_ms_at_most']} ms; "
                    f"GC pauses on the event loop "
                    f"{side['gc_pause_loop_s']} s, elsewhere {side['gc_pause_other_s']} s")
            log(f"accounting: acknowledged stored {acc['acknowledged_stored']:,}, server accepted "
                f"{acc['server_accepted_delta']:,} (in flight at stop: {acc['unacknowledged_accepted']}), "
                f"inserted {acc['server_inserted_delta']:,}, dropped acks {acc['acknowledged_dropped']:,} "
                f"{acc['server_dropped_delta']} -> {'OK' if acc['ok'] else 'MISMATCH'}")
            total = {"acknowledged_stored": warm["stored_acks"] + run["stored_acks"],
                     "server_accepted": after["accepted"] - initial["accepted"]}
        finally:
            if server is not None:
                result["server_exit"] = server.terminate()
        if server is not None and opts.count_in_store:
            count_after = count_in_store(data_dir, None)
            delta = count_after - (count_before or 0)
            check = {
                "rows_before": count_before or 0, "rows_after": count_after, "rows_added": delta,
                "acknowledged_stored_incl_warmup": total["acknowledged_stored"],
                "server_accepted_incl_warmup": total["server_accepted"],
                "ok": delta == total["server_accepted"] and delta >= total["acknowledged_stored"],
            }
            result["runs"]["ingest"]["store_count"] = check
            run["accounting"]["ok"] = run["accounting"]["ok"] and check["ok"]
            log(f"store: {delta:,} rows added to events after shutdown; server accepted "
                f"{total['server_accepted']:,}, acknowledged {total['acknowledged_stored']:,} "
                f"(incl. warm-up) -> {'OK' if check['ok'] else 'MISMATCH'}")
        if "baseline" in result["runs"]:
            b = result["runs"]["baseline"]["ok_per_s"]
            i = result["runs"]["ingest"]["ok_per_s"]
            result["ingest_vs_baseline"] = round(i / b, 3) if b else None
            log(f"ingest / baseline throughput: {result['ingest_vs_baseline']}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def server_side(before: dict[str, float], after: dict[str, float]) -> dict:
    """The server's own view of a run, from /metrics before and after it (`loadtest.servermetrics`;
    none when CLICKPORT_METRICS_TOKEN is set): how long the handler took for POST /api/event from
    uvicorn's hand-over to the answer (the client's latency also holds the loop's queue, the socket
    and the client), how long the spool's group appends took (+ fsync in CLICKPORT_SPOOL_SYNC=fsync),
    as bucket bounds ("p99 ≤ 25 ms"), and the garbage collector's pauses."""
    if not before or not after:
        return {}
    out: dict = {}
    for what, name, labels in (
        ("handler", "clickport_http_request_duration_seconds", {"route": "/api/event", "status": "2xx"}),
        ("spool_append", "clickport_spool_commit_seconds", {}),
    ):
        run = servermetrics.moved(servermetrics.buckets(before, name, **labels),
                                  servermetrics.buckets(after, name, **labels))
        out["event_requests" if what == "handler" else "spool_appends"] = int(run[-1][1]) if run else 0
        for label, share in (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)):
            le = servermetrics.bound(run, share)
            finite = le is not None and le != servermetrics.INF  # beyond the last bound (10 s): None
            out[f"{what}_{label}_ms_at_most"] = round(le * 1000, 1) if finite else None
    for where in ("loop", "other"):
        key = f"clickport_gc_pause_{where}_seconds_sum"
        out[f"gc_pause_{where}_s"] = round(after.get(key, 0.0) - before.get(key, 0.0), 4)
    return out


def account(run: dict, before: dict, after: dict, connections: int) -> dict:
    """Every acknowledged stored event must be stored. wrk stops with up to one request in flight
    per connection: the server accepts those but the driver never sees the answer, so
    accepted - acknowledged must lie in [0, connections]; accepted must equal inserted after the
    drain."""
    dropped = {k: v - before["dropped"].get(k, 0) for k, v in after["dropped"].items()}
    accepted = after["accepted"] - before["accepted"]
    inserted = after["inserted"] - before["inserted"]
    acked = run["stored_acks"]
    return {
        "acknowledged_stored": acked,
        "server_accepted_delta": accepted,
        "server_inserted_delta": inserted,
        "unacknowledged_accepted": accepted - acked,
        "acknowledged_dropped": run["dropped_acks"],
        "server_dropped_delta": dropped,
        "pending_after_drain": after["pending"],
        "ok": (after["pending"] == 0 and inserted == accepted and 0 <= accepted - acked <= connections),
    }


def count_in_store(data_dir: str, site_ids: list[int] | None) -> int:
    """Rows in the embedded store's events table (of these sites, or all). The server must have
    exited (one process per data dir); runs in a child so this process never imports chDB."""
    where = f" WHERE site_id IN ({','.join(map(str, site_ids))})" if site_ids else ""
    code = (
        "import json, sys; from engine.store import Store, StoreConfig, default_dsn; "
        f"s = Store(StoreConfig(dsn=default_dsn({data_dir!r}))); "
        f"print(json.dumps(s.rows('SELECT count() FROM events{where}')[0][0]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return int(out.stdout.strip().splitlines()[-1])


def _line(name: str, run: dict) -> str:
    lat = run["latency_ms"]
    return (f"{name}: {run['requests']:,} requests in {run['duration_s']:.1f} s = "
            f"{run['requests_per_s']:,.0f}/s "
            f"(200: {run['ok_per_s']:,.0f}/s, stored acks {run['accepted_per_s']:,.0f}/s), "
            f"latency p50 {lat['p50']:.2f} ms p95 {lat['p95']:.2f} ms p99 {lat['p99']:.2f} ms, "
            f"errors {run['error_count']}, server CPU {run.get('server_cpu_us_per_request', '?')} "
            "µs/request, "
            f"RSS max {run.get('server_rss_mib_max', '?')} MiB")


def run_load_command(args) -> int:
    from loadtest.cli import _save, command_line

    opts = LoadOptions(
        data_dir=args.lt_data_dir, url=args.url, admin_token=args.admin_token,
        duration=args.duration, rate=args.rate, connections=args.connections, threads=args.threads,
        driver=args.driver, baseline=args.baseline, visits=args.visitors, seed=args.seed,
        engagement=not args.no_engagement, warmup=args.warmup, sites=args.sites,
        server_env=dict(item.split("=", 1) for item in args.server_env),
    )
    result = run_load(opts)
    result["command"] = command_line()
    name = "load.json" if not args.rate else f"load-rate{int(args.rate)}.json"
    path = _save(args.results, name, result)
    print(f"results: {path}")
    ok = result["runs"]["ingest"]["accounting"]["ok"]
    return 0 if ok else 1
