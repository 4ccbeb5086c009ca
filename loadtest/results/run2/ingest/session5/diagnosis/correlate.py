"""Issue 12, session 5: what the server's threads did during each insert, against the client's
latency (DIAGNOSIS.md). Inputs: the client's per-request dump (XDUMP: send time, latency), the
server's insert log (XDUMPS: start, seconds, rows), both from instrumentation-003a3eb.patch, and
sched_sample.py's per-thread schedstat samples.

    python correlate.py LATENCIES INSERTS SCHED.json
"""

from __future__ import annotations

import bisect
import json
import sys


def main(lat_path: str, ins_path: str, sched_path: str) -> None:
    data = json.load(open(sched_path))
    names, main_tid, rows = data["names"], data["main"], data["rows"]
    lat = [tuple(map(float, line.split())) for line in open(lat_path)]
    inserts = [tuple(map(float, line.split())) for line in open(ins_path)]
    times = [r[0] for r in rows]
    t0 = lat[0][0]

    def at(i: int) -> dict:
        return {tid: (cpu, wait) for tid, cpu, wait in rows[i][1:]}

    def window(a: float, b: float) -> dict:
        i = bisect.bisect_left(times, a)
        j = min(bisect.bisect_left(times, b), len(rows) - 1)
        first, last, span = at(i), at(j), (times[j] - times[i]) * 1000 or 1
        out: dict[str, list[float]] = {}
        for tid, (cpu, wait) in last.items():
            if tid in first:
                name = "MAIN" if tid == main_tid else names.get(tid, "?")
                acc = out.setdefault(name, [0.0, 0.0])
                acc[0] += (cpu - first[tid][0]) / 1e6 / span
                acc[1] += (wait - first[tid][1]) / 1e6 / span
        return out

    def show(cores: dict) -> str:
        top = sorted(cores.items(), key=lambda kv: -kv[1][0])[:4]
        return " ".join(f"{name} cpu {cpu:.2f}/wait {wait:.2f}" for name, (cpu, wait) in top)

    for start, seconds, count in inserts:
        if not (times[0] + 0.5 < start < times[-1] - 0.5 and lat[0][0] < start < lat[-1][0]):
            continue
        during = sorted(ms * 1000 for t, ms in lat if start <= t <= start + seconds)
        before = sorted(ms * 1000 for t, ms in lat if start - 0.4 <= t < start)
        print(f"insert at {start - t0:6.2f} s, {seconds * 1000:.0f} ms, {int(count)} rows: "
              f"client latency max {during[-1]:.1f} ms during (p90 {during[int(len(during) * 0.9)]:.1f}), "
              f"{before[-1]:.1f} ms in the 0.4 s before")
        print("   during (cores busy / waiting for a core):", show(window(start, start + seconds)))
        print("   before:", show(window(start - 0.4, start)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
