"""`clickport import FILE.ndjson[.gz] --site DOMAIN`: send a history file to POST /api/import.

The file is read as a stream and sent in requests of `--lines-per-request` lines (within the
server's documented limits) as numbered parts of one import (`x-import-part: <id>/<n>`),
`in_flight` at a time: the server parses a part while the previous one is stored, and stores them
in file order, so every request sees the sessions the previous one stored. The next request's
lines are read (and compressed) on a thread while others are in flight. Line numbers in the report
are the file's. Requests are gzip-compressed unless the server is on this machine (loopback:
compressing would only cost CPU). A request that fails with a network error, a 503, or a 409 (an
earlier part is being re-sent) is re-sent (the server stores nothing twice).
"""

from __future__ import annotations

import gzip
import os
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:  # imported where used: `clickport` starts without it (≈ 130 ms)
    import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_LISTED = 100


def _chunks(path: str, lines_per_request: int):
    """(first line number, bytes, bytes read from the file so far) per request."""
    opener = gzip.open if path.endswith(".gz") else open
    with open(path, "rb") as raw, (gzip.open(raw, "rb") if opener is gzip.open else raw) as handle:
        first, lines, buffered = 1, 0, []
        for line in handle:
            buffered.append(line)
            lines += 1
            if lines == lines_per_request:
                yield first, b"".join(buffered), raw.tell()
                first, lines, buffered = first + lines, 0, []
        if buffered:
            yield first, b"".join(buffered), raw.tell()


def _prefetched(chunks: Iterator[tuple[int, bytes, int]], compress: bool):
    """The chunks, each read (and compressed) on a thread while the requests before it are in
    flight."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for first, body, position in chunks:
                if not offer((first, gzip.compress(body, 1) if compress else body, position)):
                    return
            offer(None)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the sending thread
            offer(exc)

    reader = threading.Thread(target=read, name="import-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


# The client's defaults (`clickport import`, `loadtest import`): 1 in flight because 2 measured
# only +2.5% events/s for +70–300 MiB of server RSS on 2 cores (loadtest/results/run2/ingest/session4).
LINES_PER_REQUEST = 50_000
IN_FLIGHT = 1


def run_import(url: str, key: str, path: str, lines_per_request: int = LINES_PER_REQUEST,
               progress: bool = True, compress: bool | None = None,
               in_flight: int = IN_FLIGHT) -> dict[str, Any]:
    if in_flight < 1 or lines_per_request < 1:
        raise ValueError("in_flight and lines_per_request: at least 1")
    if compress is None:
        compress = (urlparse(url).hostname or "") not in LOOPBACK
    total_bytes = os.path.getsize(path)
    summary: dict[str, Any] = {"file": path, "lines": 0, "stored": 0, "dropped": {}, "rejected": [],
                               "rejected_count": 0, "requests": 0, "ok": True}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="import", smoothing=0.1)
    started = time.perf_counter()
    summary["_position"] = 0  # bytes of the file whose requests are accounted (progress bar)
    headers = {"x-api-key": key, "Content-Type": "application/x-ndjson"}
    if compress:
        headers["Content-Encoding"] = "gzip"
    import_id = secrets.token_hex(8)
    stop = threading.Event()
    import httpx

    with httpx.Client(base_url=url.rstrip("/"), timeout=600) as http, \
            ThreadPoolExecutor(in_flight, thread_name_prefix="import-send") as senders:
        pending: deque = deque()
        chunks = _prefetched(_chunks(path, lines_per_request), compress)
        try:
            for number, (first, body, position) in enumerate(chunks, 1):
                # Numbered parts: the server stores them in this order whatever order they arrive in.
                part = {**headers, "x-import-part": f"{import_id}/{number}"}
                pending.append((senders.submit(_post, http, body, part, stop), first, position))
                if len(pending) >= in_flight and not _account(summary, *pending.popleft(), bar, started):
                    break
            while pending and summary["ok"]:
                _account(summary, *pending.popleft(), bar, started)
        finally:
            stop.set()  # a failed part: the parts still in flight give up their re-sends
            chunks.close()
    summary.pop("_position")
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - started
    summary["seconds"] = round(seconds, 2)
    summary["events_per_s"] = round(summary["lines"] / seconds) if seconds else None
    return summary


def _account(summary: dict[str, Any], sent: Future, first: int, position: int, bar,
             started: float) -> bool:
    """Add one request's answer to the summary (requests are accounted in file order)."""
    result = sent.result()
    if result is None:
        summary["ok"] = False
        summary["error"] = f"the request starting at line {first} failed; re-run the import " \
                           "(nothing is stored twice)"
        return False
    summary["requests"] += 1
    summary["lines"] += result.get("lines", 0)
    summary["stored"] += result["stored"]
    for reason, n in result["dropped"].items():
        summary["dropped"][reason] = summary["dropped"].get(reason, 0) + n
    summary["rejected_count"] += result["rejected_count"]
    for item in result["rejected"]:
        if len(summary["rejected"]) < MAX_LISTED:
            summary["rejected"].append({"line": item["line"] + first - 1, "error": item["error"]})
    if bar is not None:
        bar.update(position - summary["_position"])
        bar.set_postfix(events=f"{summary['stored']:,}",
                        per_s=f"{summary['stored'] / (time.perf_counter() - started):,.0f}")
    summary["_position"] = position
    return True


def _post(http: httpx.Client, body: bytes, headers: dict[str, str],
          stop: threading.Event | None = None) -> dict | None:
    """One request, re-sent on a network error, a 503 (busy) or a 409 (an earlier part of this
    import failed and is being re-sent); None when it never succeeded."""
    import httpx

    delay = 1.0
    for _ in range(6):
        if stop is not None and stop.is_set():
            return None
        try:
            response = http.post("/api/import", content=body, headers=headers)
        except httpx.HTTPError:
            time.sleep(delay)
            delay *= 2
            continue
        if response.status_code in (503, 409):
            time.sleep(delay)
            delay *= 2
            continue
        if response.status_code != 200:
            raise SystemExit(f"clickport import: {response.status_code} {response.text[:500]}")
        return response.json()
    return None
