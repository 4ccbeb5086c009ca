"""`clickport import FILE.ndjson[.gz] --site DOMAIN`: send a history file to POST /api/import.

The file is read as a stream and sent in requests of `--lines-per-request` lines (within the
server's documented limits), one after another, so every request sees the sessions the previous
one stored; the next request's lines are read (and compressed) on a thread while one is in flight.
Line numbers in the report are the file's. Requests are gzip-compressed unless the server is on
this machine (loopback: compressing would only cost CPU). A request that fails with a network
error or a 503 is re-sent (the server stores nothing twice).
"""

from __future__ import annotations

import gzip
import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

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
    """The chunks, each read (and compressed) on a thread while the previous request is in flight.
    Requests are still sent one after another: each must see the sessions the previous stored."""
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


def run_import(url: str, key: str, path: str, lines_per_request: int = 50_000,
               progress: bool = True, compress: bool | None = None) -> dict[str, Any]:
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
    done_bytes = 0
    headers = {"x-api-key": key, "Content-Type": "application/x-ndjson"}
    if compress:
        headers["Content-Encoding"] = "gzip"
    with httpx.Client(base_url=url.rstrip("/"), timeout=600) as http:
        for first, body, position in _prefetched(_chunks(path, lines_per_request), compress):
            result = _post(http, body, headers)
            if result is None:
                summary["ok"] = False
                summary["error"] = f"the request starting at line {first} failed; re-run the import " \
                                   "(nothing is stored twice)"
                break
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
                bar.update(position - done_bytes)
                bar.set_postfix(events=f"{summary['stored']:,}",
                                per_s=f"{summary['stored'] / (time.perf_counter() - started):,.0f}")
            done_bytes = position
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - started
    summary["seconds"] = round(seconds, 2)
    summary["events_per_s"] = round(summary["lines"] / seconds) if seconds else None
    return summary


def _post(http: httpx.Client, body: bytes, headers: dict[str, str]) -> dict | None:
    delay = 1.0
    for _ in range(6):
        try:
            response = http.post("/api/import", content=body, headers=headers)
        except httpx.HTTPError:
            time.sleep(delay)
            delay *= 2
            continue
        if response.status_code == 503:
            time.sleep(delay)
            delay *= 2
            continue
        if response.status_code != 200:
            raise SystemExit(f"clickport import: {response.status_code} {response.text[:500]}")
        return response.json()
    return None
