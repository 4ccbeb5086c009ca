"""Event-loop lag and garbage-collector pauses, for /metrics (issue 10's drills use them to tell
where a slow answer's time went).

Everything the server answers runs on one event loop thread, so anything that holds that thread
(a long callback, the GIL held by another thread, a full garbage collection, CPU starvation by
other processes) delays every request alike. `LoopWatch.run` wakes every `TICK_S` and records how
late it woke (`clickport_event_loop_lag_seconds`, a histogram, and its maximum); a gc callback
records each collection's pause per generation (`clickport_gc_pause_gen<N>_seconds_{sum,max}`, the
collections in `clickport_gc_collections_gen<N>_total`), whichever thread it ran on, and which
kind of thread ran them (`clickport_gc_pause_{loop,other}_seconds_{sum,max}`,
`clickport_gc_collections_{loop,other}_total`). Drill a (issue 10) used them to rule out a
suspected cause: collections on lowered background threads were no slower than on the loop; the
long ones came from every request being a reference cycle (server/http_protocol.py).

It also gives the process's Python threads their names at the OS level (`name_os_threads`:
without the `clickport-` prefix, e.g. `spool_0`, `insert_0`, `sessions_1`, `query_2`; the main
thread, which runs the event loop under `clickport serve`, keeps the process name), so `top -H`
and /proc/<pid>/task/*/comm tell where the CPU goes.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time

TICK_S = 0.05
NAME_EVERY_TICKS = 200  # thread pools start threads lazily: re-name every 10 s


def name_os_threads() -> None:
    """Copy Python thread names to the OS (Linux: /proc/self/task/<tid>/comm, 15 characters)."""
    for thread in threading.enumerate():
        if thread.native_id is None or thread is threading.main_thread():
            continue
        name = thread.name.removeprefix("clickport-")
        try:
            with open(f"/proc/self/task/{thread.native_id}/comm", "w", encoding="utf-8") as handle:
                handle.write(name[:15])
        except OSError:  # not Linux, or the thread just ended
            pass


class LoopWatch:
    def __init__(self, metrics) -> None:
        self.metrics = metrics
        self.lag_max = 0.0
        self.gc_count = [0, 0, 0]
        self.gc_total = [0.0, 0.0, 0.0]
        self.gc_max = [0.0, 0.0, 0.0]
        self._gc_started = 0.0
        self.by_thread = {"loop": [0, 0.0, 0.0], "other": [0, 0.0, 0.0]}  # count, sum, max
        self.loop_thread: threading.Thread | None = None  # set by run()
        metrics.describe("clickport_event_loop_lag_seconds", f"How late a {TICK_S:g} s event-loop tick woke")
        metrics.gauge("clickport_event_loop_lag_max_seconds", lambda: self.lag_max)
        for generation in range(3):
            name = f"clickport_gc_{{}}_gen{generation}"
            metrics.gauge(name.format("collections") + "_total", lambda g=generation: self.gc_count[g])
            metrics.gauge(name.format("pause") + "_seconds_sum", lambda g=generation: self.gc_total[g])
            metrics.gauge(name.format("pause") + "_seconds_max", lambda g=generation: self.gc_max[g])
        for kind, slot in self.by_thread.items():
            metrics.gauge(f"clickport_gc_collections_{kind}_total", lambda s=slot: s[0])
            metrics.gauge(f"clickport_gc_pause_{kind}_seconds_sum", lambda s=slot: s[1])
            metrics.gauge(f"clickport_gc_pause_{kind}_seconds_max", lambda s=slot: s[2])

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        pause = time.perf_counter() - self._gc_started
        generation = min(2, info.get("generation", 0))
        self.gc_count[generation] += 1
        self.gc_total[generation] += pause
        if pause > self.gc_max[generation]:
            self.gc_max[generation] = pause
        slot = self.by_thread["loop" if threading.current_thread() is self.loop_thread else "other"]
        slot[0] += 1
        slot[1] += pause
        slot[2] = max(slot[2], pause)

    async def run(self) -> None:
        self.loop_thread = threading.current_thread()
        gc.callbacks.append(self._on_gc)
        loop = asyncio.get_running_loop()
        ticks = 0
        try:
            while True:
                if ticks % NAME_EVERY_TICKS == 0:
                    name_os_threads()
                ticks += 1
                expected = loop.time() + TICK_S
                await asyncio.sleep(TICK_S)
                lag = max(0.0, loop.time() - expected)
                self.metrics.observe("clickport_event_loop_lag_seconds", lag)
                if lag > self.lag_max:
                    self.lag_max = lag
        finally:
            gc.callbacks.remove(self._on_gc)
