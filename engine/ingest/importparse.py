"""Bulk import, stage 1: NDJSON lines → validated lines with their visitor ids, in parallel.

This stage needs no store and no session state, so a large request is cut into chunks of whole
lines that worker processes parse at once (`ParsePool`), while the importer (stage 2,
`engine.ingest.importer`) keeps the one thread that assigns sessions, builds rows and inserts.
Each chunk gives exactly what the same lines give in one pass (`parse_chunk` is the only
implementation of the line rules): the rejected lines with their file line numbers, the drop
counts, and the accepted lines, which the importer sorts by (timestamp, line number).

Workers are started with `spawn` (the embedded store is not fork-safe) and import only the
validation and enrichment modules. They receive the server secret (to compute visitor ids: the
same keyed hash as live events), in memory only.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import multiprocessing
import os
import socket
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from engine.enrich.bots import is_bot
from engine.enrich.urls import PageUrl, parse_page_url
from engine.errors import FieldError
from engine.ingest.identity import VisitorHasher
from engine.ingest.validate import EventInput, parse_event

log = logging.getLogger("clickport.import")

# Requests with fewer lines are parsed in the calling thread (a worker round trip costs more).
PARALLEL_MIN_LINES = 4_000
CHUNK_LINES = 10_000


@dataclass(slots=True)
class ParsedLine:
    number: int
    moment: dt.datetime
    event: EventInput
    page: PageUrl
    ip: str
    user_agent: str
    user_id: int  # 0 for engagement lines (they belong to their page visit's session)
    event_id: int
    page_visit_id: int  # a pageview's stored page-visit id, else 0


class ImportIds:
    """The content-derived ids of imported rows (a re-sent line gets the same ids): keyed hashes
    under a key derived from the server secret."""

    def __init__(self, secret: bytes):
        self._key = hashlib.blake2b(b"clickport-import", key=secret[:64]).digest()[:32]

    def hash(self, *parts: Any) -> int:
        text = "\x00".join(str(p) for p in parts).encode()
        return int.from_bytes(hashlib.blake2b(text, digest_size=8, key=self._key).digest(), "big")

    def page_visit(self, site_id: int, label: int) -> int:
        """The stored id of a page visit named by the sender's `page_visit_id` (or, without one,
        by its pageview's event id)."""
        return (self.hash("page_visit", site_id, label) & (2**63 - 1)) | 1

    @staticmethod
    def event(moment: dt.datetime, number: int) -> int:
        """Increasing in (timestamp, line) order, as live ids increase in arrival order (ties of
        equal timestamps keep the file's order), and the same on a re-send."""
        return (round(moment.timestamp() * 1000) << 20) | (number & 0xFFFFF)


@dataclass
class ChunkResult:
    lines: int
    rejected: list[tuple[int, str]]  # (line number, error), in line order
    dropped: dict[str, int]
    accepted: list[ParsedLine]


def _ip(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError("ip", "is required: the visitor's IP address")
    text = value.strip()
    try:
        if ":" in text:
            packed = socket.inet_pton(socket.AF_INET6, text)
            if packed[:12] == b"\x00" * 10 + b"\xff\xff":
                return socket.inet_ntop(socket.AF_INET, packed[12:])
            return socket.inet_ntop(socket.AF_INET6, packed)
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        raise FieldError("ip", "must be an IPv4 or IPv6 address") from None


def parse_chunk(data: bytes, first_number: int, now: dt.datetime, site_id: int, tz: ZoneInfo,
                hasher: VisitorHasher, ids: ImportIds) -> ChunkResult:
    """Decode and validate every non-blank line of `data` (line numbers from `first_number`).
    Bad lines are rejected with their number, bots and missing User-Agents dropped ("bot")."""
    result = ChunkResult(0, [], {}, [])
    accepted, dropped, visitor_id = result.accepted, result.dropped, hasher.visitor_id
    for number, raw in enumerate(data.split(b"\n"), first_number):
        if not raw.strip():
            continue
        result.lines += 1
        try:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise FieldError("line", "is not valid JSON") from None
            if not isinstance(body, dict):
                raise FieldError("line", "must be a JSON object (an /api/event body)")
            ip = _ip(body.pop("ip", None))
            user_agent = body.pop("user_agent", None)
            if not isinstance(user_agent, str):
                raise FieldError("user_agent", "is required: the visitor's User-Agent (a string)")
            if body.get("timestamp") is None:
                raise FieldError("timestamp", "is required (ISO 8601 with an offset, or unix seconds)")
            event = parse_event(body, now)
            try:
                page = parse_page_url(event.url)
            except ValueError as exc:
                raise FieldError("url", str(exc)) from None
        except FieldError as exc:
            result.rejected.append((number, str(exc)))
            continue
        if not user_agent.strip() or is_bot(user_agent):
            dropped["bot"] = dropped.get("bot", 0) + 1
            continue
        moment = event.timestamp
        event_id = ids.event(moment, number)
        user_id = page_visit_id = 0
        if event.type != "engagement":
            user_id = visitor_id(moment, tz, site_id, ip, user_agent)
            if event.type == "pageview":
                page_visit_id = ids.page_visit(site_id, event.page_visit_id or event_id)
        accepted.append(ParsedLine(number, moment, event, page, ip, user_agent, user_id, event_id,
                                   page_visit_id))
    return result


# --- worker processes --------------------------------------------------------------------------

_worker_hasher: VisitorHasher | None = None
_worker_ids: ImportIds | None = None


def _init_worker(secret: bytes) -> None:
    global _worker_hasher, _worker_ids
    _worker_hasher, _worker_ids = VisitorHasher(secret), ImportIds(secret)
    # A chunk makes ~10 objects a line that all live until it is sent: the collector would walk
    # them again and again for nothing. Collected once per chunk instead (_parse_in_worker).
    gc.disable()


def _parse_in_worker(data: bytes, first_number: int, now: dt.datetime, site_id: int,
                     tz_name: str) -> tuple:
    """`parse_chunk` in a worker; the answer as plain tuples (pickled far faster than objects).
    Equal pages and user agents are sent once (pickle shares repeated objects)."""
    assert _worker_hasher is not None and _worker_ids is not None
    gc.collect()
    result = parse_chunk(data, first_number, now, site_id, ZoneInfo(tz_name), _worker_hasher, _worker_ids)
    pages: dict[int, tuple] = {}
    agents: dict[str, str] = {}
    lines = []
    for item in result.accepted:
        page = pages.get(id(item.page))
        if page is None:
            page = pages[id(item.page)] = _fields(item.page)
        ua = agents.setdefault(item.user_agent, item.user_agent)
        lines.append((item.number, item.moment, _fields(item.event), page, item.ip, ua, item.user_id,
                      item.event_id, item.page_visit_id))
    return result.lines, result.rejected, result.dropped, lines


def _fields(record: Any) -> tuple:
    """A slots dataclass's field values, shallow (`dataclasses.astuple` deep-copies every dict
    and list: 4× the cost of parsing the line)."""
    return tuple(getattr(record, name) for name in record.__slots__)


def _from_worker(answer: tuple) -> ChunkResult:
    count, rejected, dropped, lines = answer
    pages: dict[int, PageUrl] = {}
    accepted = []
    for number, moment, event, page_values, *rest in lines:
        page = pages.get(id(page_values))
        if page is None:
            page = pages[id(page_values)] = PageUrl(*page_values)
        accepted.append(ParsedLine(number, moment, EventInput(*event), page, *rest))
    return ChunkResult(count, rejected, dropped, accepted)


def split_lines(data: bytes, chunk_lines: int) -> list[tuple[bytes, int]]:
    """(chunk, number of its first line): whole lines, about `chunk_lines` lines each."""
    chunks, start, number = [], 0, 1
    while start < len(data):
        end = start
        for _ in range(chunk_lines):
            end = data.find(b"\n", end) + 1
            if end == 0:
                end = len(data)
                break
        chunks.append((data[start:end], number))
        number += data.count(b"\n", start, end)
        start = end
    return chunks


class ParsePool:
    """Parses import requests in `workers` processes (started on first use, `spawn`ed)."""

    def __init__(self, secret: bytes, hasher: VisitorHasher, workers: int | None = None,
                 parallel_min_lines: int = PARALLEL_MIN_LINES, chunk_lines: int = CHUNK_LINES):
        self.hasher = hasher  # for requests parsed in the calling thread
        self.ids = ImportIds(secret)
        self._secret = secret
        self.workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        self.parallel_min_lines = parallel_min_lines
        self.chunk_lines = chunk_lines
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self._secret,))
        return self._pool

    def parse(self, data: bytes, now: dt.datetime, site_id: int, tz: ZoneInfo) -> list[ChunkResult]:
        """Every chunk's result, in line order."""
        if self.workers < 1 or tz.key is None or data.count(b"\n") < self.parallel_min_lines:
            return [parse_chunk(data, 1, now, site_id, tz, self.hasher, self.ids)]
        pool = self._executor()
        try:
            futures = [pool.submit(_parse_in_worker, chunk, first, now, site_id, tz.key)
                       for chunk, first in split_lines(data, self.chunk_lines)]
            return [_from_worker(future.result()) for future in futures]
        except BrokenProcessPool:  # a worker died (e.g. killed): parse here, new workers next time
            log.warning("import parse workers stopped; this request is parsed in-process")
            self._pool = None
            return [parse_chunk(data, 1, now, site_id, tz, self.hasher, self.ids)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
