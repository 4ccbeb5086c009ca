"""Issue 10 drills: tenants and writes stay safe under load (docs/reliability.md).

    python -m loadtest.drills a b c d --results loadtest/results/run2

Each drill starts its own `clickport serve` on a loopback port with its own data directory and
stops it afterwards; every figure is measured from the client side, with the server's RSS read
from /proc. Results: `drills-issue10-<drill>.json` (+ one line each in `drills-issue10.txt`).

- a: 20 concurrent heavy all-time queries from one site while /api/event runs at 200 events/s for
     another: event p99 vs a no-query baseline, the slowest event, how fast queries over the
     limit are refused, /readyz during the storm. Needs a seeded store (`--seed-events`).
- b: 50 parallel site creations, each with a key and events: distinct ids, each key reads only
     its own site.
- c: slowloris (slow headers) and oversized headers: RSS growth, time until connections close.
- d: forged session / page-visit ids at 500 req/s on /api/collect: another site's event p50
     against its baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from loadtest import servermetrics
from loadtest.load import Process, _http_json, free_port
from loadtest.seed import MANIFEST

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "drills-admin-token-0123456789"
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36")


# --- a small raw HTTP/1.1 client (cheap enough not to disturb a 2-core box) -------------------

class Conn:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"",
                      timeout: float = 60.0) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        try:
            return await asyncio.wait_for(self._response(), timeout)
        except Exception:
            self.writer.close()
            self.writer = None
            raise

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin1").split("\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close and self.writer is not None:
            self.writer.close()
            self.writer = None
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(pct(values, 0.5) * 1000, 2),
            "p99_ms": round(pct(values, 0.99) * 1000, 2), "max_ms": round(max(values, default=0) * 1000, 2)}


async def open_loop(one, rate: float, duration: float) -> tuple[int, float]:
    """Start `one(i)` every 1/rate s for `duration` s, whatever the latency (open loop); wait for
    all. Returns (requests started, seconds from the first start to the last answer)."""
    tasks = []
    start = time.perf_counter()
    total = int(rate * duration)
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return total, time.perf_counter() - start


async def paced_events(port: int, key: str, domain: str, rate: float, duration: float,
                       connections: int = 32) -> dict:
    """POST /api/event at `rate`/s (open loop) for `duration` s; latencies in seconds."""
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Conn(port))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    rng = random.Random(11)

    async def one(i: int) -> None:
        conn = await pool.get()
        body = json.dumps({"type": "pageview", "url": f"https://{domain}/p{i % 50}"}).encode()
        ip = f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        started = time.perf_counter()
        try:
            status, _ = await conn.request("POST", "/api/event", {
                "x-api-key": key, "User-Agent": UA, "X-Forwarded-For": ip,
                "Content-Type": "application/json"}, body)
        except Exception:  # noqa: BLE001 - counted as status 0
            status = 0
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait(conn)

    total, elapsed = await open_loop(one, rate, duration)
    while not pool.empty():
        pool.get_nowait().close()
    return {**summary_ms(latencies), "statuses": statuses, "rate": rate, "duration_s": duration,
            "achieved_rate": round(total / elapsed, 1)}


# Extra environment for every drill server (`--server-env K=V`, e.g. PYTHONASYNCIODEBUG=1 to log
# event-loop callbacks slower than 100 ms); recorded with the results.
SERVER_ENV: dict[str, str] = {}


def start_server(data_dir: str, env: dict | None = None) -> Process:
    port = free_port()
    os.makedirs(data_dir, exist_ok=True)
    argv = [sys.executable, "-m", "server.cli", "--data-dir", data_dir, "serve", "--port", str(port),
            "--log-level", "warning"]
    return Process("clickport", argv, port, {"CLICKPORT_ADMIN_TOKEN": TOKEN, **SERVER_ENV, **(env or {})},
                   os.path.join(data_dir, f"drill-server-{port}.log")).start()


def site_with_key(base: str, domain: str, timezone: str = "UTC") -> tuple[int, str]:
    """The site (created, or the one a previous run in the same --work dir made) and a new key."""
    try:
        site = _http_json("POST", base + "/api/admin/sites", {"domain": domain, "timezone": timezone}, TOKEN)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise
        site = _http_json("GET", f"{base}/api/admin/sites/{domain}", None, TOKEN)
    key = _http_json("POST", f"{base}/api/admin/sites/{site['id']}/keys", {}, TOKEN)["key"]
    return site["id"], key


def _by_thread(pid: int, read) -> dict[str, float]:
    """`read(task_dir) -> (thread name, seconds)` over /proc/<pid>/task/*, summed by thread name;
    a thread that ended meanwhile (or an unreadable file) is skipped."""
    out: dict[str, float] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            name, seconds = read(f"/proc/{pid}/task/{tid}")
        except (OSError, IndexError, ValueError):
            continue
        out[name] = out.get(name, 0.0) + seconds
    return out


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as handle:
        return handle.read()


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads, summed by thread name (/proc/<pid>/task/*/stat):
    the event loop is `python`, ClickHouse's pools have their own names."""
    tick = os.sysconf("SC_CLK_TCK")

    def read(task: str) -> tuple[str, float]:
        raw = _read(f"{task}/stat")
        fields = raw.rsplit(")", 1)[1].split()
        return raw[raw.index("(") + 1:raw.rindex(")")], (int(fields[11]) + int(fields[12])) / tick

    return _by_thread(pid, read)


def thread_wait(pid: int) -> dict[str, float]:
    """Seconds each thread spent runnable but waiting for a CPU (/proc/<pid>/task/*/schedstat,
    2nd field), summed by thread name: the event loop ("python") waiting here means the box (or
    the process's own threads) took its core; waiting elsewhere (a lock, the GIL) does not count."""
    return _by_thread(pid, lambda task: (_read(f"{task}/comm").strip(),
                                         int(_read(f"{task}/schedstat").split()[1]) / 1e9))


REQUEST_DURATION = "clickport_http_request_duration_seconds"


def server_latency(base: str, route: str) -> dict[str, list[tuple[float, float]]]:
    """The server's own request-duration histogram for `route` (cumulative buckets by status
    class, from /metrics: `loadtest.servermetrics`): the part of a latency spent inside the server."""
    values = servermetrics.scrape(base)
    statuses = {found["status"] for series in values if series.startswith(REQUEST_DURATION + "_bucket{")
                and (found := servermetrics.labels(series)).get("route") == route}
    return {status: servermetrics.buckets(values, REQUEST_DURATION, route=route, status=status)
            for status in statuses}


def latency_delta(before: dict, after: dict) -> dict:
    """Per status class: count, and the p50 / p99 / max as the bucket bounds that hold them."""
    result: dict[str, dict] = {}
    for status in sorted(after):
        run = servermetrics.moved(before.get(status, []), after[status])
        if run and run[-1][1]:
            shares = (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
            result[status] = {"n": int(run[-1][1]),
                              **{name: _bound_text(servermetrics.bound(run, q)) for name, q in shares}}
    return result


def _bound_text(le: float | None) -> str:
    return "+Inf" if le is None or le == servermetrics.INF else f"<= {le * 1000:g} ms"


def thread_cpu_delta(before: dict[str, float], after: dict[str, float], top: int = 12) -> dict[str, float]:
    delta = {name: round(after.get(name, 0.0) - before.get(name, 0.0), 2) for name in after}
    return dict(sorted(((k, v) for k, v in delta.items() if v > 0), key=lambda kv: -kv[1])[:top])


def others_on_the_box() -> str:
    """What else ran while measuring (load average and the busiest other processes)."""
    load = os.getloadavg()
    out = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    top = [line.strip()[:120] for line in out.splitlines()[1:6]]
    return f"loadavg {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}; top: " + " | ".join(top)


# --- drill a: heavy queries vs ingestion --------------------------------------------------------

HEAVY = {"metrics": ["visitors", "sessions", "pageviews", "bounce_rate", "avg_duration"],
         "dimensions": ["page", "source"], "period": "all", "limit": 1000}


def seed(data_dir: str, events: str) -> dict:
    manifest = os.path.join(data_dir, MANIFEST)
    cmd = [sys.executable, "-m", "loadtest", "seed", "--data-dir", data_dir, "--events", events,
           "--sites", "2", "--days", "400", "--enrich", "model", "--no-geo-install", "--no-progress",
           "--results", os.path.join(data_dir, "seed")]
    if not os.path.exists(os.path.join(data_dir, "clickhouse")):
        subprocess.run(cmd, cwd=ROOT, check=True)
    # A deployment's history is sealed into rollups; an unsealed seed would have the server's
    # maintenance thread seal 400 days per site during the measurement. Idempotent, in its own
    # process (one process per embedded store).
    subprocess.run([sys.executable, "-c", SEAL_SCRIPT, data_dir], cwd=ROOT, check=True)
    with open(manifest, encoding="utf-8") as handle:
        return json.load(handle)


# Every site of the store: the seeded ones and the event site that earlier runs in the same
# --work directory fed (else the server would seal that site's past days during the baseline).
SEAL_SCRIPT = """
import sys, time
from engine.registry import Registry
from engine.rollups import seal_all
from loadtest.seed import open_bench_store
store = open_bench_store(sys.argv[1])
started = time.perf_counter()
registry = Registry(store)
registry.refresh()
sites = [(s.site_id, s.timezone) for s in registry.sites()]
print(f"rollups: sealed {seal_all(store, sites)} site-days in {time.perf_counter() - started:.1f} s")
store.close()
"""


def drill_a(work: str, seed_events: str, duration: float) -> dict:
    data_dir = os.path.join(work, "a")
    manifest = seed(data_dir, seed_events)
    heavy_site = max(manifest["sites"], key=lambda s: s.get("weight", 0))
    server = start_server(data_dir)
    try:
        _, event_key = site_with_key(server.base, "drill-a-events.example")
        port = server.port

        async def storm() -> dict:
            # Warm-up, then the no-query baseline.
            await paced_events(port, event_key, "drill-a-events.example", 200, 3)
            threads = [thread_cpu(server.proc.pid)]
            waits = [thread_wait(server.proc.pid)]
            inside = [server_latency(server.base, "/api/event"), server_latency(server.base, "/api/query")]
            baseline = await paced_events(port, event_key, "drill-a-events.example", 200, duration)
            threads.append(thread_cpu(server.proc.pid))
            waits.append(thread_wait(server.proc.pid))
            inside += [server_latency(server.base, "/api/event"), server_latency(server.base, "/api/query")]
            after_baseline = server_diagnostics(server.base)
            stop = asyncio.Event()
            outcomes: dict[int, list[float]] = {}
            readyz: list[int] = []

            async def querier() -> None:
                conn = Conn(port)
                body = json.dumps(HEAVY).encode()
                while not stop.is_set():
                    started = time.perf_counter()
                    try:
                        status, _ = await conn.request("POST", "/api/query", {
                            "x-api-key": heavy_site["key"], "Content-Type": "application/json"}, body, 90)
                    except Exception:  # noqa: BLE001
                        status = 0
                    outcomes.setdefault(status, []).append(time.perf_counter() - started)
                    if status in (429, 503):
                        await asyncio.sleep(0.2)  # a client that honours Retry-After loosely
                conn.close()

            async def poll_ready() -> None:
                conn = Conn(port)
                while not stop.is_set():
                    try:
                        status, _ = await conn.request("GET", "/readyz", {}, b"", 10)
                    except Exception:  # noqa: BLE001
                        status = 0
                    readyz.append(status)
                    await asyncio.sleep(1)
                conn.close()

            workers = [asyncio.create_task(querier()) for _ in range(20)]
            poller = asyncio.create_task(poll_ready())
            await asyncio.sleep(1)  # the storm is on
            loaded = await paced_events(port, event_key, "drill-a-events.example", 200, duration)
            threads.append(thread_cpu(server.proc.pid))
            waits.append(thread_wait(server.proc.pid))
            inside += [server_latency(server.base, "/api/event"), server_latency(server.base, "/api/query")]
            stop.set()
            await asyncio.gather(*workers, poller)
            return {"baseline": baseline, "with_queries": loaded, "server_after_baseline": after_baseline,
                    "server_threads_cpu_s": {"baseline": thread_cpu_delta(threads[0], threads[1]),
                                             "with_queries": thread_cpu_delta(threads[1], threads[2])},
                    "server_threads_runqueue_wait_s": {
                        "baseline": thread_cpu_delta(waits[0], waits[1]),
                        "with_queries": thread_cpu_delta(waits[1], waits[2])},
                    "inside_server": {
                        "baseline": {"event": latency_delta(inside[0], inside[2]),
                                     "query": latency_delta(inside[1], inside[3])},
                        "with_queries": {"event": latency_delta(inside[2], inside[4]),
                                         "query": latency_delta(inside[3], inside[5])}},
                    "queries": {str(k): summary_ms(v) for k, v in sorted(outcomes.items())},
                    "readyz": {str(s): readyz.count(s) for s in sorted(set(readyz))}}

        result = asyncio.run(storm())
        result["server_counters"] = server_diagnostics(server.base)
    finally:
        server.terminate()
    base_p99, p99 = result["baseline"]["p99_ms"], result["with_queries"]["p99_ms"]
    refused = [v for k, v in result["queries"].items() if k == "429"]
    result["checks"] = {
        "event_p99_within_3x_baseline": p99 <= 3 * base_p99,
        "no_event_over_250ms": result["with_queries"]["max_ms"] <= 250,
        "refusals_429_within_100ms": all(v["max_ms"] <= 100 for v in refused) and bool(refused),
        "readyz_always_200": set(result["readyz"]) == {"200"},
    }
    result["heavy_query"] = HEAVY
    result["heavy_site"] = {k: heavy_site[k] for k in ("site_id", "domain")}
    return result


# --- drill b: parallel site creations -------------------------------------------------------------

def drill_b(work: str, n: int = 50) -> dict:
    server = start_server(os.path.join(work, "b"))
    try:
        base = server.base

        def create(i: int) -> dict:
            domain = f"tenant{i}.drill-b.example"
            site_id, key = site_with_key(base, domain)
            for j in range(3):
                req = json.dumps({"type": "pageview", "url": f"https://{domain}/p{j}"}).encode()
                r = urllib.request.Request(base + "/api/event", data=req, method="POST", headers={
                    "x-api-key": key, "User-Agent": UA, "Content-Type": "application/json",
                    "X-Forwarded-For": f"198.18.{i}.{j + 1}"})
                urllib.request.urlopen(r, timeout=30).read()
            return {"i": i, "site_id": site_id, "domain": domain, "key": key}

        started = time.perf_counter()
        with ThreadPoolExecutor(50) as pool:
            created = list(pool.map(create, range(n)))
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 30
        while _http_json("GET", base + "/api/admin/status", None, TOKEN)["writer"]["pending"]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        sites = _http_json("GET", base + "/api/admin/sites", None, TOKEN)["sites"]
        listed = {s["id"]: s["domain"] for s in sites}
        wrong = []
        for site in created:
            r = urllib.request.Request(base + "/api/query", method="POST", headers={
                "x-api-key": site["key"], "Content-Type": "application/json"},
                data=json.dumps({"metrics": ["pageviews"], "period": "all"}).encode())
            pageviews = json.loads(urllib.request.urlopen(r, timeout=30).read())["results"]["pageviews"]
            if pageviews != 3 or listed.get(site["site_id"]) != site["domain"]:
                wrong.append({"site": site["domain"], "pageviews": pageviews,
                              "listed_as": listed.get(site["site_id"])})
    finally:
        server.terminate()
    ids = [s["site_id"] for s in created]
    return {"sites": n, "distinct_ids": len(set(ids)), "elapsed_s": round(elapsed, 2),
            "keys_reading_other_data": wrong,
            "checks": {"distinct_ids": len(set(ids)) == n, "each_key_reads_only_its_site": not wrong}}


# --- drill c: slowloris and oversized headers -----------------------------------------------------

def drill_c(work: str, slow: int = 200, big: int = 16, big_mb: int = 32) -> dict:
    server = start_server(os.path.join(work, "c"))
    timeout = 10.0  # the default CLICKPORT_HEADER_TIMEOUT_S
    try:
        time.sleep(2)
        rss_before = server.rss_mib()
        peak = [rss_before]
        sampling = True

        def sample() -> None:
            while sampling:
                peak.append(server.rss_mib())
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        closed_after: list[float] = []
        big_status: list[str] = []

        def oversized() -> None:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            started = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            chunk = b"a" * 65536
            try:
                for _ in range(big_mb * 16):
                    sock.sendall(chunk)
            except OSError:
                pass
            try:
                answer = sock.recv(200)
            except OSError:
                answer = b""
            big_status.append(answer.split(b"\r\n", 1)[0].decode("latin1", "replace"))
            closed_after.append(time.monotonic() - started)
            sock.close()

        def slowloris(i: int) -> float:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            started = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            sock.settimeout(1.0)
            while time.monotonic() - started < 60:
                try:
                    sock.sendall(f"X-{i}: {int(time.monotonic())}\r\n".encode())
                    if sock.recv(200) == b"":
                        break
                    break  # an answer (408) arrived; the server closes next
                except TimeoutError:
                    continue
                except OSError:
                    break
            sock.close()
            return time.monotonic() - started

        with ThreadPoolExecutor(slow + big) as pool:
            big_jobs = [pool.submit(oversized) for _ in range(big)]
            slow_jobs = [pool.submit(slowloris, i) for i in range(slow)]
            slow_closed = [job.result() for job in slow_jobs]
            for job in big_jobs:
                job.result()
        sampling = False
        sampler.join()
        healthy = _http_json("GET", server.base + "/healthz")["status"] == "ok"
        rss_after = server.rss_mib()
    finally:
        server.terminate()
    growth = max(peak) - rss_before
    return {
        "slowloris_connections": slow, "oversized_connections": big, "oversized_mb_each": big_mb,
        "header_timeout_s": timeout, "rss_before_mib": round(rss_before, 1),
        "rss_peak_mib": round(max(peak), 1), "rss_after_mib": round(rss_after, 1),
        "rss_growth_mib": round(growth, 1),
        "slowloris_closed_after_s": {"max": round(max(slow_closed), 2),
                                     "p50": round(statistics.median(slow_closed), 2)},
        "oversized_answers": sorted(set(big_status)),
        "oversized_closed_after_s_max": round(max(closed_after), 2),
        "healthy_after": healthy,
        "checks": {"rss_growth_le_50mb": growth <= 50,
                   "slowloris_closed_within_timeout": max(slow_closed) <= timeout + 2,
                   "oversized_refused_431": all(s.startswith("HTTP/1.1 431") for s in big_status)},
    }


# --- drill d: forged ids on the public collect ------------------------------------------------------

async def forged_collect(port: int, domain: str, rate: float, duration: float, connections: int = 32) -> dict:
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Conn(port))
    statuses: dict[int, int] = {}
    rng = random.Random(5)

    async def one(i: int) -> None:
        conn = await pool.get()
        if i % 2:
            body = {"type": "pageview", "url": f"https://{domain}/", "domain": domain,
                    "session_id": rng.randrange(1, 2**53)}
        else:
            body = {"type": "engagement", "url": f"https://{domain}/", "domain": domain,
                    "page_visit_id": f"{rng.randrange(1, 2**63):x}", "scroll_depth": 50}
        try:
            status, _ = await conn.request("POST", "/api/collect", {
                "User-Agent": UA, "Content-Type": "text/plain",
                # Many "visitors" (a trusted loopback proxy forwards them), so the per-IP rate
                # limit does not hide the lookups.
                "X-Forwarded-For": f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}.{rng.randrange(255)}",
            }, json.dumps(body).encode())
        except Exception:  # noqa: BLE001
            status = 0
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait(conn)

    total, elapsed = await open_loop(one, rate, duration)
    return {"statuses": statuses, "achieved_rate": round(total / elapsed, 1)}


def drill_d(work: str, duration: float) -> dict:
    server = start_server(os.path.join(work, "d"))
    try:
        _, victim_key = site_with_key(server.base, "victim.drill-d.example")
        site_with_key(server.base, "forged.drill-d.example")

        threads: list[dict[str, float]] = []

        waits: list[dict[str, float]] = []
        inside: list[dict[str, float]] = []

        def cpu() -> tuple[float, float]:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            threads.append(thread_cpu(server.proc.pid))
            waits.append(thread_wait(server.proc.pid))
            inside.append(server_latency(server.base, "/api/event"))
            return server.cpu_seconds(), usage.ru_utime + usage.ru_stime

        async def run() -> dict:
            await paced_events(server.port, victim_key, "victim.drill-d.example", 100, 3)
            before = cpu()
            baseline = await paced_events(server.port, victim_key, "victim.drill-d.example", 100, duration)
            after_baseline = cpu()
            diagnostics = server_diagnostics(server.base)
            flood = asyncio.create_task(
                forged_collect(server.port, "forged.drill-d.example", 500, duration + 2))
            await asyncio.sleep(1)
            loaded = await paced_events(server.port, victim_key, "victim.drill-d.example", 100, duration)
            forged = await flood
            after = cpu()
            forged_n = sum(forged["statuses"].values())
            # CPU seconds of the server process and of this load generator, per phase.
            usage = {
                "baseline": {"server_cpu_s": round(after_baseline[0] - before[0], 2),
                             "client_cpu_s": round(after_baseline[1] - before[1], 2),
                             "wall_s": duration,
                             "server_cpu_us_per_request": round(
                                 (after_baseline[0] - before[0]) / max(1, baseline["n"]) * 1e6, 1)},
                "flood": {"server_cpu_s": round(after[0] - after_baseline[0], 2),
                          "client_cpu_s": round(after[1] - after_baseline[1], 2),
                          "server_cpu_us_per_request": round(
                              (after[0] - after_baseline[0]) / max(1, loaded["n"] + forged_n) * 1e6, 1)},
            }
            # Where the server's CPU went, by thread name (the event loop is "python").
            usage["baseline"]["server_threads_cpu_s"] = thread_cpu_delta(threads[0], threads[1])
            usage["flood"]["server_threads_cpu_s"] = thread_cpu_delta(threads[1], threads[2])
            usage["baseline"]["server_threads_runqueue_wait_s"] = thread_cpu_delta(waits[0], waits[1])
            usage["flood"]["server_threads_runqueue_wait_s"] = thread_cpu_delta(waits[1], waits[2])
            # The victim's latency inside the server (its own histogram): the rest is the client's.
            usage["baseline"]["victim_inside_server"] = latency_delta(inside[0], inside[1])
            usage["flood"]["victim_inside_server"] = latency_delta(inside[1], inside[2])
            return {"baseline": baseline, "with_forged_flood": loaded, "forged": forged, "cpu": usage,
                    "server_after_baseline": diagnostics}

        result = asyncio.run(run())
        result["server_counters"] = server_diagnostics(server.base)
    finally:
        server.terminate()
    result["checks"] = {"victim_p50_within_2x": result["with_forged_flood"]["p50_ms"]
                        <= 2 * result["baseline"]["p50_ms"]}
    return result


DIAGNOSTICS = ("clickport_event_loop_lag", "clickport_gc_", "clickport_forged_ids_total",
               "clickport_queries_rejected", "clickport_spool_commit_seconds")


def server_diagnostics(base: str) -> dict[str, float]:
    """The server's event-loop lag and gc pauses (server/loopwatch.py) and a few counters."""
    return {series: value for series, value in servermetrics.scrape(base).items()
            if series.startswith(DIAGNOSTICS)}


DRILLS = {"a": "heavy queries vs ingestion", "b": "parallel site creation",
          "c": "slowloris and oversized headers", "d": "forged ids on collect"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.drills", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("drills", nargs="*", default=list(DRILLS), choices=list(DRILLS))
    parser.add_argument("--results", default=os.path.join("loadtest", "results", "run2"))
    parser.add_argument("--work", default=None, help="data directories (default: a temp dir, removed)")
    parser.add_argument("--seed-events", default="5M", help="events seeded for drill a")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measured phase")
    parser.add_argument("--server-env", action="append", default=[], metavar="K=V",
                        help="extra environment for the drill servers (repeatable)")
    args = parser.parse_args(argv)
    SERVER_ENV.update(item.split("=", 1) for item in args.server_env)
    work = args.work or tempfile.mkdtemp(prefix="clickport-drills-")
    os.makedirs(args.results, exist_ok=True)
    command = "python -m loadtest.drills " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        for name in args.drills:
            print(f"drill {name}: {DRILLS[name]} ...", flush=True)
            context = others_on_the_box()
            started = time.time()
            if name == "a":
                result = drill_a(work, args.seed_events, args.duration)
            elif name == "b":
                result = drill_b(work)
            elif name == "c":
                result = drill_c(work)
            else:
                result = drill_d(work, args.duration)
            result = {"drill": name, "what": DRILLS[name], "command": command,
                      "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                      "seconds": round(time.time() - started, 1), "box_before": context,
                      "box_after": others_on_the_box(), "server_env": SERVER_ENV, **result}
            path = os.path.join(args.results, f"drills-issue10-{name}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(result, f, indent=2)
            line = f"{name} {DRILLS[name]}: checks={result['checks']}"
            print(line, flush=True)
            with open(os.path.join(args.results, "drills-issue10.txt"), "a", encoding="utf-8") as f:
                f.write(f"# {command}  ({result['started']})\n{line}\n")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
