"""Merge the rollup tables' replaced row versions (what background merges do in time), then
report their size (run from the repository root)."""

import sys
import time

sys.path.insert(0, ".")

from loadtest.seed import open_bench_store  # noqa: E402

store = open_bench_store("/work/bench/d100")
for table in ("rollup_dims", "rollup_pairs", "rollup_state"):
    t0 = time.perf_counter()
    store.command(f"OPTIMIZE TABLE {table} FINAL")
    size = store.rows("SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active "
                      "AND table = {t:String} AND database = currentDatabase()", {"t": table})
    print(table, "optimized in", round(time.perf_counter() - t0, 1), "s", size, flush=True)
store.close()
