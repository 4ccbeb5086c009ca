"""Step 3b: which part of a query the pre-aggregated rollup tables answer.

``rollup_dims`` holds, per site-local day (grain 1) and month (grain 2), dimension and value, the
additive metric components (metrics.py) of the query "this dimension, this bucket" computed over
raw data by the same compiler (engine/rollups.py seals them); ``rollup_pairs_v2`` holds the same
for the pairs of dimensions in PAIRS (value, value2; sorted by value before the bucket, so a pair
filtered on its first value reads one contiguous run over any range), the filters a dashboard
sets most (source, channel, country, device, page) against its panels. A query is answered from them when

- the dimensions it groups by or filters on, time aside, are none (the site totals, key ''), one
  dimension D (a session attribute, ``page``, ``entry_page`` or ``exit_page``), or one pair of
  PAIRS; and its time dimension, if any, is ``date``, ``week`` or ``month`` in the site's own time
  zone (buckets are site-local days);
- every dimension it only filters on (does not group by) has rows that add up under the filter:
  exact for every component that is a count or sum over sessions, pageviews or page visits (each
  has one value of it); distinct visitors add up across values only for attributes fixed per
  visitor-day (the visitor id hashes IP and User-Agent), or for a single ``is`` value; and under a
  page or entry/exit filter the metric means the same for the filter as for the dimension's row
  (see ROW_EQUALS_FILTER);
- no metric counts distinct sessions by event time (``sessions``/``clickers`` with ``page``).

Then whole site-days of the range that are sealed and untouched since come from the rollup (whole
months from month rows when the query has no time dimension or ``month``), and the rest — the
partial days at the range edges, and any day whose data changed after its seal (late events,
continued sessions, backfills) — from raw data (compile.compile_components over "base windows").
Components of disjoint days add up; distinct visitors over several days are the sum of per-day
counts, exact up to ids carried past midnight by a continued session (SPEC §2), well inside
``uniq``'s error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from engine.query.fields import SESSION_DIMENSIONS, TIME_DIMENSIONS
from engine.query.parse import Query
from engine.query.periods import DateRange, local_date, local_midnight

DAY, MONTH = 1, 2
ROLLUP_DIMENSIONS: tuple[str, ...] = ("",) + SESSION_DIMENSIONS + ("page", "entry_page", "exit_page")
# Attributes every event of a visitor-day shares (derived from the IP or the User-Agent).
VISITOR_FIXED = frozenset({"country", "region", "city", "device", "browser", "browser_version", "os",
                           "os_version"})
# Under a filter on F without F as a dimension, the metrics whose filtered value is the sum of F's rows.
ROW_EQUALS_FILTER: dict[str, frozenset[str]] = {
    "page": frozenset({"visitors", "pageviews", "bounce_rate", "avg_scroll"}),
    "entry_page": frozenset({"sessions", "views_per_visit", "bounce_rate", "avg_duration", "clickers",
                             "avg_scroll"}),
    "exit_page": frozenset({"sessions", "views_per_visit", "bounce_rate", "avg_duration", "clickers",
                            "avg_scroll"}),
}
# Pairs of dimensions kept together in rollup_pairs_v2 (each in ROLLUP_DIMENSIONS order): a filter a
# dashboard commonly sets (source, channel, country, device) against the panels it then shows.
# Chosen by size, measured on the 100M-event load-test store (rows per 30 days of its largest
# site): session-attribute pairs 0.2k–34k, country × city 95k; pages are the long tail (source ×
# page 299k, device × page 132k; country × page, 360k, and source × city, 243k, left to raw data).
PAIRS: tuple[tuple[str, str], ...] = (
    ("source", "country"), ("source", "device"), ("source", "browser"), ("source", "os"),
    ("source", "page"),
    ("channel", "country"), ("channel", "device"), ("channel", "browser"), ("channel", "os"),
    ("country", "region"), ("country", "city"), ("country", "device"), ("country", "browser"),
    ("country", "os"),
    ("device", "browser"), ("device", "os"), ("device", "page"),
)
# Page directories (rollup_dims rows under the key "page_dir"): each pageview, page visit and entry
# page counted once under each directory its path lies in — '/' and up to PAGE_DIR_DEPTH - 1 levels
# below it ('/blog/', '/blog/2026/', '/blog/2026/11/') — so "page starts_with /blog/", a section of
# a site, has its distinct visitors per day stored, which page rows cannot give (a visitor reads
# several pages).
PAGE_DIRS = "page_dir"
PAGE_DIR_DEPTH = 4
# A rollup key: '' (totals), a dimension, page_dir, or "a|b" for a pair (in ROLLUP_DIMENSIONS order).
ROLLUP_KEYS: tuple[str, ...] = ROLLUP_DIMENSIONS + (PAGE_DIRS,) + tuple(f"{a}|{b}" for a, b in PAIRS)
# Switch for benchmarks and the differential test (the raw path answers everything).
ENABLED = True


def key_dimensions(key: str) -> tuple[str, ...]:
    """The dimensions of a rollup key, in the order of its value columns."""
    if key == PAGE_DIRS:
        return ("page",)
    return tuple(key.split("|")) if key else ()


def page_dirs_sql(path: str) -> str:
    """SQL: the directories a path lies in, '/' first (an array; '' for none)."""
    return (f"arrayMap(n -> concat(arrayStringConcat(arraySlice(splitByChar('/', {path}), 1, n), '/'), '/'), "
            f"range(1, least(length(splitByChar('/', {path})), {PAGE_DIR_DEPTH + 1})))")


def _page_dir_filter(query: Query) -> str | None:
    """The directory of a query whose only filter is page starts_with one directory."""
    if len(query.filters) != 1:
        return None
    flt = query.filters[0]
    if flt.dimension != "page" or flt.operator != "starts_with" or len(flt.values) != 1:
        return None
    value = flt.values[0]
    parts = value.split("/")
    shaped = value.startswith("/") and value.endswith("/") and all(parts[1:-1])
    return value if shaped and len(parts) - 1 <= PAGE_DIR_DEPTH else None


def rollup_table(key: str) -> tuple[str, tuple[str, ...]]:
    """The table holding a key's rows and its value columns."""
    return ("rollup_pairs_v2", ("value", "value2")) if "|" in key else ("rollup_dims", ("value",))


def rollup_dimension(query: Query, site_timezone: str) -> str | None:
    """The rollup key that can answer this query, or None (no store access)."""
    if not ENABLED:
        return None
    time_dims = [d for d in query.dimensions if d in TIME_DIMENSIONS]
    value_dims = [d for d in query.dimensions if d not in TIME_DIMENSIONS]
    if len(time_dims) > 1:
        return None
    if time_dims and (time_dims[0] == "hour" or query.timezone != site_timezone):
        return None
    metrics = set(query.metrics)
    if not value_dims and _page_dir_filter(query) and metrics <= ROW_EQUALS_FILTER["page"]:
        return PAGE_DIRS
    used = list(dict.fromkeys(value_dims + [f.dimension for f in query.filters]))
    if len(used) > 2 or not all(d in ROLLUP_DIMENSIONS for d in used):
        return None
    key = "|".join(sorted(used, key=ROLLUP_DIMENSIONS.index))
    if key not in ROLLUP_KEYS:
        return None
    if "page" in used and metrics & {"sessions", "clickers"}:
        return None  # distinct sessions by event time do not add up across days
    for dim in used:
        if dim in value_dims:
            continue  # rows are selected, never combined
        if dim in ROW_EQUALS_FILTER and not metrics <= ROW_EQUALS_FILTER[dim]:
            return None
        on_dim = [f for f in query.filters if f.dimension == dim]
        if "visitors" in metrics and dim not in VISITOR_FIXED and not all(
                f.operator == "is" and len(f.values) == 1 for f in on_dim):
            return None
    return key


@dataclass(frozen=True)
class Coverage:
    dim: str
    days: tuple[dt.date, ...]       # site-local days read from day rows
    months: tuple[dt.date, ...]     # first days of site-local months read from month rows
    windows: tuple[tuple[dt.datetime, dt.datetime], ...]   # UTC [start, end) read from raw data


@dataclass(frozen=True)
class SealState:
    """What the store says about a site's buckets (engine/rollups.py: read_state)."""
    # day → (version, sealed_touch) of its seal; month → version
    days: dict[dt.date, tuple[int, dt.datetime]]
    months: dict[dt.date, int]
    # day → the latest touch of any of its hours
    touched: dict[dt.date, dt.datetime]

    def day_clean(self, day: dt.date) -> bool:
        touched = self.touched.get(day)
        if touched is None:
            return True  # no data that day (or none since its seal)
        seal = self.days.get(day)
        return seal is not None and seal[1] >= touched

    def month_clean(self, month: dt.date, days: list[dt.date]) -> bool:
        version = self.months.get(month)
        if version is None:
            return False
        return all(self.day_clean(d) and self.days.get(d, (0, None))[0] <= version for d in days)


def full_days(rng: DateRange, tz: ZoneInfo) -> list[dt.date]:
    """The site-local days lying wholly inside the range."""
    first = local_date(rng.start, tz)
    if local_midnight(first, tz) < rng.start:
        first += dt.timedelta(days=1)
    last = local_date(rng.end, tz) - dt.timedelta(days=1)  # the day that ends at or before `end`
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _month_days(month: dt.date) -> list[dt.date]:
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return [month + dt.timedelta(days=i) for i in range((nxt - month).days)]


def plan_coverage(query: Query, rng: DateRange, dim: str, site_timezone: str,
                  state: SealState, days: list[dt.date] | None = None) -> Coverage | None:
    """The days and months of the range read from the rollup, and the raw-data windows left.
    Depends on the query only through whether month rows may be used, so the plan for one state
    and range is computed once (a dashboard's panels share it; a new state is a new object)."""
    use_months = query.time_dimension in (None, "month")
    key = (id(state), rng.start, rng.end, site_timezone, use_months)
    hit = _PLANS.get(key)
    if hit is not None and hit[0] is state:
        return None if hit[1] is None else Coverage(dim, *hit[1])
    parts = _plan(rng, site_timezone, state, days, use_months)
    if len(_PLANS) > 256:
        _PLANS.clear()
    _PLANS[key] = (state, parts)  # the state is kept with its plan, so its id is not reused
    return None if parts is None else Coverage(dim, *parts)


_PLANS: dict[tuple, tuple[SealState, tuple | None]] = {}


def _plan(rng: DateRange, site_timezone: str, state: SealState, days: list[dt.date] | None,
          use_months: bool) -> tuple | None:
    tz = ZoneInfo(site_timezone)
    days = full_days(rng, tz) if days is None else days
    clean = [d for d in days if state.day_clean(d)]
    if not clean:
        return None
    clean_set = set(clean)
    months: list[dt.date] = []
    if use_months:
        for month in sorted({d.replace(day=1) for d in clean}):
            members = _month_days(month)
            if all(d in clean_set for d in members) and state.month_clean(month, members):
                months.append(month)
                clean_set -= set(members)
    rolled = clean_set | {d for m in months for d in _month_days(m)}
    # Base windows: everything of the range outside the rolled-up days, merged.
    windows: list[tuple[dt.datetime, dt.datetime]] = []
    cursor = rng.start
    runs: list[list[dt.date]] = []  # contiguous runs of rolled-up days: midnights only at their edges
    for day in sorted(rolled):
        if runs and runs[-1][1] + dt.timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    for first, last in runs:
        a, b = local_midnight(first, tz), local_midnight(last + dt.timedelta(days=1), tz)
        if a > cursor:
            windows.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < rng.end:
        windows.append((cursor, rng.end))
    return tuple(sorted(clean_set)), tuple(months), tuple(windows)


def rollup_part(query: Query, coverage: Coverage, params) -> str:
    """SELECT d0..dn and the query's component columns from the rollup rows of the covered buckets."""
    from engine.query.compile import predicate
    from engine.query.metrics import components_of

    table, columns = rollup_table(coverage.dim)
    column = dict(zip(key_dimensions(coverage.dim), columns, strict=False))  # totals: no dimension
    dims = []
    for d in query.dimensions:
        if d == "date":
            dims.append("toYYYYMMDD(bucket)")
        elif d == "week":
            dims.append("toYYYYMMDD(toMonday(bucket))")
        elif d == "month":
            dims.append("toYYYYMM(bucket)")
        else:
            dims.append(column[d])
    select = [f"{e} AS d{i}" for i, e in enumerate(dims)] + list(components_of(query.metrics))
    where = [
        "site_id = {site:UInt32}",
        f"dim = {params.fixed('rollup_dim', coverage.dim, 'String')}",
    ]
    buckets = []
    if coverage.days:
        buckets.append(f"(grain = {DAY} AND bucket >= {params.fixed('r_day0', coverage.days[0], 'Date')} "
                       f"AND bucket <= {params.fixed('r_day1', coverage.days[-1], 'Date')} "
                       f"AND has({params.fixed('r_days', list(coverage.days), 'Array(Date)')}, bucket))")
    if coverage.months:
        months = params.fixed("r_months", list(coverage.months), "Array(Date)")
        buckets.append(f"(grain = {MONTH} AND has({months}, bucket))")
    where.append("(" + " OR ".join(buckets) + ")")
    if coverage.dim == PAGE_DIRS:  # the directory's own rows (its subdirectories have theirs)
        where.append(f"value = {params.bind(_page_dir_filter(query), 'String')}")
    else:
        for flt in query.filters:
            where.append(predicate(column[flt.dimension], flt, params))
    return f"SELECT {', '.join(select)} FROM {table} FINAL WHERE " + " AND ".join(f"({w})" for w in where)
