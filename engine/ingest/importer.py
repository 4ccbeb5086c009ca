"""Bulk import of history (POST /api/import, `clickport import`): NDJSON events in, the same rows
live ingestion makes, inserted before the answer.

Each line is a POST /api/event body plus the required `timestamp`, `ip` (the visitor's address)
and `user_agent`. The rules (SPEC §8, docs/import.md):

- A bad line is rejected with its line number and never stops the good ones.
- Drops as for live events: bots and missing User-Agents ("bot"). There is no DNT header, and no
  per-IP rate limit (a history file holds many events per address by nature).
- Same enrichment (`engine.ingest.pipeline.session_attrs`), same rows (`event_row`,
  `engagement_row`), same visitor ids (`VisitorHasher`), same session rules, applied in timestamp
  order (line order breaks ties): `session_id` continues that session; otherwise the visitor's
  session continues if its last event is at most 30 minutes older, else a new one starts. A
  visitor's sessions already in the store (earlier imports, live traffic) are looked up once per
  request, so a session continues across requests sent in time order.
- Engagement lines: a pageview may carry a `page_visit_id` of the sender's choosing (hex); an
  engagement line with the same `page_visit_id` updates that page visit. Otherwise the id must be
  one the server returned (a stored page visit).
- Re-sending stores nothing twice: event ids come from (timestamp, line number), new session ids
  and page-visit ids are keyed hashes of the content, so the same body yields byte-identical rows;
  every block is inserted with a deduplication token that is the hash of its bytes, and ClickHouse
  skips a block it has seen (within its deduplication window: the last 10,000 inserts per table).
- Durable like /api/event: the answer comes after the engine has committed every block.
- Parts: a client may send the requests of one import concurrently if it numbers them (`part`:
  the import's id and the request's number from 1). Each part is parsed at once, and waits for
  its turn (the previous part committed) only for sessions, rows and inserts, so it sees the
  sessions of every earlier part exactly as if they had been sent one after another, while its
  parse overlaps the previous part's work (`clickport import --in-flight 2`).

Two stages: decoding, validation, drop rules and visitor ids per line need no shared state
(`engine.ingest.importparse`: in the request's thread, or in worker processes if configured);
sessions, rows and inserts then run on one thread in timestamp order, with the engine inserting one
block while the next is built.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from engine.enrich.geo import GeoLocator
from engine.errors import FieldError
from engine.ingest.identity import MAX_SESSION_ID, VisitorHasher
from engine.ingest.importparse import ParsedLine, ParsePool
from engine.ingest.pipeline import engagement_row, event_row, session_attrs
from engine.ingest.rows import EVENT_COLUMNS, SESSION_ATTRS, SPOOL_FORMAT, encode_row
from engine.ingest.sessions import INACTIVITY, PageVisitState, SessionState
from engine.sites import Site
from engine.store import Store

MAX_LISTED_REJECTIONS = 100
PART_WAIT_S = 300.0  # how long a numbered part waits for the previous one before a 409
BLOCK_ROWS = 25_000  # rows per insert: big enough to be cheap, small enough to overlap Python work
_NO_VISIT = ("page_visit_id: no page visit with this id (send its pageview, with the same "
             "page_visit_id, earlier in the import, or use an id the server returned)")


@dataclass
class ImportResult:
    stored: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_count: int = 0
    lines: int = 0

    def reject(self, line: int, error: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_LISTED_REJECTIONS:
            self.rejected.append({"line": line, "error": error})

    def as_dict(self) -> dict[str, Any]:
        return {"stored": self.stored, "dropped": self.dropped, "rejected": self.rejected,
                "rejected_count": self.rejected_count, "lines": self.lines}


class PartOutOfOrder(FieldError):
    """A numbered part that may not store: the part before it failed, or never came."""

    def __init__(self, header: str, import_id: str, number: int, failed: int | None):
        why = (f"part {failed} of this import failed: re-send it, then this one" if failed is not None
               else f"part {number - 1} did not arrive and store within {PART_WAIT_S:.0f} s: send every "
                    "part, numbered from 1")
        super().__init__(header, f"import {import_id!r}, part {number} was not stored, as {why}",
                         status=409)


@dataclass
class _Parts:
    """The turn of one numbered import: the next part that may store, and the first that failed."""

    next: int = 1
    failed: int | None = None
    used: float = 0.0
    turn: threading.Condition = field(default_factory=threading.Condition)


class Importer:
    """One per server. `run` is synchronous (call it from a worker thread)."""

    def __init__(self, store: Store, hasher: VisitorHasher, secret: bytes, geo: GeoLocator,
                 parse_workers: int | None = None):
        self.store = store
        self.hasher = hasher
        self.geo = geo
        # Stage 1 (decode, validate, visitor ids) in worker processes for large requests.
        self.parser = ParsePool(secret, hasher, workers=parse_workers)
        self._site_locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._parts: dict[tuple[int, str], _Parts] = {}
        self.stored_rows = 0
        # Called after each committed block (seconds, rows, payload), from the inserting thread:
        # the importer's "after insert" point, like BatchWriter._after_insert for live events.
        self.on_insert: Callable[[float, int, bytes], None] | None = None

    def site_lock(self, site_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._site_locks.setdefault(site_id, threading.Lock())

    def _parts_of(self, site_id: int, import_id: str) -> _Parts:
        with self._locks_guard:
            now = time.monotonic()
            for key in [k for k, v in self._parts.items() if now - v.used > 2 * PART_WAIT_S]:
                del self._parts[key]
            parts = self._parts.setdefault((site_id, import_id), _Parts())
            parts.used = now
            return parts

    def part_failed(self, site_id: int, part: tuple[str, int, str] | None) -> None:
        """A numbered part that will not store (refused before it ran, or failed): the parts after
        it are refused too (409) until it is re-sent and stored, so none of them stores sessions
        that would differ from those of an import sent in order."""
        if part is None:
            return
        parts = self._parts_of(site_id, part[0])
        with parts.turn:
            if parts.next <= part[1]:
                parts.failed = part[1] if parts.failed is None else min(parts.failed, part[1])
            parts.turn.notify_all()

    @contextmanager
    def _turn(self, site_id: int, part: tuple[str, int, str] | None) -> Iterator[None]:
        """One import per site at a time; a numbered part (import id, number, header name for
        errors) also waits until every part before it has stored (a re-sent earlier part does not
        wait). The next part's turn comes when this one has stored."""
        if part is None:
            with self.site_lock(site_id):
                yield
            return
        import_id, number, header = part
        parts = self._parts_of(site_id, import_id)
        with parts.turn:
            def ready() -> bool:
                return parts.next >= number or (parts.failed is not None and parts.failed < number)

            if not parts.turn.wait_for(ready, timeout=PART_WAIT_S) or parts.next < number:
                raise PartOutOfOrder(header, import_id, number, parts.failed)
        with self.site_lock(site_id):
            yield
        with parts.turn:
            parts.next = max(parts.next, number + 1)
            if parts.failed == number:
                parts.failed = None
            parts.used = time.monotonic()
            parts.turn.notify_all()

    def run(self, site: Site, data: bytes, now: dt.datetime,
            progress: Callable[[int], None] | None = None,
            part: tuple[str, int, str] | None = None) -> ImportResult:
        """`part`: (import id, part number from 1, the header it came in) of a numbered part."""
        try:
            return self._run(site, data, now, progress, part)
        except BaseException:
            self.part_failed(site.site_id, part)
            raise

    def _run(self, site: Site, data: bytes, now: dt.datetime,
             progress: Callable[[int], None] | None,
             part: tuple[str, int, str] | None) -> ImportResult:
        result = ImportResult()
        lines: list[ParsedLine] = []
        for chunk in self.parser.parse(data, now, site.site_id, site.tz):  # in line order
            result.lines += chunk.lines
            for number, error in chunk.rejected:
                result.reject(number, error)
            for reason, count in chunk.dropped.items():
                result.dropped[reason] = result.dropped.get(reason, 0) + count
            lines += chunk.accepted
        lines.sort(key=lambda item: (item.moment, item.number))
        # One import per site at a time: each request sees the sessions of the previous one.
        with self._turn(site.site_id, part):
            self._import(site, lines, result, progress)
        return result

    def close(self) -> None:
        self.parser.close()

    # --- sessions, rows, inserts --------------------------------------------------------------

    def _import(self, site: Site, lines: list[ParsedLine], result: ImportResult,
                progress: Callable[[int], None] | None) -> None:
        if not lines:
            return
        site_id, ids = site.site_id, self.parser.ids
        user_ids = [item.user_id for item in lines]
        by_visitor = self._stored_sessions(site_id, lines, user_ids)
        by_id: dict[int, SessionState] = {}
        visits: dict[int, PageVisitState] = {}
        block: list[bytes] = []
        inserter = _BlockInserter(self.store, self.on_insert)
        try:
            for item, user_id in zip(lines, user_ids, strict=True):
                event = item.event
                moment = item.moment
                event_id = item.event_id  # from (timestamp, line): the same on a re-send
                if event.type == "engagement":
                    visit = visits.get(event.page_visit_id) or self._stored_visit(
                        site_id, event.page_visit_id, by_id, visits)
                    if visit is None:
                        result.reject(item.number, _NO_VISIT)
                        continue
                    moment = max(moment, visit.session.start)
                    row = engagement_row(site_id, moment, event, visit, item.page, event_id)
                else:
                    session = None
                    if event.session_id is not None:
                        session = by_id.get(event.session_id) or self._stored_session_by_id(
                            site_id, event.session_id, by_id)
                    if session is None:
                        session = by_visitor.get(user_id)
                        if session is not None and not (
                                session.start <= moment and moment - session.last_seen <= INACTIVITY):
                            session = None
                    if session is None:
                        session = SessionState(
                            site_id, ids.hash("session", site_id, user_id, moment.timestamp())
                            % (MAX_SESSION_ID - 1) + 1, moment, moment, user_id,
                            session_attrs(self.geo, site, event, item.page, item.ip, item.user_agent))
                    moment = max(moment, session.start)
                    if moment > session.last_seen:
                        session.last_seen = moment
                    by_id[session.session_id] = session
                    by_visitor[session.user_id] = session
                    page_visit_id = 0
                    if event.type == "pageview":
                        # The sender's own page_visit_id (if any) names this page visit for
                        # the engagement lines that follow; the stored id is derived from it.
                        label = event.page_visit_id
                        page_visit_id = item.page_visit_id  # ids.page_visit(site, label or event id)
                        visit = PageVisitState(session, page_visit_id, item.page.hostname,
                                               item.page.pathname)
                        visits[label or page_visit_id] = visit
                    row = event_row(site_id, moment, event, session, page_visit_id, item.page, event_id)
                block.append(encode_row(row))
                if len(block) >= BLOCK_ROWS:
                    inserter.submit(block)
                    result.stored += len(block)
                    block = []
                    if progress is not None:
                        progress(result.stored)
            if block:
                inserter.submit(block)
                result.stored += len(block)
        finally:
            inserter.finish()  # raises if an insert failed: nothing is acknowledged then
        self.stored_rows += result.stored

    def _stored_sessions(
        self, site_id: int, lines: list[ParsedLine], user_ids: list[int]
    ) -> dict[int, SessionState]:
        """Per visitor of this request, the stored session the live path would find for its first
        event here (the visitor's latest session that started at most a day before it)."""
        first: dict[int, dt.datetime] = {}
        for item, uid in zip(lines, user_ids, strict=True):
            if uid and uid not in first:
                first[uid] = item.moment
        if not first:
            return {}
        since = min(first.values()) - dt.timedelta(days=1)
        attrs = ", ".join(f"any({name})" for name in SESSION_ATTRS)
        found: dict[int, SessionState] = {}
        uids = list(first)
        for start in range(0, len(uids), 20_000):
            rows = self.store.rows(
                f"SELECT session_id, session_start, any(user_id) AS uid, max(last_event), {attrs} "
                "FROM sessions WHERE site_id = {site:UInt32} "
                "AND session_start >= {since:DateTime64(3, 'UTC')} "
                "AND user_id IN {uids:Array(UInt64)} GROUP BY session_id, session_start",
                {"site": site_id, "since": since, "uids": uids[start:start + 20_000]},
            )
            for sid, session_start, uid, last, *values in rows:
                if session_start < first[uid] - dt.timedelta(days=1):
                    continue
                current = found.get(uid)
                if current is None or current.last_seen < last:
                    found[uid] = SessionState(site_id, sid, session_start, last, uid, tuple(values))
        return found

    def _stored_session_by_id(self, site_id: int, session_id: int,
                              by_id: dict[int, SessionState]) -> SessionState | None:
        attrs = ", ".join(f"any({name})" for name in SESSION_ATTRS)
        rows = self.store.rows(
            f"SELECT session_id, session_start, any(user_id), max(last_event), {attrs} FROM sessions "
            "WHERE site_id = {site:UInt32} AND session_id = {sid:UInt64} "
            "GROUP BY session_id, session_start LIMIT 1",
            {"site": site_id, "sid": session_id},
        )
        if not rows:
            return None
        sid, start, uid, last, *values = rows[0]
        session = SessionState(site_id, sid, start, last, uid, tuple(values))
        by_id[sid] = session
        return session

    def _stored_visit(self, site_id: int, page_visit_id: int | None, by_id: dict[int, SessionState],
                      visits: dict[int, PageVisitState]) -> PageVisitState | None:
        """A page visit stored earlier: one whose pageview carried this id as its label (in an
        earlier request of the import: the stored id derives from the label), or an id the
        server returned."""
        if not page_visit_id:
            return None
        derived = self.parser.ids.page_visit(site_id, page_visit_id)
        rows = self.store.rows(
            "SELECT page_visit_id, any(session_id), any(pathname), max(max_scroll), max(max_engaged_ms) "
            "FROM page_visits WHERE site_id = {site:UInt32} AND page_visit_id IN ({pv:UInt64}, {raw:UInt64}) "
            "GROUP BY session_start, page_visit_id ORDER BY page_visit_id = {pv:UInt64} DESC LIMIT 1",
            {"site": site_id, "pv": derived, "raw": page_visit_id},
        )
        if not rows:
            return None
        found_id, session_id, pathname, max_scroll, max_engaged = rows[0]
        session = by_id.get(session_id) or self._stored_session_by_id(site_id, session_id, by_id)
        if session is None:
            return None
        visit = PageVisitState(session, found_id, "", pathname, max_scroll, max_engaged)
        visits[page_visit_id] = visit
        return visit


class _BlockInserter:
    """Inserts blocks on one background thread while the caller builds the next (the engine works
    with the GIL released). Each block's deduplication token is the hash of its bytes."""

    def __init__(self, store: Store, on_insert: Callable[[float, int, bytes], None] | None = None):
        self.store = store
        self.on_insert = on_insert
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0

    def submit(self, lines: list[bytes]) -> None:
        self._join()
        payload = b"".join(lines)
        self._thread = threading.Thread(target=self._insert, args=(payload,), daemon=True)
        self._thread.start()

    def _insert(self, payload: bytes) -> None:
        started = time.perf_counter()
        token = "import:" + hashlib.sha256(payload).hexdigest()
        delay = 0.1
        for attempt in range(6):
            try:
                self.store.insert_raw("events", payload, EVENT_COLUMNS, SPOOL_FORMAT, token)
                elapsed = time.perf_counter() - started
                self.seconds += elapsed
                if self.on_insert is not None:
                    self.on_insert(elapsed, payload.count(b"\n"), payload)
                return
            except Exception as exc:  # noqa: BLE001 - retried with the same token, then reported
                if attempt == 5:
                    self._error = exc
                    return
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def finish(self) -> None:
        self._join()
