"""Issue 12, session 5: objects the cyclic GC must walk per new visitor, and a full collection's
time, after N events of N distinct visitors through the app in process (real embedded store).

    cd <tree> && /work/wt10/.venv/bin/python <this file> 20000
(run from 003a3eb for "before": 4.33 tracked objects per event, full collection 146 ms; from main
for "after": 0.33 and 53 ms; gc_survivors.txt)
"""

from __future__ import annotations

import asyncio
import collections
import functools
import gc
import os
import shutil
import sys
import tempfile
import time

import orjson

sys.path.insert(0, os.getcwd())
os.environ.setdefault("CLICKPORT_GEOIP_PATH", os.path.join(os.getcwd(), "data", "geo", "dbip-city-lite.mmdb"))

from loadtest import inprocess  # noqa: E402
from loadtest.inprocess import running_app  # noqa: E402

UA = (b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      b"Chrome/131.0.0.0 Safari/537.36")


async def main(n: int) -> None:
    data_dir = tempfile.mkdtemp(prefix="gc-survivors-")
    async with running_app(data_dir, "tok") as app:
        call = functools.partial(inprocess.call, app)
        admin = [(b"authorization", b"Bearer tok"), (b"content-type", b"application/json")]
        created = await call("POST", "/api/admin/sites", b'{"domain": "p.example"}', admin)
        site = orjson.loads(created[1]["body"])
        made = await call("POST", f"/api/admin/sites/{site['id']}/keys", b'{"permissions": ["tracker"]}',
                          admin)
        key = orjson.loads(made[1]["body"])["key"].encode()
        bodies = [orjson.dumps({"type": "pageview", "url": f"https://p.example/p{i % 200}?utm_source=x",
                                "referrer": "https://www.google.com/"}) for i in range(1000)]

        async def one(i: int) -> None:
            ip = f"81.{(i // 62500) % 250}.{(i // 250) % 250}.{i % 250 + 1}".encode()
            await call("POST", "/api/event", bodies[i % 1000],
                       [(b"x-api-key", key), (b"user-agent", UA), (b"x-forwarded-for", ip)])

        gc.collect()
        base = collections.Counter(type(o).__name__ for o in gc.get_objects())
        for i in range(0, n, 32):
            await asyncio.gather(*(one(i + k) for k in range(32)))
        await asyncio.sleep(2)
        grown = collections.Counter(type(o).__name__ for o in gc.get_objects()) - base
        print(f"{n} events of {n} visitors: {sum(grown.values()) / n:.2f} more tracked objects per event")
        for name, count in grown.most_common(6):
            print(f"  {name:24s} {count}")
        started = time.perf_counter()
        gc.collect()
        print(f"full collection: {1e3 * (time.perf_counter() - started):.1f} ms")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
