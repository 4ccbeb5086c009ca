"""Issue 12, build item 1: where the event loop's time goes for POST /api/event, in-process.

Starts the app (lifespan, real embedded store, GeoIP) in a temp data dir, creates a site and a
tracker key through the admin API, then drives N POST /api/event through the ASGI app directly
(no socket, no uvicorn: the app's own cost), 32 concurrent, under cProfile, and prints the top
functions by own time plus the ASGI app's CPU per request. Run it from the tree to profile:

    cd <tree> && /work/wt12/.venv/bin/python <this file> 6000 > profile.txt
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import io
import os
import pstats
import shutil
import sys
import tempfile
import time

import orjson

sys.path.insert(0, os.getcwd())
os.environ.setdefault("CLICKPORT_GEOIP_PATH", "/work/wt12/data/geo/dbip-city-lite.mmdb")

from loadtest import inprocess  # noqa: E402
from loadtest.inprocess import running_app  # noqa: E402

UA = (b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      b"Chrome/131.0.0.0 Safari/537.36")


async def main(n: int) -> None:
    data_dir = tempfile.mkdtemp(prefix="profile-event-")
    async with running_app(data_dir, "tok") as app:
        await measure(app, n)
    shutil.rmtree(data_dir, ignore_errors=True)


async def measure(app, n: int) -> None:
    call = functools.partial(inprocess.call, app)
    admin = [(b"authorization", b"Bearer tok"), (b"content-type", b"application/json")]
    created = await call("POST", "/api/admin/sites", b'{"domain": "profile.example"}', admin)
    site = orjson.loads(created[1]["body"])
    made = await call("POST", f"/api/admin/sites/{site['id']}/keys", b'{"permissions": ["tracker"]}', admin)
    key = orjson.loads(made[1]["body"])["key"].encode()
    bodies = [orjson.dumps({"type": "pageview", "url": f"https://profile.example/p{i % 200}?utm_source=x",
                            "referrer": "https://www.google.com/", "screen_width": 1280})
              for i in range(1000)]

    async def one(i: int) -> list[dict]:
        ip = f"81.2.{(i // 250) % 250}.{i % 250 + 1}".encode()
        return await call("POST", "/api/event", bodies[i % 1000],
                          [(b"x-api-key", key), (b"user-agent", UA), (b"x-forwarded-for", ip)])

    for i in range(0, 640, 32):  # warm-up: caches, first inserts
        await asyncio.gather(*(one(i + k) for k in range(32)))
    profiler = cProfile.Profile()
    started, cpu = time.perf_counter(), time.thread_time()
    profiler.enable()
    for i in range(0, n, 32):
        results = await asyncio.gather(*(one(i + k) for k in range(32)))
    profiler.disable()
    wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
    assert results[0][0]["status"] == 200, results[0]
    print(f"{n} requests: event-loop thread CPU {cpu / n * 1e6:.1f} µs/request (profiled), "
          f"wall {wall / n * 1e6:.1f} µs/request")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
    print(text.getvalue().replace(os.getcwd() + "/", ""))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 6000))
