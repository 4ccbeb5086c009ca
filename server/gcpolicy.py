"""The server process's garbage-collection policy: collections run on the event loop, at its priority.

CPython collects when allocations pass a threshold, on whichever thread made the allocation that
crossed it, and the collection holds the GIL until it ends. The threads that run queries, inserts
and maintenance run at a lowered priority (engine/priority.py); when one of them started a
collection on a busy box, the scheduler could leave it waiting for a core with the GIL held, and
the event loop (every acknowledgement) waited too: issue 10's drill a saw young-generation
collections of 41–107 ms (a young collection's own work is 1–3 ms) coincide with its one missed
run (loadtest/results/run2/issue10-rerun/). So:

* `tune_gc` (once per process, after start-up) moves the start-up heap (modules, parser tables,
  GeoIP and user-agent data, the registry) out of the collector's reach (`gc.freeze`: full
  collections had walked it for 70–170 ms each under wrk load, issue 12) and raises the
  interpreter's own trigger to `SAFETY_THRESHOLDS`, a safety net that a burst of allocations on
  some thread between two ticks may still reach;
* `collect_on_loop` (a task on the event loop) wakes every `TICK_S` and collects the youngest
  generation once `YOUNG` allocations are pending, the middle one after `OLDER` young
  collections and the oldest after `OLDER` middle ones (CPython's own ratios), so collections
  run on the loop's thread, at normal priority, and never behind a descheduled background thread.

`clickport_gc_pause_{loop,other}_seconds_max` (server/loopwatch.py) tell which thread ran them.
"""

from __future__ import annotations

import asyncio
import gc

YOUNG = 20_000
OLDER = 10
SAFETY_THRESHOLDS = (400_000, OLDER, OLDER)
TICK_S = 0.02

_tuned = False


def tune_gc() -> None:
    """Freeze the start-up heap and hand routine collections to `collect_on_loop` (once per process)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SAFETY_THRESHOLDS)


def collect_due() -> int | None:
    """Run the collection that is due now, if any; return its generation."""
    young, middle, old = gc.get_count()
    if old >= OLDER:
        generation = 2
    elif middle >= OLDER:
        generation = 1
    elif young >= YOUNG:
        generation = 0
    else:
        return None
    gc.collect(generation)
    return generation


async def collect_on_loop() -> None:
    """Collect on the event loop's thread, forever (cancelled at shutdown)."""
    while True:
        await asyncio.sleep(TICK_S)
        collect_due()
