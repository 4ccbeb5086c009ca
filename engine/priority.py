"""CPU priority: the work behind an acknowledgement first, everything else after it.

The event loop, the spool's fsync thread and session lookups (what an ingest 200 waits for) run
at the process's priority. Everything else runs at `BACKGROUND_NICE` (Linux nice; no capability is
needed to lower one's own priority): read queries, the inserts that move spooled rows into
ClickHouse, imports, rollup maintenance. Both halves of that work are lowered: the Python threads
that call the engine (`lower_thread_priority`, an executor's initializer or a thread's first call)
and the engine's own threads for each statement (ClickHouse setting `os_threads_nice_value_query`,
`BACKGROUND_SETTINGS`, on every read query, insert and maintenance statement). On a small box a
storm of heavy queries, a big insert or a first sealing pass over years of history then takes
the idle CPU without delaying events.

ClickHouse puts a thread back to nice 0 when a statement that changed its priority ends (also the
calling thread, which takes part in the statement), so work on a background thread goes through
`run_lowered`, which lowers the thread again before each task.

ClickHouse's background merges run at `BACKGROUND_NICE` too (`ENGINE_SERVER_SETTINGS`, the
server setting `os_threads_nice_value_merge_mutate`, set on every engine Clickport starts).

Measured on the shared 2-core box (load 5-7; loadtest/results/run2/issue10-rerun/
loop_stall_probe.txt): a thread inserting 20k rows in a loop delayed a 5 ms tick of the main
thread by p99 7-49 ms, max 39-645 ms at normal priority; lowered, p99 5-11 ms, max 28-123 ms.
"""

from __future__ import annotations

import os
import threading

BACKGROUND_NICE = 10
BACKGROUND_SETTINGS = {"os_threads_nice_value_query": BACKGROUND_NICE,
                       "os_threads_nice_value_materialized_view": BACKGROUND_NICE}
# Server settings (fixed when an engine starts) for every engine Clickport starts itself: the
# embedded one (engine/store.py) and the local chDB servers (engine/chserver.py). Its background
# merges are background work too. Measured at 1,000 events/s (issue 12, session 5):
# during the merges that follow an insert, the merge threads at normal priority took 0.3-0.45 of a
# core and the event loop waited for a core 12-36% of the time (1-5% just before); requests sent
# then waited up to 27-55 ms (loadtest/results/run2/ingest/session5/diagnosis/). A ClickHouse
# server takes the same setting in its config (deploy/cluster/clickhouse/cluster.xml); ClickHouse
# applies its nice values only with CAP_SYS_NICE (root has it).
ENGINE_SERVER_SETTINGS = {"os_threads_nice_value_merge_mutate": BACKGROUND_NICE}


def lower_thread_priority() -> None:
    """Lower the calling thread's CPU priority to BACKGROUND_NICE."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (OSError, AttributeError):  # not Linux, or not permitted: run at normal priority
        pass


def run_lowered(fn, *args):
    """`fn(*args)` at BACKGROUND_NICE (for executors: `executor.submit(run_lowered, fn, ...)`)."""
    lower_thread_priority()
    return fn(*args)
