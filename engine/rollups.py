"""Rollup maintenance: seal site-days and site-months of ``rollup_dims`` from raw data.

Every insert into ``events`` marks the UTC hours it touched (by event time and by session start)
in ``rollup_touched`` through a materialized view, in the same insert. A *site-day* (a day in the
site's time zone) is **clean** when no hour of it was touched after its last seal; only clean
days are read from the rollup (engine/query/rollup.py), everything else from raw data. So the
newest data is always visible, and a late event, a continued session or a backfill only sends
its day back to raw data until the next seal.

Sealing a run of days (``seal_days``), idempotent and safe to interrupt at any point:

1. note each day's latest touch (before reading anything);
2. for every rollup key (dimension or pair), INSERT … SELECT the day rows at a new version, computed by
   ``compile.compile_components`` — the very SQL a raw-data query runs, grouped by site-local date;
3. give every older row of those days that was not rewritten an all-zero row at the new version
   (a value that vanished, e.g. an entry page that changed with a backfilled earlier pageview);
4. record the seal (version, touch noted in 1) in ``rollup_state``.

A crash before 4 leaves the days dirty (raw data answers; the next pass redoes them under a newer
version); touches after 1 leave them dirty too. A month whose days are all clean is then sealed as
the sum of its day rows (grain 2), valid while its version is newer than each day's.

``RollupMaintainer`` runs the passes in a background thread of the server: every ``interval``
seconds, for each site, seal the dirty days whose last touch is older than ``quiet`` seconds
(the open hour of a busy site stays on raw data), at most ``max_days`` per site and pass, in runs of
contiguous days that each take one INSERT … SELECT per dimension (a whole year of a site at once
costs about one scan of its history per dimension, not one per day); long
backlogs (a migrated store) are worked through pass after pass, with progress in the log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

from engine.priority import BACKGROUND_SETTINGS, lower_thread_priority
from engine.query import props_rollup
from engine.query.compile import Params, compile_components
from engine.query.metrics import COMPONENTS, METRICS
from engine.query.parse import Query
from engine.query.periods import DateRange, local_date, local_midnight
from engine.query.rollup import (
    DAY,
    MONTH,
    PAGE_DIRS,
    ROLLUP_KEYS,
    SealState,
    _month_days,
    key_dimensions,
    rollup_table,
)
from engine.store import Store

log = logging.getLogger("clickport.rollups")
UTC = dt.UTC
ALL_METRICS = tuple(METRICS)
_versions_lock = threading.Lock()
_last_version = 0


def new_version() -> int:
    """Increasing versions (microseconds since the epoch, or one more than the last)."""
    global _last_version
    with _versions_lock:
        _last_version = max(_last_version + 1, time.time_ns() // 1000)
        return _last_version


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


# --- state ----------------------------------------------------------------------------------------

STATE_SQL = """
SELECT 0 AS grain, b AS bucket, toUInt64(0) AS version, max(touched) AS t
FROM (SELECT arrayJoin(arrayDistinct([toDate(hour, {tz:String}), toDate(hour + 3599, {tz:String})])) AS b,
             touched
      FROM rollup_touched WHERE site_id = {site:UInt32} AND hour >= {h0:DateTime('UTC')}
        AND hour < {h1:DateTime('UTC')})
WHERE b >= {d0:Date} AND b <= {d1:Date}
GROUP BY b
UNION ALL
SELECT grain, bucket, version, sealed_touch AS t FROM rollup_state FINAL
WHERE site_id = {site:UInt32} AND bucket >= {d0:Date} AND bucket <= {d1:Date}
"""


# The site's earliest session start (engine/query/run.py first_event_time), as one more row of
# the state (grain 9): a query over all time learns where its range starts and which of its days
# the rollup answers in one round trip.
FIRST_SQL = """
SELECT toUInt8(9) AS grain, toDate('1970-01-01') AS bucket, toUInt64(0) AS version, session_start AS t
FROM sessions WHERE site_id = {site:UInt32} AND session_start < ifNull(
    (SELECT toDateTime64(minOrNull(hour), 3, 'UTC') + INTERVAL 1 HOUR FROM rollup_touched
     WHERE site_id = {site:UInt32}), toDateTime64('2200-01-01 00:00:00', 3, 'UTC'))
ORDER BY session_start LIMIT 1
"""


def read_state(store: Store, site_id: int, site_timezone: str, first: dt.date, last: dt.date,
               settings: dict | None = None) -> SealState:
    """Seals and touches of a site's days first..last (and the months starting in that span)."""
    return _read_state(store, site_id, site_timezone, first, last, settings, with_first=False)[1]


def read_first_and_state(store: Store, site_id: int, site_timezone: str, last: dt.date,
                         settings: dict | None = None) -> tuple[dt.datetime | None, SealState]:
    """The site's first event time and the state of all its days up to `last`, in one statement."""
    return _read_state(store, site_id, site_timezone, dt.date(1970, 1, 1), last, settings, with_first=True)


def _read_state(store: Store, site_id: int, site_timezone: str, first: dt.date, last: dt.date,
                settings: dict | None, with_first: bool) -> tuple[dt.datetime | None, SealState]:
    tz = ZoneInfo(site_timezone)
    first = first.replace(day=1)
    h0 = max(local_midnight(first, tz) - dt.timedelta(hours=1), dt.datetime(1970, 1, 1, tzinfo=UTC))
    h1 = local_midnight(last + dt.timedelta(days=1), tz) + dt.timedelta(hours=1)
    sql = STATE_SQL + (f" UNION ALL ({FIRST_SQL})" if with_first else "")
    rows = store.rows(sql, {
        "site": site_id, "tz": site_timezone, "d0": first, "d1": last,
        "h0": h0.strftime("%Y-%m-%d %H:%M:%S"), "h1": h1.strftime("%Y-%m-%d %H:%M:%S"),
    }, settings=settings)
    first_event: dt.datetime | None = None
    days: dict[dt.date, tuple[int, dt.datetime]] = {}
    months: dict[dt.date, int] = {}
    touched: dict[dt.date, dt.datetime] = {}
    for grain, bucket, version, t in rows:
        bucket = _as_date(bucket)
        if grain == 0:
            touched[bucket] = _aware(t)
        elif grain == DAY:
            days[bucket] = (int(version), _aware(t))
        elif grain == MONTH:
            months[bucket] = int(version)
        elif grain == 9:
            first_event = _aware(t)
    return first_event, SealState(days, months, touched)


# --- sealing --------------------------------------------------------------------------------------

_COMPONENTS = ", ".join(COMPONENTS)
_SUMS = ", ".join(f"sum({c})" for c in COMPONENTS)
_ZEROS = ", ".join("toUInt64(0)" for _ in COMPONENTS)
TABLES = tuple(dict.fromkeys(rollup_table(key) for key in ROLLUP_KEYS))  # (table, value columns)


def _day_rows_sql(site_id: int, key: str, site_timezone: str, start: dt.datetime, end: dt.datetime,
                  version: int) -> tuple[str, dict]:
    """INSERT … SELECT of one rollup key's day rows for [start, end) (site-local midnights)."""
    table, columns = rollup_table(key)
    dims = ("date",) + key_dimensions(key)
    query = Query(metrics=ALL_METRICS, dimensions=dims, period=None, timezone=site_timezone)
    rng = DateRange(start, end, site_timezone, "exact", end - start)
    params = Params()
    parts = compile_components(query, site_id, rng, params, tz=site_timezone, page_dirs=key == PAGE_DIRS)
    union = " UNION ALL ".join(f"({p})" for p in parts)
    values = [f"d{i + 1}" for i in range(len(dims) - 1)] or ["''"]
    group = ", ".join(f"d{i}" for i in range(len(dims)))
    params.fixed("r_version", version, "UInt64")
    params.fixed("r_dim", key, "String")
    sql = (f"INSERT INTO {table} (site_id, dim, grain, bucket, {', '.join(columns)}, version, {_COMPONENTS}) "
           f"SELECT {{site:UInt32}}, {{r_dim:String}}, {DAY}, "
           f"makeDate(intDiv(d0, 10000), intDiv(d0, 100) % 100, d0 % 100), {', '.join(values)}, "
           f"{{r_version:UInt64}}, {_SUMS} FROM ({union}) AS u GROUP BY {group}")
    return sql, params.values


def _tombstones_sql(table: str, columns: tuple[str, ...], grain: int) -> str:
    """Zero rows at the new version for every key of the buckets that the new version did not
    write (FINAL keeps each key's newest row, so these are exactly the vanished values)."""
    keys = "site_id, dim, grain, bucket, " + ", ".join(columns)
    return (f"INSERT INTO {table} ({keys}, version, {_COMPONENTS}) "
            f"SELECT {keys}, {{v:UInt64}}, {_ZEROS} "
            f"FROM {table} FINAL WHERE site_id = {{site:UInt32}} AND grain = {grain} "
            "AND bucket >= {b0:Date} AND bucket <= {b1:Date} AND version < {v:UInt64}")


def _runs(days: Iterable[dt.date], max_len: int) -> list[list[dt.date]]:
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] + dt.timedelta(days=1) == day and len(runs[-1]) < max_len:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _record(store: Store, rows: list[tuple]) -> None:
    columns = [list(c) for c in zip(*rows, strict=True)]
    store.insert_columns("rollup_state", columns, ["site_id", "grain", "bucket", "version", "sealed_touch"])


def seal_days(store: Store, site_id: int, site_timezone: str, days: list[dt.date],
              touches: dict[dt.date, dt.datetime], settings: dict | None = None,
              fault: Callable[[str], None] | None = None) -> int:
    """Seal a contiguous run of site-local days (see the module doc). Returns the version.
    `touches`: each day's latest touch, read before this call. `fault(step)`: a test hook."""
    tz = ZoneInfo(site_timezone)
    version = new_version()
    start = local_midnight(days[0], tz)
    end = local_midnight(days[-1] + dt.timedelta(days=1), tz)
    for key in ROLLUP_KEYS:
        sql, params = _day_rows_sql(site_id, key, site_timezone, start, end, version)
        store.command(sql, params, settings=settings)
        if fault:
            fault(f"rows:{key}")
    seal_prop_rows(store, site_id, site_timezone, days, version, version, settings)
    if fault:
        fault("props")
    for table, columns in TABLES:
        store.command(_tombstones_sql(table, columns, DAY),
                      {"site": site_id, "b0": days[0], "b1": days[-1], "v": version}, settings=settings)
    if fault:
        fault("tombstones")
    never = dt.datetime(1970, 1, 1, tzinfo=UTC)
    _record(store, [(site_id, DAY, d, version, touches.get(d, never)) for d in days])
    return version


# Days per statement of the property seal: its per-session grouping over a run's events is held in
# memory, so a long run (a migrated year) is written a week at a time (under the same version).
PROP_SEAL_DAYS = 7


def seal_prop_rows(store: Store, site_id: int, site_timezone: str, days: list[dt.date], version: int,
                   seal_version: int, settings: dict | None = None) -> None:
    """The property day rows and crossers of a run of contiguous days
    (engine/query/props_rollup.py) at `version`, then their markers for the days' seal
    `seal_version` (last: a day counts only once its rows are all written)."""
    tz = ZoneInfo(site_timezone)
    for i in range(0, len(days), PROP_SEAL_DAYS):
        chunk = days[i:i + PROP_SEAL_DAYS]
        params = props_rollup.seal_params(site_id, site_timezone, local_midnight(chunk[0], tz),
                                          local_midnight(chunk[-1] + dt.timedelta(days=1), tz), version)
        for sql in props_rollup.seal_statements():
            store.command(sql, params, settings=settings)
    earliest = {_as_date(b): _aware(t) for b, t in store.rows(props_rollup.CROSSERS_FROM_SQL, {
        "site": site_id, "d0": days[0], "d1": days[-1], "version": version}, settings=settings)}
    midnights = [local_midnight(d, tz).astimezone(UTC) for d in days]
    crossers_from = [min(earliest.get(d, m), m) for d, m in zip(days, midnights, strict=True)]
    columns, names = props_rollup.marker_columns(site_id, days, version, seal_version, crossers_from)
    store.insert_columns(props_rollup.MARKERS_TABLE, columns, names)


def backfill_prop_days(store: Store, site_id: int, site_timezone: str, state: SealState,
                       max_days: int, settings: dict | None = None) -> int:
    """Clean days sealed without property day rows (sealed before schema/0015), or whose marker
    does not name its crossers_from (written before schema/0017): write them for their seal,
    under a fresh version (the data is unchanged since that seal; a touch meanwhile leaves the day
    dirty as always). Returns the days written."""
    todo = sorted(d for d, (version, _) in state.days.items() if d in state.touched and state.day_clean(d))
    if not todo or max_days <= 0:
        return 0
    marked = {(_as_date(b), int(v)) for b, v, _, first in store.rows(props_rollup.MARKERS_SQL, {
        "site": site_id, "d0": todo[0], "d1": todo[-1]}, settings=settings)
        if _aware(first) != props_rollup.UNKNOWN_FROM}
    todo = [d for d in todo if (d, state.days[d][0]) not in marked][:max_days]
    runs: list[list[dt.date]] = []
    for day in todo:  # contiguous days of one seal version
        last = runs[-1][-1] if runs else None
        if last and last + dt.timedelta(days=1) == day and state.days[last][0] == state.days[day][0]:
            runs[-1].append(day)
        else:
            runs.append([day])
    for run in runs:
        seal_prop_rows(store, site_id, site_timezone, run, new_version(), state.days[run[0]][0], settings)
    return len(todo)


def seal_month(store: Store, site_id: int, month: dt.date, touch: dt.datetime,
               settings: dict | None = None) -> int:
    """Month rows = the sums of the month's (clean) day rows."""
    version = new_version()
    last = _month_days(month)[-1]
    for table, columns in TABLES:
        keys = "dim, " + ", ".join(columns)
        store.command(
            f"INSERT INTO {table} (site_id, {keys}, grain, bucket, version, {_COMPONENTS}) "
            f"SELECT site_id, {keys}, {MONTH}, {{m:Date}}, {{v:UInt64}}, {_SUMS} "
            f"FROM {table} FINAL WHERE site_id = {{site:UInt32}} AND grain = {DAY} "
            f"AND bucket >= {{m:Date}} AND bucket <= {{last:Date}} GROUP BY site_id, {keys}",
            {"site": site_id, "m": month, "last": last, "v": version}, settings=settings)
        store.command(_tombstones_sql(table, columns, MONTH),
                      {"site": site_id, "b0": month, "b1": month, "v": version}, settings=settings)
    _record(store, [(site_id, MONTH, month, version, touch)])
    return version


def invalidate_site(store: Store, site_id: int) -> None:
    """Forget every seal of a site (its time zone changed, so its days did): each seal is
    overwritten by a newer one covering no touch, so every day with data is dirty and queries
    read raw data until the maintenance job has resealed the history in the new zone. (Inserts,
    not DELETE: the same statement works through a cluster's Distributed tables.)"""
    rows = store.rows("SELECT grain, bucket FROM rollup_state FINAL WHERE site_id = {site:UInt32}",
                      {"site": site_id})
    if rows:
        version = new_version()
        never = dt.datetime(1970, 1, 1, tzinfo=UTC)
        _record(store, [(site_id, grain, _as_date(bucket), version, never) for grain, bucket in rows])


def dirty_days(state: SealState, quiet_before: dt.datetime) -> list[dt.date]:
    """Days touched after their seal, whose last touch is older than `quiet_before`."""
    return sorted(d for d, t in state.touched.items()
                  if not state.day_clean(d) and t <= quiet_before)


def first_day(store: Store, site_id: int, site_timezone: str) -> dt.date | None:
    rows = store.rows("SELECT min(hour) FROM rollup_touched WHERE site_id = {site:UInt32}", {"site": site_id})
    if not rows or rows[0][0] is None or _aware(rows[0][0]).year < 2000:
        return None
    return local_date(_aware(rows[0][0]), ZoneInfo(site_timezone))


def maintain_site(store: Store, site_id: int, site_timezone: str, quiet_s: float,
                  max_days: int = 400, max_run: int = 400,
                  settings: dict | None = None) -> tuple[int, int]:
    """One pass for one site: seal up to `max_days` dirty days, then the months they complete.
    Returns (days sealed, dirty days left). Touches are the store's clock, so this uses the
    real current time (never a test's frozen clock)."""
    now = dt.datetime.now(UTC)
    tz = ZoneInfo(site_timezone)
    first = first_day(store, site_id, site_timezone)
    if first is None:
        return 0, 0
    today = local_date(now, tz)
    state = read_state(store, site_id, site_timezone, first, today, settings)
    todo = dirty_days(state, now - dt.timedelta(seconds=quiet_s))
    chosen = todo[:max_days]
    for run in _runs(chosen, max_run):
        touches = {d: state.touched[d] for d in run if d in state.touched}
        seal_days(store, site_id, site_timezone, run, touches, settings)
    # Months: every past month whose days are all clean and whose month row is missing or stale.
    state = read_state(store, site_id, site_timezone, first, today, settings)
    this_month = today.replace(day=1)
    for month in sorted({d.replace(day=1) for d in state.touched}):
        if month >= this_month:
            continue
        members = _month_days(month)
        if all(state.day_clean(d) for d in members) and not state.month_clean(month, members):
            touches = [state.touched[d] for d in members if d in state.touched]
            seal_month(store, site_id, month, max(touches), settings)
    backfill_prop_days(store, site_id, site_timezone, state, max_days - len(chosen), settings)
    return len(chosen), len(todo) - len(chosen)


def seal_all(store: Store, sites: Iterable[tuple[int, str]], quiet_s: float = 0.0,
             progress: Callable[[str], None] | None = None) -> int:
    """Seal every dirty day of every site (tests, the seeder, `clickport rollups`). Returns days."""
    total = 0
    for site_id, tz in sites:
        while True:
            done, left = maintain_site(store, site_id, tz, quiet_s)
            total += done
            if progress and done:
                progress(f"site {site_id}: sealed {done} days, {left} left")
            if not left:
                break
    return total


class RollupMaintainer:
    """The background maintenance thread of a server process."""

    def __init__(self, store: Store, sites: Callable[[], list[tuple[int, str]]],
                 interval_s: float | None = None, quiet_s: float | None = None):
        self.store = store
        self.sites = sites
        self.interval_s = interval_s if interval_s is not None else float(
            os.environ.get("CLICKPORT_ROLLUP_INTERVAL_S", "30"))
        self.quiet_s = quiet_s if quiet_s is not None else float(
            os.environ.get("CLICKPORT_ROLLUP_QUIET_S", "60"))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sealed_days = 0
        self.errors = 0

    def start(self) -> None:
        if self.interval_s <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="clickport-rollups", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run_once(self) -> int:
        backlog = 0
        for site_id, tz in self.sites():
            if self._stop.is_set():
                break
            try:
                lower_thread_priority()  # again: a lowered statement's end resets it (engine.priority)
                done, left = maintain_site(self.store, site_id, tz, self.quiet_s,
                                           settings=BACKGROUND_SETTINGS)
            except Exception:  # a failed pass leaves days dirty: raw data answers meanwhile
                self.errors += 1
                log.exception("rollup maintenance failed for site %s", site_id)
                continue
            self.sealed_days += done
            backlog += left
            if done:
                log.info("rollups: site %s sealed %d days, %d left", site_id, done, left)
        return backlog

    def _run(self) -> None:
        # Background work (a first pass over an unsealed history seals hundreds of days): this
        # thread and its statements run below ingestion in CPU priority (engine.priority).
        lower_thread_priority()
        while not self._stop.is_set():
            backlog = self.run_once()
            # Work through a backlog without waiting; else sleep until the next pass.
            self._stop.wait(1.0 if backlog else self.interval_s)
