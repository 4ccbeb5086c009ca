"""Issue 10, drill d: what one forged-id request costs on the event loop, against a normal event.

Starts the app in-process (lifespan, real embedded store, GeoIP when installed) in a temp data dir
and drives each request kind through the ASGI app directly (no socket: the app's own cost), 32
concurrent, measuring the event-loop thread's CPU per request (time.thread_time), then profiles the
most expensive kind with cProfile. Kinds, as drill d sends them (a new visitor address each):

  event        POST /api/event, a pageview (the victim's traffic in drill d)
  collect      POST /api/collect, a pageview with no ids
  forged_sid   POST /api/collect, a pageview with a forged session_id (stored as a new session)
  forged_pvid  POST /api/collect, an engagement with a forged page_visit_id (400)

    cd <tree> && .venv/bin/python loadtest/results/run2/forged/profile_forged.py 4000 > out.txt
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import io
import os
import pstats
import random
import shutil
import sys
import tempfile
import time

import orjson

sys.path.insert(0, os.getcwd())

from loadtest import inprocess  # noqa: E402
from loadtest.inprocess import running_app  # noqa: E402

UA = (b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      b"Chrome/124.0.0.0 Safari/537.36")
DOMAIN = "forged.example"


async def main(n: int) -> None:
    data_dir = tempfile.mkdtemp(prefix="profile-forged-")
    async with running_app(data_dir, "profile-admin-token-0123") as app:
        await measure(app, n)
    shutil.rmtree(data_dir, ignore_errors=True)


async def measure(app, n: int) -> None:
    call = functools.partial(inprocess.call, app)
    admin = [(b"authorization", b"Bearer profile-admin-token-0123"), (b"content-type", b"application/json")]
    created = await call("POST", "/api/admin/sites", orjson.dumps({"domain": DOMAIN}), admin)
    site = orjson.loads(created[1]["body"])
    made = await call("POST", f"/api/admin/sites/{site['id']}/keys", b'{"permissions": ["tracker"]}', admin)
    key = orjson.loads(made[1]["body"])["key"].encode()
    rng = random.Random(5)

    def request(kind: str, i: int) -> tuple[str, bytes, list]:
        ip = f"100.{64 + i % 64}.{(i // 64) % 256}.{rng.randrange(255)}".encode()
        headers = [(b"user-agent", UA), (b"x-forwarded-for", ip), (b"content-type", b"text/plain")]
        url = f"https://{DOMAIN}/p{i % 50}"
        if kind == "event":
            body = orjson.dumps({"type": "pageview", "url": url})
            return "/api/event", body, [(b"x-api-key", key), *headers]
        body: dict = {"type": "pageview", "url": url, "domain": DOMAIN}
        if kind == "forged_sid":
            body["session_id"] = rng.randrange(1, 2**53)
        elif kind == "forged_pvid":
            body = {"type": "engagement", "url": url, "domain": DOMAIN,
                    "page_visit_id": f"{rng.randrange(1, 2**63):x}", "scroll_depth": 50}
        return "/api/collect", orjson.dumps(body), headers

    async def run(kind: str, count: int, offset: int, profiler: cProfile.Profile | None = None):
        statuses: dict[int, int] = {}
        started, cpu = time.perf_counter(), time.thread_time()
        if profiler:
            profiler.enable()
        for i in range(0, count, 32):
            batch = [request(kind, offset + i + k) for k in range(32)]
            for out in await asyncio.gather(*(call("POST", p, b, h) for p, b, h in batch)):
                statuses[out[0]["status"]] = statuses.get(out[0]["status"], 0) + 1
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
        return cpu / count * 1e6, wall / count * 1e6, statuses

    kinds = ("event", "collect", "forged_sid", "forged_pvid")
    for kind in kinds:  # warm-up: caches, first inserts
        await run(kind, 640, 10_000_000)
    print(f"{n} requests per kind, 32 concurrent, through the ASGI app (no socket)")
    print("kind          event-loop CPU µs/request   wall µs/request   statuses")
    costs = {}
    for round_ in range(2):
        for kind in kinds:
            cpu, wall, statuses = await run(kind, n, (round_ * len(kinds) + kinds.index(kind)) * n)
            costs.setdefault(kind, []).append(cpu)
            print(f"{kind:12s}  {cpu:10.1f}                  {wall:10.1f}        {statuses}")
    for kind in ("forged_sid", "forged_pvid"):
        profiler = cProfile.Profile()
        await run(kind, n, 50_000_000 + kinds.index(kind) * n, profiler)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        print(f"\n=== cProfile, {kind} ===")
        print(text.getvalue().replace(os.getcwd() + "/", ""))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4000))
