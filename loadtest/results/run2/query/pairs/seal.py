"""Apply pending migrations to the 100M-event store and seal every dirty site-day (run from the
repository root). Output: seal.log."""

import sys
import time

sys.path.insert(0, ".")

from engine.rollups import seal_all  # noqa: E402
from loadtest.bench_query import read_manifest  # noqa: E402
from loadtest.seed import open_bench_store  # noqa: E402

DATA = "/work/bench/d100"
t0 = time.perf_counter()
store = open_bench_store(DATA)
print(f"open+migrations {time.perf_counter() - t0:.1f}s", flush=True)
manifest = read_manifest(DATA)
t0 = time.perf_counter()
n = seal_all(store, [(s["site_id"], s["timezone"]) for s in manifest["sites"]],
             progress=lambda line: print(time.strftime("%H:%M:%S"), line, flush=True))
print(f"sealed {n} site-days in {time.perf_counter() - t0:.1f}s", flush=True)
for table in ("rollup_dims", "rollup_pairs", "events"):
    size = store.rows("SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active "
                      "AND table = {t:String} AND database = currentDatabase()", {"t": table})
    print(table, size, flush=True)
