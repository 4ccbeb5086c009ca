"""Drill d under cProfile: the real server (uvicorn + the guarded protocol, as `clickport serve`)
in this process with its event-loop thread profiled, and the drill's traffic (100 victim events/s
+ 500 forged collects/s) from a child process, for SECONDS.

    CLICKPORT_ADMIN_TOKEN=drills-admin-token-0123456789 .venv/bin/python profile_server.py DATA_DIR SECONDS
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.getcwd())

import uvicorn  # noqa: E402

from loadtest.load import free_port  # noqa: E402
from server.app import create_app  # noqa: E402
from server.config import Config  # noqa: E402
from server.http_protocol import guarded_protocol  # noqa: E402

LOAD = """
import asyncio, json, sys
from loadtest import drills
port, seconds = int(sys.argv[1]), float(sys.argv[2])
base = f"http://127.0.0.1:{port}"
_, key = drills.site_with_key(base, "victim.drill-d.example")
drills.site_with_key(base, "forged.drill-d.example")
async def run():
    flood = asyncio.create_task(drills.forged_collect(port, "forged.drill-d.example", 500, seconds))
    victim = await drills.paced_events(port, key, "victim.drill-d.example", 100, seconds - 1)
    print(json.dumps({"victim": victim, "forged": await flood}))
asyncio.run(run())
"""


def main() -> None:
    data_dir, seconds = sys.argv[1], float(sys.argv[2])
    config = Config.from_env(data_dir=data_dir)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_app(config), host="127.0.0.1", port=port, log_level="warning", access_log=False,
        log_config=None, proxy_headers=False,
        http=guarded_protocol(config.max_header_bytes, config.header_timeout_s,
                              config.max_requests_per_connection),
        timeout_keep_alive=config.keepalive_s))
    profiler = cProfile.Profile()
    result: dict = {}

    def load() -> None:
        while not server.started:
            time.sleep(0.1)
        time.sleep(2)
        out = subprocess.run([sys.executable, "-c", LOAD, str(port), str(seconds)], capture_output=True,
                             text=True, cwd=os.getcwd())
        result["load"] = out.stdout.strip()[-800:] or out.stderr[-800:]
        server.should_exit = True

    threading.Thread(target=load, daemon=True).start()
    asyncio.run(_serve(server, profiler))
    print(result.get("load"))
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
    print(text.getvalue().replace(os.getcwd() + "/", ""))


async def _serve(server: uvicorn.Server, profiler: cProfile.Profile) -> None:
    # Profile the event-loop thread from the loop itself (cProfile is per thread).
    async def start_profiling() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2)
        profiler.enable()

    task = asyncio.create_task(start_profiling())
    await server.serve()
    profiler.disable()
    task.cancel()


if __name__ == "__main__":
    main()
