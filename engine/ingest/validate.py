"""Turn a POST /api/event JSON body into a typed EventInput, or say exactly which field is wrong."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from engine.errors import FieldError

EVENT_TYPES = ("pageview", "custom", "click", "form", "engagement")
MAX_URL = 4096
MAX_NAME = 200
MAX_META_VALUE = 2000
MAX_META_PAIRS = 50
MAX_FUTURE = dt.timedelta(minutes=5)
MAX_SESSION_ID = 2**53
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")

_STRING_FIELDS = {
    "url": MAX_URL,
    "referrer": MAX_URL,
    "name": MAX_NAME,
    "utm_source": 500,
    "utm_medium": 500,
    "utm_campaign": 500,
    "utm_content": 500,
    "utm_term": 500,
    "timezone": 64,
    "revenue_currency": 3,
    "page_visit_id": 16,
    "domain": 253,
}
KNOWN_FIELDS = frozenset(
    {
        "type", "url", "referrer", "name", "utm_source", "utm_medium", "utm_campaign",
        "utm_content", "utm_term", "screen_width", "timezone", "revenue_amount",
        "revenue_currency", "meta_keys", "meta_values", "session_id", "page_visit_id",
        "scroll_depth", "engaged_ms", "timestamp", "domain",
    }
)
_UNKNOWN = f"unknown field; valid fields: {', '.join(sorted(KNOWN_FIELDS))}"
_UTM_SET = frozenset(UTM_FIELDS)
_YEAR_2000 = 946_684_800


# Event validation errors are the engine's one field-error type (the old name stays importable).
InvalidEvent = FieldError


@dataclass(slots=True)
class EventInput:
    type: str
    url: str
    referrer: str = ""
    name: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    screen_width: int | None = None
    revenue_amount: float | None = None
    revenue_currency: str = ""
    meta_keys: list[str] = field(default_factory=list)
    meta_values: list[str] = field(default_factory=list)
    session_id: int | None = None
    page_visit_id: int | None = None
    scroll_depth: int | None = None
    engaged_ms: int | None = None
    timestamp: dt.datetime | None = None
    domain: str = ""


_INT_FIELDS = {
    "screen_width": (0, 100_000),
    "session_id": (1, MAX_SESSION_ID - 1),
    "scroll_depth": (0, 100),
    "engaged_ms": (0, 24 * 3600 * 1000),
}


def parse_event(body: Any, now: dt.datetime) -> EventInput:
    """Validate a decoded JSON body in one pass over its fields. `now` is the server clock
    (aware UTC). Raises FieldError naming the first bad field."""
    if not isinstance(body, dict):
        raise FieldError("body", "must be a JSON object")
    strings: dict[str, str] = {}
    ints: dict[str, int] = {}
    for name, value in body.items():
        if value is None:
            if name not in KNOWN_FIELDS:
                raise FieldError(name, _UNKNOWN)
            continue
        limit = _STRING_FIELDS.get(name)
        if limit is not None:
            if value.__class__ is not str:
                raise FieldError(name, "must be a string")
            if len(value) > limit:
                raise FieldError(name, f"is longer than {limit} characters")
            strings[name] = value.strip()
        elif name in _INT_FIELDS:
            ints[name] = _int(name, value, *_INT_FIELDS[name])
        elif name not in KNOWN_FIELDS:
            raise FieldError(name, _UNKNOWN)
    event_type = body.get("type", "pageview")
    if event_type not in EVENT_TYPES:
        raise FieldError("type", f"must be one of {', '.join(EVENT_TYPES)}")
    url = strings.get("url", "")
    if not url:
        raise FieldError("url", "is required (the full page URL, e.g. https://example.com/page)")
    currency = strings.get("revenue_currency", "").upper()
    event = EventInput(
        type=event_type,
        url=url,
        referrer=strings.get("referrer", ""),
        name=strings.get("name", ""),
        utm={k: strings[k] for k in UTM_FIELDS if strings.get(k)} if strings.keys() & _UTM_SET else {},
        screen_width=ints.get("screen_width"),
        revenue_currency=currency,
        session_id=ints.get("session_id"),
        scroll_depth=ints.get("scroll_depth"),
        engaged_ms=ints.get("engaged_ms"),
        domain=strings.get("domain", "").lower(),
    )
    if "timestamp" in body:
        event.timestamp = _timestamp(body["timestamp"], now)
    if "revenue_amount" in body or currency:
        event.revenue_amount = _revenue(body.get("revenue_amount"), currency)
    if "meta_keys" in body or "meta_values" in body:
        event.meta_keys, event.meta_values = _meta(body.get("meta_keys"), body.get("meta_values"))
    if strings.get("page_visit_id"):
        event.page_visit_id = _hex_id("page_visit_id", strings["page_visit_id"])
    _check_type_rules(event)
    return event


def _check_type_rules(event: EventInput) -> None:
    if event.type == "engagement":
        if event.page_visit_id is None:
            raise FieldError("page_visit_id", "is required for engagement events")
        if event.scroll_depth is None and event.engaged_ms is None:
            raise FieldError("scroll_depth", "an engagement event needs scroll_depth and/or engaged_ms")
    elif event.scroll_depth is not None or event.engaged_ms is not None:
        field_name = "scroll_depth" if event.scroll_depth is not None else "engaged_ms"
        raise FieldError(field_name, "is only valid on events of type 'engagement'")
    if event.type == "custom" and not event.name:
        raise FieldError("name", "is required for custom events")


def _int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(name, "must be a number")
    if isinstance(value, float):
        if not value.is_integer():
            raise FieldError(name, "must be a whole number")
        value = int(value)
    if not low <= value <= high:
        raise FieldError(name, f"must be between {low} and {high}")
    return value


def _hex_id(name: str, value: str) -> int:
    try:
        number = int(value, 16)
    except ValueError:
        raise FieldError(name, "must be the hex id returned by the pageview") from None
    if not 0 < number < 2**64:
        raise FieldError(name, "must be the hex id returned by the pageview")
    return number


def _revenue(amount: Any, currency: str) -> float | None:
    if amount is None:
        if currency:
            raise FieldError("revenue_amount", "is required when revenue_currency is given")
        return None
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        raise FieldError("revenue_amount", "must be a number")
    try:
        value = float(amount)
    except ValueError:
        raise FieldError("revenue_amount", "must be a number") from None
    if not math.isfinite(value) or abs(value) >= 1e12:
        raise FieldError("revenue_amount", "must be a finite number below 1e12")
    if len(currency) != 3 or not currency.isalpha():
        raise FieldError("revenue_currency", "must be a 3-letter ISO 4217 code such as USD or EUR")
    return round(value, 6)


def _meta(keys: Any, values: Any) -> tuple[list[str], list[str]]:
    keys = [] if keys is None else keys
    values = [] if values is None else values
    for name, items in (("meta_keys", keys), ("meta_values", values)):
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise FieldError(name, "must be a list of strings")
        if len(items) > MAX_META_PAIRS:
            raise FieldError(name, f"may hold at most {MAX_META_PAIRS} entries")
        if any(len(x) > MAX_META_VALUE for x in items):
            raise FieldError(name, f"entries may be at most {MAX_META_VALUE} characters")
    if len(keys) != len(values):
        raise FieldError("meta_values", "must have the same length as meta_keys")
    return list(keys), list(values)


def _timestamp(value: Any, now: dt.datetime) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError("timestamp", "must be ISO 8601 with an offset, or unix seconds")
    if value.__class__ is float or value.__class__ is int:
        # Unix seconds: checked as numbers (the common case of imports), no datetime arithmetic.
        if not math.isfinite(value) or not 0 < value < 1e11:
            raise FieldError("timestamp", "unix seconds out of range")
        if value > now.timestamp() + MAX_FUTURE.total_seconds():
            raise FieldError("timestamp", "is more than 5 minutes in the future")
        if value < _YEAR_2000:
            raise FieldError("timestamp", "is before the year 2000")
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, (int, float)):  # int/float subclasses
        if not math.isfinite(value) or not 0 < value < 1e11:
            raise FieldError("timestamp", "unix seconds out of range")
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError("timestamp", "must be ISO 8601 with an offset, or unix seconds") from None
        if moment.tzinfo is None:
            raise FieldError("timestamp", "needs a UTC offset, e.g. 2026-03-01T12:00:00+01:00")
        moment = moment.astimezone(dt.UTC)
    else:
        raise FieldError("timestamp", "must be ISO 8601 with an offset, or unix seconds")
    if moment > now + MAX_FUTURE:
        raise FieldError("timestamp", "is more than 5 minutes in the future")
    if moment.year < 2000:
        raise FieldError("timestamp", "is before the year 2000")
    return moment
