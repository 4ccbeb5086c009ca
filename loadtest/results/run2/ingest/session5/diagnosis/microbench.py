"""Issue 12, session 5: the per-request costs quoted for the hot-path changes, one at a time.

    .venv/bin/python loadtest/results/run2/ingest/session5/diagnosis/microbench.py > microbench.txt
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import timeit

sys.path.insert(0, os.getcwd())

import uvloop  # noqa: E402
from starlette.responses import Response  # noqa: E402

from engine.ingest import identity  # noqa: E402
from server.client_ip import TrustedProxies  # noqa: E402

N = 200_000


def per_call(fn) -> float:
    return min(timeit.repeat(fn, number=N, repeat=3)) / N * 1e6


async def body_timer() -> tuple[float, float]:
    async def received() -> int:
        return 1

    async def with_timer() -> int:
        async with asyncio.timeout(10):
            return await received()

    out = []
    for coroutine in (with_timer, received):
        best = float("inf")
        for _ in range(3):
            started = asyncio.get_running_loop().time()
            for _ in range(N):
                await coroutine()
            best = min(best, (asyncio.get_running_loop().time() - started) / N * 1e6)
        out.append(best)
    return out[0], out[1]


def main() -> None:
    timed, bare = uvloop.run(body_timer())
    print(f"body read under asyncio.timeout (uvloop): {timed:.2f} µs; without: {bare:.2f} µs")
    print(f"normalize_ip: parse {per_call(lambda: identity._parse_ip('81.2.69.142')):.2f} µs, "
          f"remembered {per_call(lambda: identity.normalize_ip('81.2.69.142')):.2f} µs")
    proxies = TrustedProxies.parse("127.0.0.1/32,::1/128")
    print(f"trusted-proxy test: computed {per_call(lambda: proxies._test('127.0.0.1')):.2f} µs, "
          f"remembered {per_call(lambda: '127.0.0.1' in proxies):.2f} µs")
    randbits = per_call(lambda: secrets.randbits(47))
    print(f"secrets.randbits(47) (one per new session / page visit): {randbits:.2f} µs")
    print(f"Starlette Response for a 200 JSON body: "
          f"{per_call(lambda: Response(b'x' * 80, media_type='application/json')):.2f} µs")


if __name__ == "__main__":
    main()
