"""Step 3b: which part of a query the pre-aggregated ``rollup_dims`` table answers.

``rollup_dims`` holds, per site-local day (grain 1) and month (grain 2), dimension and value, the
additive metric components (metrics.py) of the query "this dimension, this bucket" computed over
raw data by the same compiler (engine/rollups.py seals them). A query is answered from it when

- it has at most one non-time dimension D, which is a session attribute, ``page``, ``entry_page``
  or ``exit_page`` (or none: the site totals, dim ''), and at most one time dimension, which is
  ``date``, ``week`` or ``month`` in the site's own time zone (buckets are site-local days);
- its filters are all on one dimension F, and F is D (rows are then selected, never combined) or,
  without D, F becomes the rollup dimension and the rows of the matching values are summed. That
  sum is exact for every component that is a count or sum over sessions, pageviews or page visits
  (each has one value of F); distinct visitors add up across values only for attributes fixed per
  visitor-day (the visitor id hashes IP and User-Agent), or for a single ``is`` value;
- no metric counts distinct sessions by event time (``sessions``/``clickers`` of pages), and under a
  page or entry/exit filter without that dimension, the metric means the same for the filter as
  for the dimension's row (see ROW_EQUALS_FILTER).

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
# Switch for benchmarks and the differential test (the raw path answers everything).
ENABLED = True


def rollup_dimension(query: Query, site_timezone: str) -> str | None:
    """The rollup dimension that can answer this query, or None (no store access)."""
    if not ENABLED:
        return None
    time_dims = [d for d in query.dimensions if d in TIME_DIMENSIONS]
    value_dims = [d for d in query.dimensions if d not in TIME_DIMENSIONS]
    if len(time_dims) > 1 or len(value_dims) > 1:
        return None
    if time_dims and (time_dims[0] == "hour" or query.timezone != site_timezone):
        return None
    filter_dims = {f.dimension for f in query.filters}
    if len(filter_dims) > 1:
        return None
    dim = value_dims[0] if value_dims else (next(iter(filter_dims)) if filter_dims else "")
    if dim not in ROLLUP_DIMENSIONS or (filter_dims and filter_dims != {dim}):
        return None
    metrics = set(query.metrics)
    if dim == "page" and metrics & {"sessions", "clickers"}:
        return None  # distinct sessions by event time do not add up across days
    if not value_dims and dim in ROW_EQUALS_FILTER and not metrics <= ROW_EQUALS_FILTER[dim]:
        return None
    if not value_dims and "visitors" in metrics and dim not in VISITOR_FIXED:
        single = all(f.operator == "is" and len(f.values) == 1 for f in query.filters)
        if not single:
            return None
    return dim


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
    tz = ZoneInfo(site_timezone)
    days = full_days(rng, tz) if days is None else days
    clean = [d for d in days if state.day_clean(d)]
    if not clean:
        return None
    use_months = query.time_dimension in (None, "month")
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
    return Coverage(dim, tuple(sorted(clean_set)), tuple(months), tuple(windows))


def rollup_part(query: Query, coverage: Coverage, params) -> str:
    """SELECT d0..dn and every component column from the rollup rows of the covered buckets."""
    from engine.query.compile import predicate
    from engine.query.metrics import COMPONENTS

    dims = []
    for d in query.dimensions:
        if d == "date":
            dims.append("toYYYYMMDD(bucket)")
        elif d == "week":
            dims.append("toYYYYMMDD(toMonday(bucket))")
        elif d == "month":
            dims.append("toYYYYMM(bucket)")
        else:
            dims.append("value")
    select = [f"{e} AS d{i}" for i, e in enumerate(dims)] + list(COMPONENTS)
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
    for flt in query.filters:
        where.append(predicate("value", flt, params))
    return f"SELECT {', '.join(select)} FROM rollup_dims FINAL WHERE " + " AND ".join(f"({w})" for w in where)
