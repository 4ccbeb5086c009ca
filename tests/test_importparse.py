"""Import stage 1 in worker processes: exactly the lines, numbers and ids of one pass."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import orjson

from engine.ingest.identity import VisitorHasher
from engine.ingest.importparse import ImportIds, ParsePool, parse_chunk, split_lines

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def _body() -> bytes:
    now = dt.datetime.now(dt.UTC).timestamp()
    lines = []
    for i in range(500):
        line = {"url": f"https://p.example/{i % 17}?utm_source=s{i % 3}", "timestamp": now - 3600 + i,
                "ip": f"81.2.69.{i % 40}", "user_agent": UA}
        if i % 5 == 1:
            line.update(type="engagement", page_visit_id="ab12", scroll_depth=10)
        lines.append(orjson.dumps(line))
    lines[7] = b"{bad"
    lines[80] = b""
    lines[81] = orjson.dumps({"url": "https://p.example/", "timestamp": now, "ip": "x", "user_agent": UA})
    lines[300] = orjson.dumps({"url": "https://p.example/", "timestamp": now, "ip": "1.2.3.4",
                               "user_agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})
    return b"\n".join(lines)  # no final newline


def test_split_lines_keeps_whole_lines_and_their_numbers():
    body = _body()
    chunks = split_lines(body, 37)
    assert b"".join(chunk for chunk, _ in chunks) == body
    assert [first for _, first in chunks] == [1 + 37 * i for i in range(len(chunks))]
    assert all(chunk.endswith(b"\n") for chunk, _ in chunks[:-1])


def test_worker_processes_parse_exactly_like_one_pass():
    body, now, tz = _body(), dt.datetime.now(dt.UTC), ZoneInfo("America/New_York")
    hasher = VisitorHasher(b"k" * 32)
    one = parse_chunk(body, 1, now, 7, tz, hasher, ImportIds(b"k" * 32))
    pool = ParsePool(b"k" * 32, VisitorHasher(b"k" * 32), workers=2, parallel_min_lines=0, chunk_lines=41)
    try:
        chunks = pool.parse(body, now, 7, tz)
    finally:
        pool.close()
    assert len(chunks) == 13
    assert sum(c.lines for c in chunks) == one.lines == 499
    assert [r for c in chunks for r in c.rejected] == one.rejected
    assert [n for n, _ in one.rejected] == [8, 82]
    assert sum(c.dropped.get("bot", 0) for c in chunks) == one.dropped["bot"] == 1
    merged = [line for c in chunks for line in c.accepted]
    assert [dataclasses.astuple(x) for x in merged] == [dataclasses.astuple(x) for x in one.accepted]
    assert all(x.user_id for x in merged if x.event.type != "engagement")


def test_a_killed_worker_costs_no_request():
    import os
    import signal
    import time

    body, now, tz = _body(), dt.datetime.now(dt.UTC), ZoneInfo("UTC")
    pool = ParsePool(b"k" * 32, VisitorHasher(b"k" * 32), workers=2, parallel_min_lines=0, chunk_lines=100)
    try:
        first = pool.parse(body, now, 7, tz)
        for pid in list(pool._pool._processes):  # noqa: SLF001 - the drill needs the workers' pids
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        again = pool.parse(body, now, 7, tz)  # parsed in-process this once
        third = pool.parse(body, now, 7, tz)  # new workers
    finally:
        pool.close()
    flat = [[dataclasses.astuple(x) for c in r for x in c.accepted] for r in (first, again, third)]
    assert flat[0] == flat[1] == flat[2] and len(flat[0]) > 400
