"""The query language's vocabulary: metrics, dimensions, operators, periods and empty-value labels.

Everything that can become an SQL identifier is listed here; the compiler only ever emits
identifiers taken from these tables (never from the request).
"""

from __future__ import annotations

import re

METRICS: tuple[str, ...] = (
    "visitors", "sessions", "pageviews", "views_per_visit", "bounce_rate", "avg_duration",
    "avg_scroll", "clickers", "events",
)
# Valid only with a prop:<key> dimension or filter (SPEC §8): matching events.
PROP_ONLY_METRICS: tuple[str, ...] = ("events",)

TIME_DIMENSIONS: tuple[str, ...] = ("hour", "date", "week", "month")

# Acquisition and client attributes: stored on every event and on the session row.
SESSION_DIMENSIONS: tuple[str, ...] = (
    "source", "channel", "referrer_url",
    "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
    "country", "region", "city",
    "device", "browser", "browser_version", "os", "os_version", "screen",
)

PAGE_DIMENSIONS: tuple[str, ...] = ("page", "entry_page", "exit_page")

DIMENSIONS: tuple[str, ...] = (
    SESSION_DIMENSIONS[:3] + SESSION_DIMENSIONS[3:8] + PAGE_DIMENSIONS + SESSION_DIMENSIONS[8:]
    + TIME_DIMENSIONS
)

FILTER_DIMENSIONS: tuple[str, ...] = tuple(d for d in DIMENSIONS if d not in TIME_DIMENSIONS)

OPERATORS: tuple[str, ...] = (
    "is", "is_not", "contains", "not_contains", "starts_with", "ends_with",
)
# A list of values ORs for these operators and ANDs for the negative ones.
NEGATIVE_OPERATORS = frozenset({"is_not", "not_contains"})

PERIODS: tuple[str, ...] = (
    "realtime", "today", "yesterday", "7d", "14d", "30d", "90d", "12m", "all",
)

ORDER_DIRS: tuple[str, ...] = ("asc", "desc")

QUERY_FIELDS: tuple[str, ...] = (
    "metrics", "dimensions", "period", "date_range", "filters", "order_by", "order_dir",
    "limit", "offset", "timezone", "include_comparison",
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_OFFSET = 1_000_000_000
MAX_FILTER_VALUES = 1000
MAX_FILTER_VALUE_CHARS = 2000
MAX_FILTERS = 50
MAX_BUCKETS = 100_000

NOT_SET = "(not set)"
# What an empty stored value is called in results (and what a filter may use to match it).
EMPTY_LABELS: dict[str, str] = {d: NOT_SET for d in SESSION_DIMENSIONS + ("entry_page", "exit_page")}
EMPTY_LABELS["source"] = "Direct / None"
EMPTY_LABELS["channel"] = "Direct"


# Custom properties (the events' meta keys): dimension and filter `prop:<key>`. The key is a
# bound parameter in the SQL, never an identifier; its character set is still restricted.
PROP_PREFIX = "prop:"
PROP_KEY_CHARS = "A-Za-z0-9_.:-"
PROP_KEY_PATTERN = re.compile(f"[{PROP_KEY_CHARS}]{{1,100}}")
# The value of an event that does not carry the key.
NONE_LABEL = "(none)"


def is_time(dimension: str) -> bool:
    return dimension in TIME_DIMENSIONS


def is_prop(dimension: str) -> bool:
    return dimension.startswith(PROP_PREFIX)


def prop_key(dimension: str) -> str:
    return dimension[len(PROP_PREFIX):]
