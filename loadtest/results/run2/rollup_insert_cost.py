"""What the rollup's touch view adds to every insert (issue 9: "cost of keeping it").

An embedded store in a temp dir with every migration applied; the same batches of seeded events
(loadtest model, engine enrichment) inserted with `rollup_touched_mv` attached and detached,
interleaved, batch sizes of a live writer (200 rows ≈ one 0.2 s flush at 1k events/s) and of a
busy one (2,000). Reports wall ms per insert (median) and process CPU per event.

    .venv/bin/python loadtest/results/run2/rollup_insert_cost.py \
        > loadtest/results/run2/rollup_insert_cost.txt
"""

from __future__ import annotations

import datetime as dt
import resource
import statistics
import sys
import tempfile
import time

sys.path.insert(0, ".")

from loadtest.model import ModelConfig  # noqa: E402
from loadtest.seed import SeedOptions, open_bench_store, seed  # noqa: E402

ROUNDS = 30


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    data = tempfile.mkdtemp(prefix="rollup-cost-")
    store = open_bench_store(data)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    seed(SeedOptions(data_dir=data, events=60_000, model=ModelConfig(seed=9, sites=2, history_days=3),
                     progress=False, now=now, chunk_rows=60_000), store=store)
    mv = store.rows("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                    "AND name = 'rollup_touched_mv'")[0][0]
    cols = [r[0] for r in store.rows("SELECT name FROM system.columns WHERE database = currentDatabase() "
                                     "AND table = 'events' ORDER BY position")]
    sample = store.rows(f"SELECT {', '.join(f'`{c}`' for c in cols)} FROM events LIMIT 2000")
    columns = [list(c) for c in zip(*sample, strict=True)]
    print(f"store {data}; events columns {len(cols)}; sample rows {len(sample)}")
    for size in (200, 2000):
        batch = [c[:size] for c in columns]
        result = {"with_view": [], "without_view": []}
        cpu_used = {"with_view": 0.0, "without_view": 0.0}
        for _ in range(ROUNDS):
            for state in ("with_view", "without_view"):
                if state == "without_view":
                    store.command("DROP VIEW IF EXISTS rollup_touched_mv")
                c0, t0 = cpu(), time.perf_counter()
                store.insert_columns("events", batch, cols)
                result[state].append((time.perf_counter() - t0) * 1000)
                cpu_used[state] += cpu() - c0
                if state == "without_view":
                    store.command(mv)
        for state, runs in result.items():
            print(f"batch {size:5d} rows {state:13s} median {statistics.median(runs):7.2f} ms/insert  "
                  f"CPU {cpu_used[state] / (ROUNDS * size) * 1e6:6.1f} µs/event (process, all threads)")
    store.close()


if __name__ == "__main__":
    main()
