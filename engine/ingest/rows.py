"""The events table's column order, and the session attributes every event of a session shares."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson

# Acquisition and client attributes: taken from a session's first event, copied onto every event.
SESSION_ATTRS: tuple[str, ...] = (
    "referrer_url", "source", "channel",
    "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "click_id_param",
    "country", "region", "city",
    "device", "browser", "browser_version", "os", "os_version", "screen",
)

EVENT_COLUMNS: tuple[str, ...] = (
    "site_id", "timestamp", "event_id", "type", "name", "user_id", "session_id",
    "session_start", "page_visit_id", "hostname", "pathname", "url",
    *SESSION_ATTRS,
    "scroll_depth", "engaged_ms", "engaged_delta_ms", "revenue_amount", "revenue_currency",
    "meta.key", "meta.value",
)


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


# --- spool codec: a row as one JSON line, and back ------------------------------------------

_TIME_INDEXES = tuple(EVENT_COLUMNS.index(name) for name in ("timestamp", "session_start"))
_DECIMAL_INDEX = EVENT_COLUMNS.index("revenue_amount")


def encode_row(row: tuple) -> bytes:
    values = list(row)
    for i in _TIME_INDEXES:
        values[i] = round(values[i].timestamp() * 1000)
    values[_DECIMAL_INDEX] = str(values[_DECIMAL_INDEX])
    return orjson.dumps(values) + b"\n"


def decode_row(line: bytes) -> tuple:
    values = orjson.loads(line)
    for i in _TIME_INDEXES:
        values[i] = dt.datetime.fromtimestamp(values[i] / 1000, dt.UTC)
    values[_DECIMAL_INDEX] = Decimal(values[_DECIMAL_INDEX])
    return tuple(values)
