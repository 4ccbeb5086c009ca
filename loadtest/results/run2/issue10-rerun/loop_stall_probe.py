"""How much an in-process chDB statement on another thread delays the main thread (issue 10).

A worker thread loops on one kind of statement against a temporary embedded store while the main
thread sleeps 5 ms at a time and records how late it wakes (as the server's event loop would).

    .venv/bin/python loop_stall_probe.py MODE ROWS [MAX_THREADS NICE_SETTING THREAD_NICE]

MODE: none (the worker only sleeps), insert (ROWS rows of JSONCompactEachRow into a MergeTree
with a materialized view), query (a CPU-heavy read). NICE_SETTING is the statement's
os_threads_nice_value_query, THREAD_NICE the worker thread's own nice value.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time

import clickhouse_connect


def main() -> None:
    mode, count = sys.argv[1], int(sys.argv[2])
    settings = {}
    if len(sys.argv) > 4:
        settings = {"max_threads": int(sys.argv[3]), "os_threads_nice_value_query": int(sys.argv[4])}
    thread_nice = int(sys.argv[5]) if len(sys.argv) > 5 else None
    os.makedirs("/tmp/wt10-gil", exist_ok=True)
    data = tempfile.mkdtemp(dir="/tmp/wt10-gil")
    main_client = clickhouse_connect.get_client(dsn=f"chdb://{data}")
    main_client.command("CREATE TABLE t (a UInt64, b String, c DateTime) ENGINE MergeTree ORDER BY a")
    main_client.command("CREATE TABLE agg (a UInt64, n AggregateFunction(uniq, String)) "
                        "ENGINE AggregatingMergeTree ORDER BY a")
    main_client.command("CREATE MATERIALIZED VIEW mv TO agg AS "
                        "SELECT a % 100 AS a, uniqState(b) AS n FROM t GROUP BY a")
    rows = b"".join(json.dumps([i, f"s{i}", "2026-01-01 00:00:00"]).encode() + b"\n" for i in range(count))
    for _ in range(3):
        main_client.raw_insert("t", ["a", "b", "c"], insert_block=rows, fmt="JSONCompactEachRow")
    worker_client = clickhouse_connect.get_client(dsn=f"chdb://{data}")
    stop = threading.Event()
    done = [0]

    def work() -> None:
        if thread_nice is not None:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), thread_nice)
        while not stop.is_set():
            if mode == "none":
                time.sleep(0.1)
            elif mode == "insert":
                worker_client.raw_insert("t", ["a", "b", "c"], insert_block=rows, fmt="JSONCompactEachRow",
                                         settings=settings)
            else:
                worker_client.query("SELECT count(), uniq(b), sum(cityHash64(b)) "
                                    "FROM t, numbers(200) AS n", settings=settings)
            done[0] += 1

    worker = threading.Thread(target=work)
    worker.start()
    lags = []
    end = time.perf_counter() + 5
    while time.perf_counter() < end:
        started = time.perf_counter()
        time.sleep(0.005)
        lags.append(time.perf_counter() - started - 0.005)
    stop.set()
    worker.join()
    lags.sort()
    print(f"{mode} ticks {len(lags)} p50 {lags[len(lags) // 2] * 1e3:.1f} ms "
          f"p99 {lags[int(len(lags) * 0.99)] * 1e3:.1f} ms max {lags[-1] * 1e3:.1f} ms "
          f"({done[0]} statements)")


if __name__ == "__main__":
    main()
