"""POST /api/import: bulk import of history (SPEC §8; engine/ingest/importer.py; docs/import.md).

Limits of one request (documented in docs/import.md; `clickport import` splits files to fit):
- body on the wire ≤ `CLICKPORT_IMPORT_MAX_BYTES` (64 MiB), checked from Content-Length and while
  reading → 413;
- gzip (`Content-Encoding: gzip`) inflated ≤ `IMPORT_MAX_INFLATED` (256 MiB) → 413 (a zip bomb
  is cut off while inflating, never held in memory);
- ≤ `CLICKPORT_IMPORT_MAX_LINES` (100,000) lines → 413;
- at most `IMPORT_CONCURRENCY` (2) imports are processed at once per process (more wait), so an
  import's memory (≈ 1 KiB per line while it is processed) stays bounded; one import per site at a
  time (the importer's site lock), so every request sees the sessions of the previous one.
- Numbered parts (`x-import-part: <import id>/<n>`): the parts of one import may be in flight
  together; each is parsed at once and stores after part n-1 has stored (409 if part n-1 failed,
  or did not come within 5 minutes).
Time: ≈ 20 µs of CPU per line plus the insert; the answer comes after every row is committed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import zlib
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.errors import FieldError
from server.errors import ApiError
from server.jsonresp import json_response
from server.requests import authenticate, read_body

IMPORT_MAX_INFLATED = 256 * 1024**2
IMPORT_CONCURRENCY = 2
PART_HEADER = "x-import-part"
_PART_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_executor = ThreadPoolExecutor(IMPORT_CONCURRENCY, thread_name_prefix="clickport-import")
_slots: dict[int, asyncio.Semaphore] = {}


def inflate(body: bytes, limit: int = IMPORT_MAX_INFLATED) -> bytes:
    """Gunzip with a cap on the inflated size (413 past it) and a clear 400 on bad data."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, f"body: not valid gzip data ({exc})") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise ApiError(413, f"body: more than {limit} bytes once inflated; split the file "
                            "(clickport import does)")
    if not inflater.eof:
        raise ApiError(400, "body: truncated gzip data")
    return data


def import_part(value: str | None) -> tuple[str, int, str] | None:
    """The `x-import-part: <import id>/<part number>` header of a numbered part (docs/import.md):
    parts of one import may be sent concurrently and store in their order."""
    if value is None:
        return None
    import_id, _, number = value.strip().rpartition("/")
    if not _PART_ID.fullmatch(import_id) or not number.isdigit() or not 1 <= int(number) <= 10**9:
        raise FieldError(PART_HEADER, "must be <import id>/<part number>: an id of 1–64 letters, digits, "
                                      "'.', '_' or '-' chosen by the client, and the part's number from 1")
    return import_id, int(number), PART_HEADER


async def post_import(request: Request) -> Response:
    _, site = authenticate(request, "tracker")
    state = request.app.state
    part = import_part(request.headers.get(PART_HEADER))
    try:
        return await _import(request, state, site, part)
    except BaseException:
        # Refused or cut off before it stored: the parts after it are refused as well (409).
        state.importer.part_failed(site.site_id, part)
        raise


async def _import(request: Request, state, site, part) -> Response:
    config = state.config
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise ApiError(415, "content-encoding: send the NDJSON as is or gzip-compressed (gzip)")
    body = await read_body(request, config.import_max_bytes)
    if encoding == "gzip":
        body = await asyncio.get_running_loop().run_in_executor(_executor, inflate, body)
    if not body.strip():
        raise ApiError(400, "body: expected NDJSON, one event per line; got an empty body")
    lines = body.count(b"\n") + (not body.endswith(b"\n"))
    if lines > config.import_max_lines:
        raise ApiError(413, f"body: {lines} lines, more than {config.import_max_lines} per request; "
                            "split the file (clickport import does)")
    loop = asyncio.get_running_loop()
    slots = _slots.setdefault(id(loop), asyncio.Semaphore(IMPORT_CONCURRENCY))
    async with slots:
        result = await loop.run_in_executor(
            _executor, state.importer.run, site, body, dt.datetime.now(dt.UTC), None, part)
    return json_response(result.as_dict())


ROUTES: list = [Route("/api/import", post_import, methods=["POST"])]
