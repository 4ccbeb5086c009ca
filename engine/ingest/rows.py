"""The event row: one named record (`EventRow`) in the events table's column order, the session
attributes every event of a session shares, and the row's spool encoding.

`EventRow` is the only definition of an event row. Live ingestion and bulk import build it in one
place (`engine.ingest.pipeline`); the load-test seeder fills the same record with Arrow columns.

Spool encoding: one line of ClickHouse's `JSONCompactEachRow` per event, in `EVENT_COLUMNS` order,
written when the event is accepted. A flush hands those bytes to the engine unchanged
(`INSERT ... FORMAT JSONCompactEachRow`), so an insert converts no Python values: the engine
parses the batch in native code, with the GIL released.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

# Acquisition and client attributes: taken from a session's first event, copied onto every event.
SESSION_ATTRS: tuple[str, ...] = (
    "referrer_url", "source", "channel",
    "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "click_id_param",
    "country", "region", "city",
    "device", "browser", "browser_version", "os", "os_version", "screen",
)


class EventRow(NamedTuple):
    """One row of the `events` table. Field order is the table's insert column order."""

    site_id: Any
    timestamp: Any            # aware UTC datetime
    event_id: Any
    type: Any
    name: Any
    user_id: Any
    session_id: Any
    session_start: Any        # aware UTC datetime
    page_visit_id: Any
    hostname: Any
    pathname: Any
    url: Any
    referrer_url: Any
    source: Any
    channel: Any
    utm_source: Any
    utm_medium: Any
    utm_campaign: Any
    utm_content: Any
    utm_term: Any
    click_id_param: Any
    country: Any
    region: Any
    city: Any
    device: Any
    browser: Any
    browser_version: Any
    os: Any
    os_version: Any
    screen: Any
    scroll_depth: Any         # None unless an engagement update
    engaged_ms: Any           # None unless an engagement update
    engaged_delta_ms: Any
    revenue_amount: Any       # Decimal
    revenue_currency: Any
    meta_key: Any             # list[str]  (column `meta.key`)
    meta_value: Any           # list[str]  (column `meta.value`)


# Field name → column name (the Nested `meta` columns have a dot).
EVENT_COLUMNS: tuple[str, ...] = tuple(
    {"meta_key": "meta.key", "meta_value": "meta.value"}.get(name, name) for name in EventRow._fields
)
assert EventRow._fields[12:30] == SESSION_ATTRS, "EventRow's session attributes drifted"

SPOOL_FORMAT = "JSONCompactEachRow"


def screen_class(width: int | None) -> str:
    """Screen widths are stored as a size class, not a raw number (coarser, and more useful)."""
    if width is None or width <= 0:
        return ""
    if width < 576:
        return "Mobile"
    if width < 992:
        return "Tablet"
    if width < 1440:
        return "Laptop"
    return "Desktop"


# --- spool codec: a row as one JSONCompactEachRow line -----------------------------------------

_TS, _START, _REVENUE = (EventRow._fields.index(n) for n in ("timestamp", "session_start", "revenue_amount"))


def _seconds(moment: dt.datetime) -> str:
    """DateTime64(3) as exact unix seconds text ("1764412830.123"): parsed without float error."""
    ms = round(moment.timestamp() * 1000)
    return f"{ms // 1000}.{ms % 1000:03d}"


def encode_row(row: EventRow) -> bytes:
    values = list(row)
    values[_TS] = _seconds(row.timestamp)
    values[_START] = _seconds(row.session_start)
    values[_REVENUE] = str(row.revenue_amount)
    return orjson.dumps(values) + b"\n"


def decode_row(line: bytes) -> EventRow:
    """A spool line back to a record (tests and tools; the writer inserts the bytes as they are).
    Reads lines of the format before `JSONCompactEachRow` too (times as integer milliseconds)."""
    values = orjson.loads(line)
    for i in (_TS, _START):
        value = values[i]
        ms = value if isinstance(value, int) else round(float(value) * 1000)
        values[i] = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    values[_REVENUE] = Decimal(values[_REVENUE])
    return EventRow(*values)


# Spool lines written before the JSONCompactEachRow format carried times as integer milliseconds
# (`[site_id,<ms>,...`); the engine would read those as seconds. Re-encode them on replay.
_LEGACY = re.compile(rb"\[\d+,\d")


def insert_payload(lines: list[bytes]) -> bytes:
    """The bytes a flush hands to the engine for these spool lines. The spool is append-only, so
    legacy lines, if any, come first: checking the first line is enough."""
    if lines and _LEGACY.match(lines[0]):
        lines = [encode_row(decode_row(line)) if _LEGACY.match(line) else line for line in lines]
    return b"".join(lines)
