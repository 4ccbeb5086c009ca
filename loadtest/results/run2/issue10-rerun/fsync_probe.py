"""Spool commit cost on this box's disk: append + fsync (what the spool does) against overwriting a
pre-zeroed file + fdatasync (no size or extent change, so no journal commit on ext4), 2,000 commits
of 500 bytes each, alternating, in the directory given (issue 10, drill d's fsync finding).

    python fsync_probe.py DIR
"""

from __future__ import annotations

import os
import sys
import time


def probe(directory: str, mode: str, commits: int = 2000, size: int = 500) -> list[float]:
    path = os.path.join(directory, f"fsync-probe-{mode}.bin")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if mode == "prezeroed":
            zeros = b"\0" * (1 << 20)
            for _ in range(commits * size // len(zeros) + 1):
                os.write(fd, zeros)
            os.fsync(fd)
        line = b"x" * (size - 1) + b"\n"
        times = []
        for i in range(commits):
            started = time.perf_counter()
            if mode == "append":
                os.write(fd, line)
                os.fsync(fd)
            else:
                os.pwrite(fd, line, i * size)
                os.fdatasync(fd)
            times.append(time.perf_counter() - started)
        return sorted(times)
    finally:
        os.close(fd)
        os.unlink(path)


def main() -> None:
    directory = sys.argv[1]
    print(f"loadavg {open('/proc/loadavg').read().split()[:3]}")
    for _ in range(2):
        for mode in ("append", "prezeroed"):
            t = probe(directory, mode)
            print(f"{mode:10s} p50 {t[len(t) // 2] * 1e3:6.2f} ms  "
                  f"p99 {t[int(len(t) * 0.99)] * 1e3:6.2f} ms  "
                  f"max {t[-1] * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
