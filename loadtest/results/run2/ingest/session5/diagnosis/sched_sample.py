"""Every thread's schedstat (CPU ns, ns waiting for a core) of a process, every 2 ms, to JSON.

    python sched_sample.py PID SECONDS OUT.json
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(pid: int, seconds: float, out: str) -> None:
    names, files = {}, {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as handle:
                names[tid] = handle.read().strip()
            files[tid] = os.open(f"/proc/{pid}/task/{tid}/schedstat", os.O_RDONLY)
        except OSError:
            continue
    rows = []
    end = time.time() + seconds
    while time.time() < end:
        sample: list = [time.time()]
        for tid, fd in files.items():
            try:
                cpu, wait, _ = os.pread(fd, 100, 0).split()
                sample.append((tid, int(cpu), int(wait)))
            except OSError:
                continue
        rows.append(sample)
        time.sleep(0.002)
    with open(out, "w") as handle:
        json.dump({"names": names, "main": str(pid), "rows": rows}, handle)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3])
