"""Step 1: the JSON body of POST /api/query → a typed, validated `Query`.

Every rejection names the field and, where there is a fixed vocabulary, lists the valid values.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from engine.query.errors import QueryError, one_of
from engine.query.fields import (
    DEFAULT_LIMIT,
    DIMENSIONS,
    FILTER_DIMENSIONS,
    MAX_FILTER_VALUE_CHARS,
    MAX_FILTER_VALUES,
    MAX_FILTERS,
    MAX_LIMIT,
    MAX_OFFSET,
    METRICS,
    OPERATORS,
    ORDER_DIRS,
    PERIODS,
    PROP_KEY_CHARS,
    PROP_KEY_PATTERN,
    PROP_ONLY_METRICS,
    PROP_PREFIX,
    QUERY_FIELDS,
    TIME_DIMENSIONS,
    is_prop,
    prop_key,
)


@dataclass(frozen=True)
class Filter:
    dimension: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    metrics: tuple[str, ...] = ("visitors",)
    dimensions: tuple[str, ...] = ()
    period: str | None = "today"
    date_range: tuple[str, str] | None = None
    filters: tuple[Filter, ...] = ()
    order_by: str | None = None
    order_dir: str = "desc"
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    timezone: str = "UTC"
    include_comparison: bool = False
    # Whether limit/offset were given explicitly (a time-only series is complete by default).
    paged: bool = False

    @property
    def time_dimension(self) -> str | None:
        return next((d for d in self.dimensions if d in TIME_DIMENSIONS), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def uses_props(self) -> bool:
        """A `prop:<key>` dimension or filter: compiled by props.py (event rows)."""
        return _uses_props(self.dimensions, self.filters)


def _uses_props(dimensions: tuple[str, ...], filters: tuple[Filter, ...]) -> bool:
    return any(is_prop(d) for d in dimensions) or any(is_prop(f.dimension) for f in filters)


@functools.cache
def timezones() -> frozenset[str]:
    # "localtime" is the host's zone, not an IANA name (and unknown to ClickHouse).
    return frozenset(available_timezones() - {"localtime"}) | {"UTC"}


def check_timezone(value: Any, field_name: str = "timezone") -> str:
    if not isinstance(value, str):
        raise QueryError(field_name, "must be a string holding an IANA time zone name such as "
                                     "Europe/Berlin")
    if value not in timezones():
        raise QueryError(field_name, "unknown time zone; use an IANA name such as UTC, "
                                     "Europe/Berlin or America/New_York")
    return value


def _string_list(body: dict, name: str, valid: tuple[str, ...], default: tuple[str, ...],
                 props: bool = False) -> tuple[str, ...]:
    """A list of names from `valid` (and `prop:<key>` names when `props`)."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, list):
        raise QueryError(name, f"must be a list of strings; {one_of(valid)}")
    seen: list[str] = []
    for item in value:
        if props and isinstance(item, str) and is_prop(item):
            check_prop(item, name)
        elif not isinstance(item, str) or item not in valid:
            shown = item if isinstance(item, str) else type(item).__name__
            extra = f", or {PROP_PREFIX}<key>" if props else ""
            raise QueryError(name, f"unknown value {_quote(shown)}; {one_of(valid)}{extra}")
        if item in seen:
            raise QueryError(name, f"{item!r} is listed twice")
        seen.append(item)
    return tuple(seen)


def check_prop(name: str, field_name: str) -> None:
    """`prop:<key>`: a key of 1-100 characters from PROP_KEY_CHARS, else a 400 naming the field."""
    if not PROP_KEY_PATTERN.fullmatch(prop_key(name)):
        raise QueryError(field_name, f"invalid property {_quote(name)}: the key after {PROP_PREFIX!r} "
                                     f"must be 1-100 characters of {PROP_KEY_CHARS}")


def _quote(value: str) -> str:
    text = value if len(value) <= 60 else value[:57] + "..."
    return repr(text)


def _int(body: dict, name: str, low: int, high: int, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(name, f"must be a whole number from {low} to {high}")
    if isinstance(value, float):
        if not value.is_integer():
            raise QueryError(name, f"must be a whole number from {low} to {high}")
        value = int(value)
    if not low <= value <= high:
        raise QueryError(name, f"must be a whole number from {low} to {high}")
    return value


def parse_filters(value: Any, allowed: tuple[str, ...] = FILTER_DIMENSIONS,
                  props: bool = True) -> tuple[Filter, ...]:
    """The `filters` list; `allowed` is the dimensions that may be filtered, plus `prop:<key>`
    when `props`."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise QueryError("filters", "must be a list of {dimension, operator, value} objects")
    if len(value) > MAX_FILTERS:
        raise QueryError("filters", f"at most {MAX_FILTERS} filters")
    result = []
    for index, item in enumerate(value):
        where = f"filters[{index}]"
        if not isinstance(item, dict):
            raise QueryError(where, "must be an object {dimension, operator, value}")
        unknown = sorted(set(item) - {"dimension", "operator", "value"})
        if unknown:
            raise QueryError(f"{where}.{_safe_name(unknown[0])}",
                             "unknown field; valid fields: dimension, operator, value")
        dimension = item.get("dimension")
        if props and isinstance(dimension, str) and is_prop(dimension):
            check_prop(dimension, f"{where}.dimension")
        elif dimension not in allowed:
            extra = f", or {PROP_PREFIX}<key>" if props else ""
            raise QueryError(f"{where}.dimension",
                             f"{_describe(dimension)} cannot be filtered; {one_of(allowed)}{extra}")
        operator = item.get("operator")
        if operator not in OPERATORS:
            raise QueryError(f"{where}.operator", f"unknown operator {_describe(operator)}; "
                                                  f"{one_of(OPERATORS)}")
        raw = item.get("value")
        values = [raw] if isinstance(raw, str) else raw
        if not isinstance(values, list) or not values:
            raise QueryError(f"{where}.value", "must be a string or a non-empty list of strings")
        if len(values) > MAX_FILTER_VALUES:
            raise QueryError(f"{where}.value", f"at most {MAX_FILTER_VALUES} values")
        for entry in values:
            if not isinstance(entry, str):
                raise QueryError(f"{where}.value", "must be a string or a non-empty list of strings")
            if len(entry) > MAX_FILTER_VALUE_CHARS:
                raise QueryError(f"{where}.value",
                                 f"values may be at most {MAX_FILTER_VALUE_CHARS} characters")
        result.append(Filter(dimension, operator, tuple(dict.fromkeys(values))))
    return tuple(result)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "(missing)"
    return f"a {type(value).__name__}"


def _safe_name(name: Any) -> str:
    return _quote(str(name))[1:-1]


def parse_period(body: dict) -> tuple[str | None, tuple[str, str] | None]:
    """`period` or `date_range` of a request body (default period "today"): (period, None) or
    (None, (start, end)). Shared by /api/query and /api/funnel."""
    period = body.get("period")
    date_range = body.get("date_range")
    if period is not None and date_range is not None:
        raise QueryError("period", "give either period or date_range, not both")
    if date_range is not None:
        if not isinstance(date_range, dict):
            raise QueryError("date_range", 'must be an object {"start": ..., "end": ...}')
        extra = sorted(set(date_range) - {"start", "end"})
        if extra:
            raise QueryError(f"date_range.{_safe_name(extra[0])}", "unknown field; valid fields: start, end")
        for key in ("start", "end"):
            if not isinstance(date_range.get(key), str):
                raise QueryError(f"date_range.{key}", "is required: a date (YYYY-MM-DD) or an ISO "
                                                      "8601 datetime")
        return None, (date_range["start"], date_range["end"])
    if period is None:
        return "today", None
    if not isinstance(period, str) or period not in PERIODS:
        raise QueryError("period", f"unknown period {_describe(period)}; {one_of(PERIODS)} "
                                   "(or use date_range)")
    return period, None


def parse_query(body: Any) -> Query:
    if not isinstance(body, dict):
        raise QueryError("body", "must be a JSON object")
    unknown = sorted(set(body) - set(QUERY_FIELDS))
    if unknown:
        raise QueryError(_safe_name(unknown[0]), f"unknown field; {one_of(QUERY_FIELDS)}")

    metrics = _string_list(body, "metrics", METRICS, ("visitors",))
    if not metrics:
        raise QueryError("metrics", f"must list at least one metric; {one_of(METRICS)}")
    dimensions = _string_list(body, "dimensions", DIMENSIONS, (), props=True)
    if sum(d in TIME_DIMENSIONS for d in dimensions) > 1:
        raise QueryError("dimensions", f"at most one time dimension ({', '.join(TIME_DIMENSIONS)})")

    period, parsed_range = parse_period(body)
    filters = parse_filters(body.get("filters"))
    uses_props = _uses_props(dimensions, filters)
    for metric in metrics:
        if metric in PROP_ONLY_METRICS and not uses_props:
            raise QueryError("metrics", f"{metric!r} is only valid with a {PROP_PREFIX}<key> dimension "
                                        "or filter (and in funnels)")

    order_by = body.get("order_by")
    if order_by is not None and (not isinstance(order_by, str)
                                 or order_by not in metrics + dimensions):
        raise QueryError("order_by", f"must be one of the requested metrics or dimensions; "
                                     f"{one_of(metrics + dimensions)}")
    order_dir = body.get("order_dir", "desc")
    if order_dir not in ORDER_DIRS:
        raise QueryError("order_dir", f"unknown direction {_describe(order_dir)}; {one_of(ORDER_DIRS)}")

    limit = _int(body, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
    offset = _int(body, "offset", 0, MAX_OFFSET, 0)
    timezone = check_timezone(body.get("timezone", "UTC"))
    comparison = body.get("include_comparison", False)
    if not isinstance(comparison, bool):
        raise QueryError("include_comparison", "must be true or false")

    return Query(
        metrics=metrics,
        dimensions=dimensions,
        period=period,
        date_range=parsed_range,
        filters=filters,
        order_by=order_by,
        order_dir=order_dir,
        limit=limit,
        offset=offset,
        timezone=timezone,
        include_comparison=comparison,
        paged=body.get("limit") is not None or body.get("offset") is not None,
    )
