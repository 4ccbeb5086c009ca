"""Property breakdowns with session metrics from per-site-day pre-aggregates (schema/0015).

SPEC §8: a session belongs to the row of value v of ``prop:<key>`` when it has an event in the range
carrying v (``"(none)"``: an event without the key); its session metrics are those of the whole
session. Distinct sessions by event time do not add up across days, except for the sessions whose
events all lie on the day they started — **contained** sessions, nearly all of them. So a sealed
site-day d stores (``prop_rollup_days``), per key and value, the components (metrics.py) of the
contained sessions that started on d and carry the value, and (``prop_rollup_crossers``) the ids of
the other sessions with an event on d or starting on d.

For a breakdown by one key (the only dimension, filters on that key only) over a range, the clean
sealed site-days lying wholly inside it (``C``, the same freshness as every rollup:
engine/query/rollup.py SealState) give

    rows(range) = day rows of C  +  raw rows of every other session,

exactly: a contained session of a day in C lies wholly in the range, so it belongs to v iff it
carries v (its day row); every other session with an event in the range has it in the raw windows
(the range outside C) or is a crosser of the day of that event. So the raw part reads the events in
the windows (props.py's rows) plus the crossers' events on the days of C (kept per session, key and
value by the seal: ``prop_rollup_crosser_pairs``), and joins only those few sessions. Components of
the two parts add up; visitors are summed per day as for every rollup (ids rotate per site-day).

Freshness: a day's rows depend on its sessions' events, their engagement updates (both touch the
hour the session started) and on the events of the day (touch their own hour) — exactly what
rollup_touched records, so a clean day's rows are current. A day counts only when a marker row
(``prop_rollup_markers``) names its current seal (rollup_state) as ``seal_version``; the rows are read at
the marker's ``version``. A seal writes them under its own version; days sealed before these tables
existed get theirs from the maintenance job under a fresh version each time (engine/rollups.py
``backfill_prop_days``), so an interrupted write is never read and never doubles a row.

The "(none)" row of key K on a day whose contained sessions never carry K is every contained session
of the day (key '', value '(none)').

A marker also names the day's ``crossers_from`` (schema/0017): the earliest start of a session with
an event on the day, at most its midnight. The merged sessions of the crossers that started before
the range are read from the sessions table from there on, without reading the crossers for it at
query time (markers written before that column read as unknown: then they are).

props.py runs such a query as two statements at once (compile.Split): the day rows, and the other
sessions' rows joined to their merged sessions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine.query.compile import DT64, Params, _and, _ts, literal, predicate
from engine.query.fields import NONE_LABEL, is_prop, prop_key
from engine.query.metrics import page_visits_components, sessions_components
from engine.query.parse import Query

# Switch for benchmarks and the differential tests (props.py's raw rows answer everything).
ENABLED = True
DAYS_TABLE, CROSSERS_TABLE = "prop_rollup_days", "prop_rollup_crossers"
PAIRS_TABLE, MARKERS_TABLE = "prop_rollup_crosser_pairs", "prop_rollup_markers"
NONE = literal(NONE_LABEL)
# The metrics the day rows hold, and their component columns (metrics.py names).
SESSION_METRICS = ("views_per_visit", "bounce_rate", "avg_duration", "clickers")
# (avg_scroll is kept in the day rows but not answered from them yet: the raw part would need the
# crossers' page visits as well.)
METRICS = frozenset({"events", "pageviews", "visitors", "sessions", *SESSION_METRICS})
COMPONENTS = ("c_visitors", "c_sessions", "c_events", "c_pageviews",
              *(c for m in SESSION_METRICS for c in sessions_components(m, None)),
              *page_visits_components("avg_scroll"))


def applies(query: Query) -> str | None:
    """The key of a query the day rows answer: one `prop:<key>` dimension and nothing else
    grouped, filters on that key only, metrics the rows hold. (Without a dimension, values
    matching a filter would overlap: a session can carry several.)"""
    if not ENABLED or len(query.dimensions) != 1 or not is_prop(query.dimensions[0]):
        return None
    if not all(f.dimension == query.dimensions[0] for f in query.filters):
        return None
    if not set(query.metrics) <= METRICS:
        return None
    return prop_key(query.dimensions[0])


@dataclass(frozen=True)
class PropCoverage:
    site_timezone: str
    days: tuple[dt.date, ...]                                   # the days of C
    versions: tuple[int, ...]                                   # their sealed versions
    windows: tuple[tuple[dt.datetime, dt.datetime], ...]        # UTC [start, end) read raw
    # the earliest start of a session with an event on a day of C (at most C's first midnight;
    # markers' crossers_from), None when a day's marker does not name it (read at query time)
    crossers_from: dt.datetime | None = None


# Per day and seal: the newest complete rows' version and their crossers_from (schema/0017; the
# epoch: unknown, a marker written before that column; of the newest version, the known value).
MARKERS_SQL = (f"SELECT bucket, seal_version, max(version), argMax(crossers_from, (version, crossers_from)) "
               f"FROM {MARKERS_TABLE} "
               "WHERE site_id = {site:UInt32} AND bucket >= {d0:Date} AND bucket <= {d1:Date} "
               "GROUP BY bucket, seal_version")
UNKNOWN_FROM = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def plan(rng, site_timezone: str, state,
         markers: dict[dt.date, dict[int, tuple[int, dt.datetime]]]) -> PropCoverage | None:
    """C = the site-local days wholly in the range that are clean and whose rows were written for
    their current seal (or that have no data at all); None when there is none. `markers`: day →
    {seal version: (version of the rows written for it, their crossers_from)} (MARKERS_SQL)."""
    from zoneinfo import ZoneInfo

    from engine.query.rollup import _plan, full_days

    tz = ZoneInfo(site_timezone)
    usable = []
    for day in full_days(rng, tz):
        if day not in state.touched:
            usable.append(day)  # no event and no session start that day (clean, nothing to read)
        elif state.day_clean(day) and state.days[day][0] in markers.get(day, {}):
            usable.append(day)
    if not any(day in state.touched for day in usable):
        return None  # no pre-aggregated day holds data: event rows alone are as fast
    parts = _plan(rng, site_timezone, state, usable, False)
    if parts is None:
        return None
    days, _, windows = parts
    marks = [markers.get(d, {}).get(state.days[d][0]) if d in state.days else None for d in days]
    versions = tuple(m[0] if m else 0 for m in marks)
    froms = [m[1] for m in marks if m]  # (a day without a marker has no data)
    crossers_from = None if UNKNOWN_FROM in froms else min(froms, default=None)
    return PropCoverage(site_timezone, tuple(days), versions, tuple(windows), crossers_from)


# --- the query's parts -------------------------------------------------------------------------

def _days_where(cov: PropCoverage, params: Params) -> str:
    """The rows of C's days at their sealed versions (primary key range, then the exact pairs)."""
    d0 = params.fixed("pr_d0", cov.days[0], "Date")
    d1 = params.fixed("pr_d1", cov.days[-1], "Date")
    pairs = params.fixed("pr_pairs", [(d, v) for d, v in zip(cov.days, cov.versions, strict=True)],
                         "Array(Tuple(Date, UInt64))")
    # (an IN set: `has(array parameter, tuple)` cost ≈ 6 ms more per use, the day rows' statement
    # 28 vs 35 ms on the quiet 100M-event store; reports-issue13-d100/split/probe.txt)
    return (f"site_id = {{site:UInt32}} AND bucket >= {d0} AND bucket <= {d1} "
            f"AND (bucket, version) IN {pairs}")


def day_rows_sql(query: Query, cov: PropCoverage, key_param: str, params: Params,
                 none_passes: bool, needed: dict[str, str]) -> str:
    """SELECT d0 and the `needed` component columns (summed) from the day rows of C: the key's
    rows, and on a day without any (its contained sessions never carry the key) the day's row of
    all contained sessions as "(none)" — one read of both, the choice per day by a window."""
    comps = ", ".join(f"sum({c}) AS {c}" for c in needed)
    filters = [predicate("value", f, params) for f in query.filters]
    fallback = f"(key = '' AND value = {NONE})" if none_passes else "0"
    keep = _and([f"key = {key_param}", *filters]) + (" OR (key = '' AND has_key = 0)" if none_passes else "")
    return (f"SELECT if(key = '', {NONE}, value) AS d0, {comps} FROM ("
            f"SELECT key, value, {', '.join(needed)}, max(key != '') OVER (PARTITION BY bucket) AS has_key "
            f"FROM {DAYS_TABLE} WHERE {_days_where(cov, params)} AND (key = {key_param} OR {fallback})) "
            f"WHERE {keep} GROUP BY d0")


def windows_condition(cov: PropCoverage, params: Params) -> str | None:
    """`timestamp` inside one of the raw windows (None: there is none)."""
    if not cov.windows:
        return None
    terms = []
    for i, (a, b) in enumerate(cov.windows):
        terms.append(f"(timestamp >= {params.fixed(f'pr_w{i}a', _ts(a), DT64)} "
                     f"AND timestamp < {params.fixed(f'pr_w{i}b', _ts(b), DT64)})")
    return " OR ".join(terms)


def crosser_pairs_sql(query: Query, cov: PropCoverage, key_param: str, params: Params,
                      none_passes: bool) -> str:
    """Per (value, session) of the crossers' events on C's days (kept by the seal, with the same
    per-day "(none)" fallback as day_rows_sql): d0, sid, sst, ev, pv, u — the shape of the raw
    rows grouped per session (props.py)."""
    filters = [predicate("value", f, params) for f in query.filters]
    fallback = f"(key = '' AND value = {NONE})" if none_passes else "0"
    keep = _and([f"key = {key_param}", *filters]) + (" OR (key = '' AND has_key = 0)" if none_passes else "")
    return (f"SELECT if(key = '', {NONE}, value) AS d0, session_id AS sid, session_start AS sst, "
            "events AS ev, pageviews AS pv, user_id AS u FROM ("
            "SELECT key, value, session_id, session_start, events, pageviews, user_id, "
            "max(key != '') OVER (PARTITION BY bucket) AS has_key "
            f"FROM {PAIRS_TABLE} WHERE {_days_where(cov, params)} AND (key = {key_param} OR {fallback})) "
            f"WHERE {keep}")


# --- sealing (engine/rollups.py runs these for a run of site-local days [start, end)) ----------

def _pairs_sql() -> str:
    """Per event row (session_events or events): (key, value) for each key it carries (its first
    value), (K, "(none)") for each key K of the run it lacks, and ('', "(none)") (every event)."""
    own = ("arrayFilter((p, i) -> p.1 != '' AND indexOf(`meta.key`, p.1) = i, "
           "arrayMap((k, v) -> (toString(k), v), `meta.key`, `meta.value`), arrayEnumerate(`meta.key`))")
    lacking = f"arrayMap(k -> (k, {NONE}), arrayFilter(k -> NOT has(`meta.key`, k), run_keys))"
    return f"arrayConcat({own}, {lacking}, [('', {NONE})])"


# The keys the run's events carry (each lacking one of them is a "(none)" of it).
_RUN_KEYS = ("(SELECT arrayMap(k -> toString(k), arrayDistinct(arrayFlatten(groupArray(keys)))) "
             "FROM prop_keysets_hourly WHERE site_id = {site:UInt32} "
             "AND hour >= toStartOfHour({start:DateTime64(3, 'UTC')}) AND hour < {end:DateTime64(3, 'UTC')})")
_RUN = ("site_id = {site:UInt32} AND session_start >= {start:DateTime64(3, 'UTC')} "
        "AND session_start < {end:DateTime64(3, 'UTC')}")
_CONTAINED = ("toDate(min(timestamp), {tz:String}) = toDate(any(session_start), {tz:String}) "
              "AND toDate(max(timestamp), {tz:String}) = toDate(any(session_start), {tz:String})")


def seal_statements() -> list[str]:
    """INSERT … SELECT statements writing a run's day rows and crossers at {version:UInt64};
    parameters site, tz, start, end, version."""
    comps = {**{c: e for m in SESSION_METRICS for c, e in sessions_components(m, None).items()},
             **{c: f"sum(p.{c})" for c in page_visits_components("avg_scroll")}}
    scroll = page_visits_components("avg_scroll")
    rows = f"""
INSERT INTO {DAYS_TABLE} (site_id, key, bucket, value, version, {', '.join(COMPONENTS)})
WITH {_RUN_KEYS} AS run_keys
SELECT {{site:UInt32}}, l.k, l.day, l.v, {{version:UInt64}}, uniq(l.u), count(), sum(l.ev), sum(l.pv),
       {', '.join(comps.values())}
FROM (
    SELECT session_id AS sid, pair.1 AS k, pair.2 AS v, count() AS ev, countIf(type = 'pageview') AS pv,
           any(user_id) AS u, any(toDate(session_start, {{tz:String}})) AS day
    FROM session_events ARRAY JOIN {_pairs_sql()} AS pair
    WHERE {_RUN} AND session_id IN (
        SELECT session_id FROM session_events WHERE {_RUN} GROUP BY session_id HAVING {_CONTAINED})
    GROUP BY sid, k, v
) AS l
INNER JOIN (
    SELECT session_id AS s_id, pageviews AS s_pageviews, clicks AS s_clicks, max_scroll AS s_max_scroll,
           engaged_ms AS s_engaged_ms, last_activity AS s_last_activity, session_start AS s_start
    FROM sessions FINAL WHERE {_RUN}
) AS s ON l.sid = s.s_id
LEFT JOIN (
    SELECT pv.pv_sid AS pv_sid, {', '.join(f'{e} AS {c}' for c, e in scroll.items())} FROM (
        SELECT session_id AS pv_sid, max_scroll AS pv_scroll, has_scroll AS pv_hs
        FROM page_visits FINAL WHERE {_RUN}) AS pv GROUP BY pv_sid
) AS p ON l.sid = p.pv_sid
GROUP BY l.day, l.k, l.v
SETTINGS join_use_nulls = 0"""
    crossers_in = f"""
INSERT INTO {CROSSERS_TABLE} (site_id, bucket, version, session_start, session_id, started)
SELECT DISTINCT {{site:UInt32}}, toDate(timestamp, {{tz:String}}), {{version:UInt64}}, session_start,
       session_id, 0
FROM events
WHERE site_id = {{site:UInt32}} AND timestamp >= {{start:DateTime64(3, 'UTC')}}
  AND timestamp < {{end:DateTime64(3, 'UTC')}} AND type != 'engagement'
  AND toDate(session_start, {{tz:String}}) != toDate(timestamp, {{tz:String}})"""
    crossers_out = f"""
INSERT INTO {CROSSERS_TABLE} ({', '.join(CROSSER_COLUMNS)})
SELECT {{site:UInt32}}, toDate(session_start, {{tz:String}}), {{version:UInt64}}, session_start,
       session_id, 1, user_id, pageviews, clicks, engaged_ms, max_scroll, last_activity
FROM sessions FINAL
WHERE {_RUN}
  AND session_id IN (SELECT session_id FROM session_events WHERE {_RUN} GROUP BY session_id
                       HAVING NOT ({_CONTAINED}))"""
    pairs = f"""
INSERT INTO {PAIRS_TABLE} (site_id, bucket, version, session_id, session_start, key, value, events,
                           pageviews, user_id)
WITH {_RUN_KEYS} AS run_keys
SELECT {{site:UInt32}}, toDate(timestamp, {{tz:String}}) AS b, {{version:UInt64}}, session_id,
       any(session_start), pair.1 AS k, pair.2 AS v, count(), countIf(type = 'pageview'), any(user_id)
FROM events ARRAY JOIN {_pairs_sql()} AS pair
WHERE site_id = {{site:UInt32}} AND timestamp >= {{start:DateTime64(3, 'UTC')}}
  AND timestamp < {{end:DateTime64(3, 'UTC')}} AND type != 'engagement'
  AND (toDate(session_start, {{tz:String}}) != toDate(timestamp, {{tz:String}}) OR session_id IN (
       SELECT session_id FROM session_events WHERE {_RUN} GROUP BY session_id HAVING NOT ({_CONTAINED})))
GROUP BY b, session_id, k, v"""
    return [rows, crossers_in, crossers_out, pairs]


CROSSER_COLUMNS = ("site_id", "bucket", "version", "session_start", "session_id", "started", "user_id",
                   "pageviews", "clicks", "engaged_ms", "max_scroll", "last_activity")


def sessions_sql(cov: PropCoverage, params: Params) -> str:
    """The merged sessions the raw rows can belong to (columns as props._sessions_subquery,
    without entry and exit; joined to the rows by id): those that started on a day of C are its
    crossers, kept by the seal; every other one started in a raw window or before the range
    (a crosser into its first day, or a session with events in a raw window) — only those spans of
    the sessions table are merged, with no lookup of the rows' keys."""
    columns = ("session_id AS s_id, toUInt64(pageviews) AS s_pageviews, toUInt64(clicks) AS s_clicks, "
               "toUInt8(max_scroll) AS s_max_scroll, toUInt64(engaged_ms) AS s_engaged_ms, "
               "toDateTime64(last_activity, 3, 'UTC') AS s_last_activity, "
               "session_start AS s_start")
    windows = [f"(timestamp >= {{pr_w{i}a:{DT64}}} AND timestamp < {{pr_w{i}b:{DT64}}})"
               for i in range(len(cov.windows))]
    if cov.crossers_from is None:  # markers written before schema/0017: read it
        first = [f"(SELECT minOrNull(session_start) FROM {CROSSERS_TABLE} WHERE {_days_where(cov, params)} "
                 "AND started = 0)"]
    else:
        first = [params.fixed("pr_from", _ts(cov.crossers_from), DT64)]
    if windows:
        first.append(f"(SELECT minOrNull(session_start) FROM events WHERE site_id = {{site:UInt32}} "
                     f"AND ({' OR '.join(windows)}))")
    earliest = f"least({', '.join(f'ifNull({m}, {{start:{DT64}}})' for m in first)}, {{start:{DT64}}})"
    spans = [f"(session_start >= {earliest} AND session_start < {{start:{DT64}}})"]
    spans += [w.replace("timestamp", "session_start") for w in windows]
    return (f"SELECT {columns} FROM {CROSSERS_TABLE} WHERE {_days_where(cov, params)} AND started = 1 "
            f"UNION ALL SELECT {columns} FROM sessions FINAL WHERE site_id = {{site:UInt32}} "
            f"AND ({' OR '.join(spans)})")


def seal_params(site_id: int, site_timezone: str, start: dt.datetime, end: dt.datetime,
                version: int) -> dict:
    return {"site": site_id, "tz": site_timezone, "start": _ts(start), "end": _ts(end), "version": version}


# Per day of a run written at {version:UInt64}: the earliest start of its crossers that started
# on an earlier day (the days without one are not listed).
CROSSERS_FROM_SQL = (f"SELECT bucket, min(session_start) FROM {CROSSERS_TABLE} "
                     "WHERE site_id = {site:UInt32} AND bucket >= {d0:Date} AND bucket <= {d1:Date} "
                     "AND version = {version:UInt64} AND started = 0 GROUP BY bucket")


def marker_columns(site_id: int, days: list[dt.date], version: int, seal_version: int,
                   crossers_from: list[dt.datetime]) -> tuple[list[list], list[str]]:
    """The marker rows (one per day of the run) for Store.insert_columns into MARKERS_TABLE: the
    rows of `version` are complete, for the seal `seal_version` of the day (rollup_state), and
    each day's crossers_from (the earliest start of a session with an event on it, at most its
    midnight)."""
    n = len(days)
    return ([[site_id] * n, list(days), [seal_version] * n, [version] * n, list(crossers_from)],
            ["site_id", "bucket", "seal_version", "version", "crossers_from"])
