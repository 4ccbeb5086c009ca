"""The breakdown GETs: thin aliases that turn query-string parameters into a POST /api/query body.

Each takes start_date / end_date (a date or ISO datetime; end exclusive; default: the last 30 days
including today, in the request time zone), limit, offset and timezone; /api/tech also `type`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from engine.query.errors import QueryError, one_of
from engine.query.fields import NOT_SET, PROP_KEY_CHARS, PROP_KEY_PATTERN, PROP_PREFIX
from engine.query.parse import check_timezone
from engine.query.periods import local_date, parse_instant

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Breakdown:
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]
    # Drop the "(not set)" row (e.g. referrers and UTM tables list only real values).
    skip_not_set: tuple[str, ...] = ()


BREAKDOWNS: dict[str, Breakdown] = {
    "pages": Breakdown(("page",), ("visitors", "pageviews", "avg_scroll", "avg_duration")),
    "sources": Breakdown(("source",), ("visitors", "sessions", "bounce_rate", "avg_duration")),
    "referrers": Breakdown(("referrer_url",), ("visitors", "sessions", "bounce_rate"),
                           ("referrer_url",)),
    "countries": Breakdown(("country",), ("visitors", "sessions", "pageviews")),
    "campaigns": Breakdown(("utm_campaign", "utm_source", "utm_medium"),
                           ("visitors", "sessions", "bounce_rate", "avg_duration"),
                           ("utm_campaign",)),
    "utm-sources": Breakdown(("utm_source",), ("visitors", "sessions", "bounce_rate"),
                             ("utm_source",)),
    "utm-mediums": Breakdown(("utm_medium",), ("visitors", "sessions", "bounce_rate"),
                             ("utm_medium",)),
    "utm-content": Breakdown(("utm_content",), ("visitors", "sessions", "bounce_rate"),
                             ("utm_content",)),
    "utm-term": Breakdown(("utm_term",), ("visitors", "sessions", "bounce_rate"), ("utm_term",)),
    "entry-pages": Breakdown(("entry_page",), ("sessions", "visitors", "bounce_rate",
                                               "avg_duration"), ("entry_page",)),
    "exit-pages": Breakdown(("exit_page",), ("sessions", "visitors", "pageviews"), ("exit_page",)),
}
# /api/props?key=K: the property breakdown (without `key`: the keys seen in the range, props.py).
PROPS_METRICS = ("visitors", "sessions", "events")
TECH_TYPES = ("device", "browser", "os")
TECH_METRICS = ("visitors", "sessions", "bounce_rate", "avg_duration")

COMMON_PARAMS = ("start_date", "end_date", "limit", "offset", "timezone")


def check_params(params: dict[str, str], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise QueryError(unknown[0][:60], f"unknown query parameter; {one_of(allowed)}")


def _int_param(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(r"-?[0-9]{1,12}", text):  # not isdigit(): it accepts "²", which int() refuses
        raise QueryError(name, "must be a whole number")
    return int(text)


def date_range_params(params: dict[str, str], timezone: str, now: dt.datetime,
                      default_days: int = DEFAULT_DAYS) -> dict[str, str]:
    """start_date/end_date → a date_range body; missing ends default to the last 30 days."""
    tz_name = check_timezone(timezone)
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    start = params.get("start_date")
    end = params.get("end_date")
    if end is None:
        if start is not None:
            parse_instant(start, tz, "start_date")
        end = (local_date(now, tz) + dt.timedelta(days=1)).isoformat()
    else:
        parse_instant(end, tz, "end_date")
    if start is None:
        end_instant, end_day = parse_instant(end, tz, "end_date")
        if end_day is not None:
            start = (end_day - dt.timedelta(days=default_days)).isoformat()
        else:
            start = (end_instant - dt.timedelta(days=default_days)).isoformat()
    return {"start": start, "end": end}


def breakdown_body(name: str, params: dict[str, str], now: dt.datetime) -> tuple[dict[str, Any], Breakdown]:
    if name == "props":
        check_params(params, COMMON_PARAMS + ("key",))
        key = params.get("key")
        if key is None or not PROP_KEY_PATTERN.fullmatch(key):
            raise QueryError("key", f"is required: a property key of 1-100 characters of {PROP_KEY_CHARS}")
        spec = Breakdown((PROP_PREFIX + key,), PROPS_METRICS)
    elif name == "tech":
        check_params(params, COMMON_PARAMS + ("type",))
        kind = params.get("type")
        if kind not in TECH_TYPES:
            raise QueryError("type", f"is required; {one_of(TECH_TYPES)}")
        spec = Breakdown((kind,), TECH_METRICS)
    else:
        check_params(params, COMMON_PARAMS)
        spec = BREAKDOWNS[name]
    timezone = params.get("timezone", "UTC")
    body: dict[str, Any] = {
        "metrics": list(spec.metrics),
        "dimensions": list(spec.dimensions),
        "date_range": date_range_params(params, timezone, now),
        "timezone": timezone,
        "filters": [{"dimension": d, "operator": "is_not", "value": NOT_SET}
                    for d in spec.skip_not_set],
    }
    for key in ("limit", "offset"):
        value = _int_param(params, key)
        if value is not None:
            body[key] = value
    return body, spec
