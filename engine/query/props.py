"""Custom-property queries (SPEC §8): a query with a `prop:<key>` dimension or filter → one SELECT.

compile.py hands such queries here. Their rows are **events**: a row counts the events (not
engagement updates) in the range that carry its values and pass every filter, and

- ``events``     those events, ``pageviews`` the pageviews among them,
- ``visitors`` / ``sessions``  the distinct visitors / sessions that sent them (with session
  metrics, a session's visitor is any of its events' visitor ids, as in the sessions aggregate),
- ``bounce_rate``, ``avg_duration``, ``views_per_visit``, ``clickers``  over those sessions
  (whole sessions from the sessions aggregate, by the rules of SPEC §3), and ``avg_scroll`` over
  their page visits that reported a scroll depth; each of these with its components and final
  value from metrics.py (one definition per metric).

The value of `prop:<key>` is the event's value for the key (its first, if sent twice) or
"(none)" when the event does not carry the key. Other dimensions and filters are read per event:
time buckets by the event's timestamp, session attributes from the event row, `page` is the
event's own path; `entry_page` / `exit_page` are those of the event's session.

Where the event rows come from (each key is a bound parameter, never an identifier):

- one property key, and its filters exclude "(none)": the ``event_props`` table only (one row per
  event and key, ordered by site, key, day; schema/0010_event_props.sql) — reads just that key;
- one key whose "(none)" can match: ``event_props`` for the values, UNION ALL the raw events
  without the key (``NOT has(meta.key, k)``) as "(none)";
- several keys: raw events, each value read from the meta arrays.

A breakdown by one key alone (no other dimension, filters on that key only) with event metrics
(events, pageviews, visitors, sessions) reads "(none)" from ``prop_keysets_hourly`` instead
(schema/0011: per UTC hour and key set, counts and uniq states of the events): the rows of the whole
hours of the range whose key set lacks the key, plus the raw events of the partial hours at the
range edges, merged as uniq states (the same counts as uniq over the rows: `_keysets_sql`).

Whether "(none)" can pass the filters on its key is decided here, in Python, with the same
operator rules as the SQL (`none_matches`).
"""

from __future__ import annotations

import datetime as dt
import functools

from engine.query.breakdowns import COMMON_PARAMS, _int_param, check_params, date_range_params
from engine.query.compile import (
    DT64,
    Compiled,
    Params,
    Split,
    _and,
    _ts,
    labelled,
    literal,
    order_terms,
    predicate,
    time_key,
)
from engine.query.errors import QueryError
from engine.query.fields import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    NONE_LABEL,
    TIME_DIMENSIONS,
    is_prop,
    prop_key,
)
from engine.query.metrics import metric, page_visits_components, sessions_components
from engine.query.parse import Filter, Query, check_timezone
from engine.query.periods import DateRange, resolve_range
from engine.query.props_rollup import PropCoverage, applies, day_rows_sql, sessions_sql
from engine.store import Store

# Read single-key property rows from the event_props table (else from the events' meta arrays,
# always correct but a scan of every event of the range), and "(none)" rows from the hourly key-set
# rollup where it applies. The benchmark and the tests switch them off to compare.
EVENT_PROPS_ENABLED = True
KEYSETS_ENABLED = True
# Event metrics the key-set rollup answers: its columns, and the merge of each into a component.
KEYSET_METRICS = {"events": ("events", "sum"), "pageviews": ("pageviews", "sum"),
                  "visitors": ("visitors", "uniqMerge"), "sessions": ("sessions", "uniqMerge")}
ENTRY_EXIT = ("entry_page", "exit_page")
SESSION_METRICS = ("bounce_rate", "avg_duration", "views_per_visit", "clickers", "avg_scroll")
# For the statements of a breakdown answered partly by the day rows: the engine's join runtime
# filters (a filter built from the joined merged sessions, applied to the per-session rows)
# serialise the two sides of the join; without them the event-row part took 10–12 ms less on the
# 100M-event store, quiet (25–45 ms less under other load; loadtest/results/run2/
# reports-issue13-d100/split/probe.txt).
SPLIT_SETTINGS = {"enable_join_runtime_filters": 0}
NONE = literal(NONE_LABEL)


def none_matches(flt: Filter) -> bool:
    """Whether the "(none)" label passes a filter (a list ORs, or ANDs for negative operators;
    contains ignores case), exactly as predicate() does in SQL."""
    label = NONE_LABEL

    def one(value: str) -> bool:
        op = flt.operator
        if op in ("is", "is_not"):
            return label == value
        if op in ("contains", "not_contains"):
            return value.lower() in label.lower()
        if op == "starts_with":
            return label.startswith(value)
        return label.endswith(value)

    if flt.operator in ("is_not", "not_contains"):
        return not any(one(v) for v in flt.values)
    return any(one(v) for v in flt.values)


class _Rows:
    """The row-level subquery: one row per matching event with columns ts, typ, uid, sid, sst and
    the event-level dimension columns d<i> (entry/exit dimensions are added after the session
    join)."""

    def __init__(self, query: Query, site_id: int, rng: DateRange, params: Params):
        self.query = query
        self.params = params
        self.site = params.fixed("site", site_id, "UInt32")
        self.start = params.fixed("start", _ts(rng.start), DT64)
        self.end = params.fixed("end", _ts(rng.end), DT64)
        self.tz = params.fixed("tz", rng.timezone, "String")
        self.key_params: dict[str, str] = {}
        for name in [*query.dimensions, *(f.dimension for f in query.filters)]:
            if is_prop(name) and prop_key(name) not in self.key_params:
                self.key_params[prop_key(name)] = params.bind(prop_key(name), "String")

    def _columns(self, value_of) -> list[str]:
        cols = ["timestamp AS ts", "type AS typ", "user_id AS uid", "session_id AS sid",
                "session_start AS sst"]
        for i, d in enumerate(self.query.dimensions):
            if d in ENTRY_EXIT:
                continue
            if is_prop(d):
                expr = value_of(prop_key(d))
            elif d in TIME_DIMENSIONS:
                expr = time_key("timestamp", d, self.tz)
            elif d == "page":
                expr = "pathname"
            else:
                expr = labelled(d, d)
            cols.append(f"{expr} AS d{i}")
        return cols

    def _where(self, value_of, skip_props: bool = False) -> list[str]:
        where = [f"site_id = {self.site}", f"timestamp >= {self.start}", f"timestamp < {self.end}"]
        for flt in self.query.filters:
            if flt.dimension in ENTRY_EXIT:
                continue
            if is_prop(flt.dimension):
                if not skip_props:
                    where.append(predicate(value_of(prop_key(flt.dimension)), flt, self.params))
            elif flt.dimension == "page":
                where.append(predicate("pathname", flt, self.params))
            else:
                where.append(predicate(labelled(flt.dimension, flt.dimension), flt, self.params))
        return where

    def sql(self) -> str:
        """Also sets `few`: whether the rows are only events that carry a property value."""
        keys = list(self.key_params)
        self.few = False
        if len(keys) == 1 and EVENT_PROPS_ENABLED:
            key = self.key_params[keys[0]]
            parts = [self._select("event_props", lambda k: "value", [f"key = {key}"])]
            flts = [f for f in self.query.filters if is_prop(f.dimension)]
            if all(none_matches(f) for f in flts):
                parts.append(self._select(
                    "events", lambda k: NONE,
                    ["type != 'engagement'", f"NOT has(`meta.key`, {key})"], skip_props=True))
            else:
                self.few = True
            return " UNION ALL ".join(parts)
        return self._select("events", self._meta_value, ["type != 'engagement'"])

    def _meta_value(self, key: str) -> str:
        k = self.key_params[key]
        return f"if(has(`meta.key`, {k}), `meta.value`[indexOf(`meta.key`, {k})], {NONE})"

    def _select(self, table: str, value_of, extra: list[str], skip_props: bool = False) -> str:
        where = extra + self._where(value_of, skip_props)
        return f"SELECT {', '.join(self._columns(value_of))} FROM {table} WHERE {_and(where)}"


def _hour_floor(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _keysets_applies(query: Query) -> bool:
    """One key, as the only dimension (or none), filters on it alone, event metrics only, and
    "(none)" passes the filters."""
    keys = {prop_key(n) for n in [*query.dimensions, *(f.dimension for f in query.filters)]}
    return (KEYSETS_ENABLED and EVENT_PROPS_ENABLED and len(keys) == 1
            and all(is_prop(d) for d in query.dimensions)
            and all(is_prop(f.dimension) and none_matches(f) for f in query.filters)
            and all(m in KEYSET_METRICS for m in query.metrics))


def _keysets_sql(rows: _Rows, rng: DateRange) -> str:
    """Per value (d0, when the key is a dimension): the needed columns as states / counts
    (k_<metric>), from event_props for the values and, for "(none)", from prop_keysets_hourly over
    the whole UTC hours of the range plus raw events over the partial hours at its edges."""
    query, params = rows.query, rows.params
    key = next(iter(rows.key_params.values()))
    metrics = query.metrics
    grouped = bool(query.dimensions)

    made = {"events": "count()", "pageviews": "countIf(type = 'pageview')",
            "visitors": "uniqState(user_id)", "sessions": "uniqState(session_id)"}
    states = [f"{made[m]} AS k_{m}" for m in metrics]
    group = " GROUP BY d0" if grouped else ""  # (a part without rows then has no row)
    values = [f"key = {key}", *rows._where(lambda k: "value", skip_props=True),
              *(predicate("value", f, params) for f in query.filters)]
    head = ["value AS d0"] if grouped else []
    parts = [f"SELECT {', '.join(head + states)} FROM event_props WHERE {_and(values)}{group}"]
    none_head = [f"{NONE} AS d0"] if grouped else []
    hours_from = _hour_floor(rng.start)
    if hours_from < rng.start:
        hours_from += dt.timedelta(hours=1)
    hours_to = _hour_floor(rng.end)
    raw = ["type != 'engagement'", f"NOT has(`meta.key`, {key})", *rows._where(lambda k: NONE, True)]
    if hours_from < hours_to:
        a = params.fixed("hours_from", _ts(hours_from), DT64)
        b = params.fixed("hours_to", _ts(hours_to), DT64)
        cols = [f"{KEYSET_METRICS[m][0]} AS k_{m}" for m in metrics]
        parts.append(f"SELECT {', '.join(none_head + cols)} FROM prop_keysets_hourly "
                     f"WHERE site_id = {rows.site} AND hour >= {a} AND hour < {b} "
                     f"AND NOT has(keys, {key})")
        raw.append(f"(timestamp < {a} OR timestamp >= {b})")
    parts.append(f"SELECT {', '.join(none_head + states)} FROM events WHERE {_and(raw)}{group}")
    union = " UNION ALL ".join(f"({p})" for p in parts)
    comps = [f"{KEYSET_METRICS[m][1]}(k_{m}) AS c_{m}" for m in metrics]
    sql = f"SELECT {', '.join((['d0'] if grouped else []) + comps)} FROM ({union})"
    return sql + (" GROUP BY d0" if grouped else "")


def _session_keys(rows: _Rows, ids_sql: str, few: bool) -> str:
    """Which rows of a session-keyed aggregate (sessions, page_visits) the matching events need:
    session starts from the earliest start of those events to the range end (so FINAL merges only
    those parts and granules), and, when the events are few (no "(none)" rows, which cover nearly
    every session), exactly their (start, id) keys."""
    cond = (f"site_id = {rows.site} AND session_start >= (SELECT min(sst) FROM ({ids_sql})) "
            f"AND session_start < {rows.end}")
    if few:
        cond += f" AND (session_start, session_id) IN (SELECT sst, sid FROM ({ids_sql}))"
    return cond


def _sessions_subquery(rows: _Rows, ids_sql: str, few: bool) -> str:
    """The merged sessions of the matching events."""
    return (
        "SELECT session_id AS s_id, pageviews AS s_pageviews, clicks AS s_clicks, "
        "max_scroll AS s_max_scroll, engaged_ms AS s_engaged_ms, last_activity AS s_last_activity, "
        "session_start AS s_start, finalizeAggregation(entry_page) AS s_entry, "
        "finalizeAggregation(exit_page) AS s_exit "
        f"FROM sessions FINAL WHERE {_session_keys(rows, ids_sql, few)}"
    )


def _scroll_subquery(rows: _Rows, ids_sql: str, few: bool) -> str:
    """Per session of the matching events: the avg_scroll components (metrics.py) over its
    page visits; they add up over sessions."""
    comps = page_visits_components("avg_scroll")
    return (
        f"SELECT pv.pv_sid AS pv_sid, {', '.join(f'{e} AS {c}' for c, e in comps.items())} FROM ("
        "SELECT session_id AS pv_sid, max_scroll AS pv_scroll, has_scroll AS pv_hs "
        f"FROM page_visits FINAL WHERE {_session_keys(rows, ids_sql, few)}) AS pv GROUP BY pv_sid"
    )


def _mixed_per_session_sql(rows: _Rows, cov: PropCoverage) -> str:
    """Per (value, session), for a query partly answered by the day rows of props_rollup.py, the
    sessions those rows leave out: the events in the raw windows (as in _Rows.sql; when "(none)"
    passes, every event of the windows is read anyway, so its value comes from the meta arrays in
    that one read) and the crossers' events on the pre-aggregated days (kept per session by the
    seal). Columns d0, sid, sst, ev, pv, u as in compile_props."""
    from engine.query.props_rollup import crosser_pairs_sql, windows_condition

    key = next(iter(rows.key_params.values()))
    none_passes = all(none_matches(f) for f in rows.query.filters)
    parts = []
    window = windows_condition(cov, rows.params)
    if window and none_passes:  # every event of the windows is read (for "(none)"): one read of them
        parts.append(rows._select("events", rows._meta_value, ["type != 'engagement'", window]))
    elif window:
        parts.append(rows._select("event_props", lambda k: "value", [f"key = {key}", window]))
    union = [f"SELECT d0, sid, sst, toUInt64(1) AS ev, toUInt64(typ = 'pageview') AS pv, uid AS u "
             f"FROM ({' UNION ALL '.join(parts)})"] if parts else []
    union.append(crosser_pairs_sql(rows.query, cov, key, rows.params, none_passes))
    return (f"SELECT d0, sid, any(sst) AS sst, sum(ev) AS ev, sum(pv) AS pv, any(u) AS u "
            f"FROM ({' UNION ALL '.join(f'({p})' for p in union)}) GROUP BY d0, sid")


def compile_props(query: Query, site_id: int, rng: DateRange,
                  coverage: PropCoverage | None = None) -> Compiled:
    """`coverage`: the days answered by the pre-aggregated day rows (props_rollup.py), for a
    query props_rollup.applies() to; None: everything from event rows."""
    params = Params()
    rows = _Rows(query, site_id, rng, params)
    dims, metrics = query.dimensions, query.metrics
    entry_exit_filters = [f for f in query.filters if f.dimension in ENTRY_EXIT]
    by_session = (any(m in SESSION_METRICS for m in metrics) or bool(entry_exit_filters)
                  or any(d in ENTRY_EXIT for d in dims))
    if coverage is not None and not (by_session and applies(query)):
        coverage = None
    split = None
    if coverage is not None:
        rows_sql = _mixed_per_session_sql(rows, coverage)
    else:
        rows_sql = "" if _keysets_applies(query) else rows.sql()
    event_dims = [f"d{i}" for i, d in enumerate(dims) if d not in ENTRY_EXIT]
    # Two levels: components per row (each metric's own components, metrics.py, for the session
    # and page-visit metrics), then each metric's final value over them.
    if not rows_sql:
        inner = _keysets_sql(rows, rng)
    elif not by_session:
        comps = {"c_events": "count()", "c_pageviews": "countIf(typ = 'pageview')",
                 "c_visitors": "uniq(uid)", "c_sessions": "uniq(sid)"}
        needed = {f"c_{m}": comps[f"c_{m}"] for m in metrics}
        select = event_dims + [f"{e} AS {c}" for c, e in needed.items()]
        inner = f"SELECT {', '.join(select)} FROM ({rows_sql})"
        if event_dims:
            inner += f" GROUP BY {', '.join(event_dims)}"
    else:
        group1 = [*event_dims, "sid"]
        per_session = (
            f"SELECT {', '.join(group1)}, any(sst) AS sst, count() AS ev, "
            f"countIf(typ = 'pageview') AS pv, any(uid) AS u "
            f"FROM ({rows_sql}) GROUP BY {', '.join(group1)}"
        ) if coverage is None else rows_sql  # (already per session)
        sessions = (_sessions_subquery(rows, rows_sql, rows.few) if coverage is None
                    else sessions_sql(coverage, params))
        needed = {}
        for m in metrics:
            if m == "events":
                needed["c_events"] = "sum(l.ev)"
            elif m == "pageviews":
                needed["c_pageviews"] = "sum(l.pv)"
            elif m == "visitors":
                needed["c_visitors"] = "uniq(l.u)"
            elif m == "sessions":
                needed["c_sessions"] = "count()"
            elif m == "avg_scroll":
                needed.update({c: f"sum(p.{c})" for c in page_visits_components(m)})
            else:
                needed.update(sessions_components(m, None))
        dim_exprs = []
        for i, d in enumerate(dims):
            if d == "entry_page":
                dim_exprs.append(f"{labelled('s.s_entry', d)} AS d{i}")
            elif d == "exit_page":
                dim_exprs.append(f"{labelled('s.s_exit', d)} AS d{i}")
            else:
                dim_exprs.append(f"l.d{i} AS d{i}")
        where = [predicate(labelled("s.s_entry" if f.dimension == "entry_page" else "s.s_exit",
                                    f.dimension), f, params) for f in entry_exit_filters]
        select = dim_exprs + [f"{e} AS {c}" for c, e in needed.items()]
        inner = (f"SELECT {', '.join(select)} FROM ({per_session}) AS l "
                 f"INNER JOIN ({sessions}) AS s ON l.sid = s.s_id")
        if "avg_scroll" in metrics:  # page visits without a scroll report read as 0 of 0
            inner += f" LEFT JOIN ({_scroll_subquery(rows, rows_sql, rows.few)}) AS p ON l.sid = p.pv_sid"
        if where:
            inner += f" WHERE {_and(where)}"
        if dims:
            inner += f" GROUP BY {', '.join(f'd{i}' for i in range(len(dims)))}"
        if coverage is not None:  # plus the day rows (one dimension: the key; no entry/exit)
            key = next(iter(rows.key_params.values()))
            none_passes = all(none_matches(f) for f in query.filters)
            day_rows = day_rows_sql(query, coverage, key, params, none_passes, needed)
            split = Split((inner, day_rows), functools.partial(_combine, query, tuple(needed)),
                          SPLIT_SETTINGS)
            same = ", ".join(f"toInt64({c}) AS {c}" for c in needed)  # one type on both sides
            inner = f"SELECT d0, {same} FROM ({inner}) UNION ALL SELECT d0, {same} FROM ({day_rows})"
    dim_cols = [f"d{i}" for i in range(len(dims))]
    outer = dim_cols + [f"{metric(m).final_sql()} AS m_{m}" for m in metrics]
    inner = f"SELECT {', '.join(outer)} FROM ({inner})" + (
        f" GROUP BY {', '.join(dim_cols)}" if dims else "")
    columns = [f"d{i}" for i in range(len(dims))] + [f"m_{m}" for m in metrics]
    sql = f"SELECT {', '.join(columns)} FROM ({inner})"
    time_only = bool(dims) and all(d in TIME_DIMENSIONS for d in dims)
    paged_in_sql = bool(dims) and not time_only
    if paged_in_sql:
        sql += f" ORDER BY {', '.join(order_terms(query))}"
        sql += (f" LIMIT {params.fixed('limit', query.limit, 'UInt64')}"
                f" OFFSET {params.fixed('offset', query.offset, 'UInt64')}")
    assert "%" not in sql
    return Compiled(sql, params.values, dims, metrics, paged_in_sql, None, split=split)


def _combine(query: Query, components: tuple[str, ...], results: list[list[tuple]]) -> list[tuple]:
    """The rows of compile_props' single statement for a query answered partly by the day rows,
    from its two parts run apart (compile.Split): (d0, components) rows of the sessions left to
    event rows and of the day rows → components summed per value, each metric's final value
    (metrics.Metric.final_value), ordered as order_terms (the requested column, else the first
    metric descending; then the value ascending: by code point, as ClickHouse compares UTF-8
    bytes), paged."""
    sums: dict[str, list[int]] = {}
    for part in results:
        for value, *counts in part:
            acc = sums.setdefault(value, [0] * len(components))
            for i, count in enumerate(counts):
                acc[i] += int(count)
    out = []
    for value, acc in sums.items():
        summed = dict(zip(components, acc, strict=True))
        out.append((value, *(metric(m).final_value(summed) for m in query.metrics)))
    column = {query.dimensions[0]: 0, **{m: i + 1 for i, m in enumerate(query.metrics)}}
    by, desc = (query.order_by, query.order_dir == "desc") if query.order_by else (query.metrics[0], True)
    out.sort(key=lambda row: row[0])
    out.sort(key=lambda row: row[column[by]], reverse=desc)  # (stable: ties stay by value)
    return out[query.offset:query.offset + query.limit]


# --- GET /api/props without `key`: the property keys seen in a range ---------------------------

def compile_prop_keys(site_id: int, rng: DateRange, limit: int, offset: int) -> tuple[str, dict]:
    """Keys with the visitors and events that carried them, most visitors first."""
    params = Params()
    sql = (
        "SELECT key, uniq(user_id) AS visitors, count() AS events FROM event_props "
        f"WHERE site_id = {params.fixed('site', site_id, 'UInt32')} "
        f"AND timestamp >= {params.fixed('start', _ts(rng.start), DT64)} "
        f"AND timestamp < {params.fixed('end', _ts(rng.end), DT64)} "
        "GROUP BY key ORDER BY visitors DESC, events DESC, key ASC "
        f"LIMIT {params.fixed('limit', limit, 'UInt64')} OFFSET {params.fixed('offset', offset, 'UInt64')}"
    )
    return sql, params.values


def prop_keys_sync(store: Store, site_id: int, params: dict[str, str], now: dt.datetime,
                   settings: dict) -> dict:
    """GET /api/props (no `key`): start_date, end_date, timezone, limit, offset as for the
    breakdown GETs."""
    check_params(params, COMMON_PARAMS + ("key",))
    timezone = check_timezone(params.get("timezone", "UTC"))
    span = date_range_params(params, timezone, now)
    rng = resolve_range(None, (span["start"], span["end"]), timezone, now)
    limit = _bounded(params, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
    offset = _bounded(params, "offset", 0, MAX_OFFSET, 0)
    sql, values = compile_prop_keys(site_id, rng, limit, offset)
    rows = store.rows(sql, values, settings=settings)
    return {"results": [{"key": k, "visitors": int(v), "events": int(e)} for k, v, e in rows]}


def _bounded(params: dict[str, str], name: str, low: int, high: int, default: int) -> int:
    value = _int_param(params, name)
    if value is None:
        return default
    if not low <= value <= high:
        raise QueryError(name, f"must be a whole number from {low} to {high}")
    return value
