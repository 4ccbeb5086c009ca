"""Step 4: a planned query → one ClickHouse SELECT and its parameters.

Printer rules (HogQL-style): every value from the request — filter values, the site id, the
range, the time zone, limit and offset — is bound as a server-side ``{name:Type}`` parameter and
never appears in the SQL text; every identifier comes from the whitelists in fields.py; the
only literals in the SQL are constants of this module (empty-value labels, event types).

Shape of the SQL: one aggregate subquery per *part* — a source over raw data (plan.py) for the
base time windows, and the pre-aggregated ``rollup_dims`` rows for the days and months it covers
(rollup.py) — each returning the dimension columns ``d0..dn`` (the same expressions) and every
metric *component* column of metrics.py (0 where a part does not compute it). The parts are
UNION ALLed and summed per group; the outer SELECT turns the summed components into metric
values (metrics.Metric.final_sql), drops groups outside every requested metric's population,
then orders and pages. Time buckets are numeric wall-clock keys (see periods.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.query.fields import EMPTY_LABELS, NEGATIVE_OPERATORS, TIME_DIMENSIONS
from engine.query.metrics import (
    ENTRY_EXIT,
    EVENTS,
    METRICS,
    PAGE_VISITS,
    SESSION_COLUMNS_NEEDED,
    SESSIONS,
    components_of,
    events_components,
    page_visits_components,
    sessions_components,
)
from engine.query.parse import Filter, Query
from engine.query.periods import DateRange
from engine.query.plan import Plan, plan_query, rollup_window

_SAFE_LITERAL = re.compile(r"[A-Za-z0-9 /()_.-]*")
DT64 = "DateTime64(3, 'UTC')"
__all__ = ["Compiled", "Split", "compile_planned", "compile_components", "labelled", "predicate", "time_key",
           "DT64", "Params"]


def literal(text: str) -> str:
    """A code constant as an SQL string literal (never used for request values)."""
    assert _SAFE_LITERAL.fullmatch(text), text
    return f"'{text}'"


class Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any, type_: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"

    def fixed(self, name: str, value: Any, type_: str) -> str:
        self.values[name] = value
        return f"{{{name}:{type_}}}"


@dataclass(frozen=True)
class Split:
    """The rows of `Compiled.sql` from independent statements (`parts`, same parameters) that
    run.py runs concurrently: each SELECT has its own planning (≈ half of a query's time on the
    embedded engine, on one thread) and reads; `combine` turns their rows, in `parts` order, into
    exactly the rows the single statement returns."""
    parts: tuple[str, ...]
    combine: Callable[[list[list[tuple]]], list[tuple]]
    # ClickHouse settings for every part, on top of the read settings
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Compiled:
    sql: str
    params: dict[str, Any]
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]
    # Whether ordering and paging happen in the SQL (False for time-only series, which the
    # shaper fills with empty buckets and then orders and pages).
    paged_in_sql: bool
    plan: Plan | None = field(default=None, repr=False)
    # Which parts answer it: "base" windows and/or "rollup" days/months (rollup.Coverage)
    coverage: Any = field(default=None, repr=False)
    # The same rows from concurrent statements (None: `sql` alone)
    split: Split | None = field(default=None, repr=False)

    def __iter__(self):  # so `sql, params = compile_query(...)` works
        return iter((self.sql, self.params))


def _ts(value: dt.datetime) -> str:
    """An aware instant as a DateTime64(3, 'UTC') parameter. Sub-millisecond instants round up:
    the column holds milliseconds, so [start, end) keeps exactly the rows it should."""
    value = value.astimezone(dt.UTC)
    rest = value.microsecond % 1000
    if rest:
        value += dt.timedelta(microseconds=1000 - rest)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


# --- expressions ----------------------------------------------------------------------------

def labelled(expr: str, dimension: str) -> str:
    label = EMPTY_LABELS.get(dimension)
    if label is None:
        return expr
    return f"if({expr} = '', {literal(label)}, {expr})"


def time_key(expr: str, dimension: str, tz: str) -> str:
    if dimension == "hour":
        return f"intDiv(toYYYYMMDDhhmmss({expr}, {tz}), 10000)"
    if dimension == "date":
        return f"toYYYYMMDD({expr}, {tz})"
    if dimension == "week":
        return f"toYYYYMMDD(toMonday({expr}, {tz}))"
    if dimension == "month":
        return f"toYYYYMM({expr}, {tz})"
    raise ValueError(dimension)


def predicate(expr: str, flt: Filter, params: Params) -> str:
    """One filter on one (labelled) expression; a list ORs, or ANDs for negative operators."""
    values = list(flt.values)
    op = flt.operator
    if op in ("is", "is_not"):
        if len(values) == 1:
            test = f"{expr} = {params.bind(values[0], 'String')}"
        else:
            test = f"has({params.bind(values, 'Array(String)')}, {expr})"
        return f"NOT ({test})" if op == "is_not" else test
    template = {
        "contains": "positionCaseInsensitiveUTF8({x}, {v}) > 0",
        "not_contains": "positionCaseInsensitiveUTF8({x}, {v}) > 0",
        "starts_with": "startsWith({x}, {v})",
        "ends_with": "endsWith({x}, {v})",
    }[op]
    if len(values) == 1:
        test = template.format(x=expr, v=params.bind(values[0], "String"))
    else:
        array = params.bind(values, "Array(String)")
        test = f"arrayExists(v -> {template.format(x=expr, v='v')}, {array})"
    return f"NOT ({test})" if op in NEGATIVE_OPERATORS else test


def _and(parts: list[str]) -> str:
    return " AND ".join(f"({p})" for p in parts) if parts else "1"


class _Ctx:
    """What every part of one query shares: the query, its plan, the bound parameters, and the
    base time windows [start, end) that raw data is read for (the whole range, unless the
    pre-aggregated rollup answers some of it)."""

    def __init__(self, query: Query, plan: Plan, site_id: int, rng: DateRange, params: Params,
                 windows: list[tuple[dt.datetime, dt.datetime]] | None = None,
                 tz: str | None = None, page_dirs: bool = False):
        self.query = query
        self.page_dirs = page_dirs
        self.plan = plan
        self.params = params
        self.site = params.fixed("site", site_id, "UInt32")
        self.tz = params.fixed("tz", tz or rng.timezone, "String")
        if windows is None:
            windows = [(rng.start, rng.end)]
        self.windows = [(params.fixed(f"w{i}_start", _ts(a), DT64), params.fixed(f"w{i}_end", _ts(b), DT64))
                        for i, (a, b) in enumerate(windows)]
        whole = len(windows) == 1 and windows[0] == (rng.start, rng.end)
        window = rollup_window(query, plan, rng) if whole else None
        self.rollup: tuple[str, str] | None = None
        if window is not None:
            self.rollup = (params.fixed("rollup_start", _ts(window[0]), DT64),
                           params.fixed("rollup_end", _ts(window[1]), DT64))

    def in_range(self, expr: str) -> str:
        """expr (a DateTime64 column) inside one of the base windows."""
        parts = [f"({expr} >= {a} AND {expr} < {b})" for a, b in self.windows]
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def page_predicate(self, expr: str) -> str:
        return _and([predicate(expr, f, self.params) for f in self.plan.page_filters])

    def page_column(self, expr: str) -> str:
        """The ``page`` dimension's value: the page, or (rollup maintenance of page
        directories) each directory the page lies in, one row each."""
        if not self.page_dirs:
            return expr
        from engine.query.rollup import page_dirs_sql

        return f"arrayJoin({page_dirs_sql(expr)})"


# --- the merged-sessions subquery -------------------------------------------------------------

# Sessions rows are merged with FINAL (rows with the same key — site, session start, session id —
# are one session): measured 2.5–9× faster than GROUP BY over the key with merge functions on
# chDB 26.9, and exact (FINAL merges SimpleAggregateFunction columns with their functions and
# AggregateFunction states, which finalizeAggregation reads).
_SESSION_COLUMNS = {
    "entry": "finalizeAggregation(entry_page)",
    "exit": "finalizeAggregation(exit_page)",
}


def sessions_subquery(ctx: _Ctx, columns: set[str], page_mode: str | None) -> str:
    """Sessions started in the range, one row each, session filters applied. Output columns
    are prefixed s_ (s_start, s_id, s_<column>). page_mode: "viewed" keeps the sessions with a
    pageview matching the page filters, "entered" those whose entry page matches."""
    plan = ctx.plan
    needed = set(columns)
    if plan.entry_exit_filters:
        needed |= {"entry" if f.dimension == "entry_page" else "exit" for f in plan.entry_exit_filters}
    if page_mode:
        needed.add("entry")
    select = ["session_start AS s_start", "session_id AS s_id"]
    for name in sorted(needed):
        select.append(f"{_SESSION_COLUMNS.get(name, name)} AS s_{name}")
    where = [f"site_id = {ctx.site}", ctx.in_range("session_start")]
    for flt in plan.session_filters:
        where.append(predicate(labelled(flt.dimension, flt.dimension), flt, ctx.params))
    if page_mode == "viewed":
        where.append(
            f"session_id IN (SELECT session_id FROM page_visits WHERE site_id = {ctx.site} "
            f"AND {ctx.in_range('session_start')} AND {ctx.page_predicate('pathname')})"
        )
    after = []  # conditions on merged values: applied outside the FINAL read
    for flt in plan.entry_exit_filters:
        column = "s_entry" if flt.dimension == "entry_page" else "s_exit"
        after.append(predicate(labelled(column, flt.dimension), flt, ctx.params))
    if page_mode == "entered":
        after.append(ctx.page_predicate("s_entry"))
    sql = f"SELECT {', '.join(select)} FROM sessions FINAL WHERE {_and(where)}"
    if after:
        sql = f"SELECT * FROM ({sql}) WHERE {_and(after)}"
    return sql


def _session_columns_for_dims(dims: tuple[str, ...], page_is_entry: bool) -> set[str]:
    cols = set()
    for d in dims:
        if d == "entry_page" or (d == "page" and page_is_entry):
            cols.add("entry")
        elif d == "exit_page":
            cols.add("exit")
        elif d not in TIME_DIMENSIONS and d != "page":
            cols.add(d)
    return cols


def _session_dim(d: str, ctx: _Ctx, alias: str = "s") -> str:
    if d in TIME_DIMENSIONS:
        return time_key(f"{alias}.s_start", d, ctx.tz)
    if d == "page":
        return ctx.page_column(labelled(f"{alias}.s_entry", "entry_page"))
    if d == "entry_page":
        return labelled(f"{alias}.s_entry", "entry_page")
    if d == "exit_page":
        return labelled(f"{alias}.s_exit", "exit_page")
    return labelled(f"{alias}.s_{d}", d)


# --- the three sources over raw data ----------------------------------------------------------
#
# Each returns SELECT d0..dn, <the query's component columns> ... GROUP BY d0..dn (components_of
# its metrics, in one fixed order); components a source does not compute are 0, so the parts
# UNION ALL.

def _dims_select(exprs: list[str]) -> tuple[str, str]:
    select = ", ".join(f"{e} AS d{i}" for i, e in enumerate(exprs))
    group = ", ".join(f"d{i}" for i in range(len(exprs)))
    return select, group


def _components_select(computed: dict[str, str], names: tuple[str, ...]) -> list[str]:
    return [f"toUInt64({computed[c]}) AS {c}" if c in computed else f"toUInt64(0) AS {c}"
            for c in names]


def _aggregate(ctx: _Ctx, dim_exprs: list[str], computed: dict[str, str], from_where: str) -> str:
    """SELECT d0..dn and the query's component columns (components_of its metrics)."""
    dims_sql, group = _dims_select(dim_exprs)
    names = components_of(ctx.query.metrics)
    select = ", ".join(([dims_sql] if dims_sql else []) + _components_select(computed, names))
    sql = f"SELECT {select} FROM {from_where}"
    if group:
        sql += f" GROUP BY {group}"
    return sql


def events_rollup_source(ctx: _Ctx, metrics: tuple[str, ...]) -> str:
    """Unfiltered visitors/pageviews: the events_hourly rollup's whole hours plus raw events for
    the partial hours at the range edges, merged as uniq states (exactly what uniq over the rows
    gives)."""
    assert ctx.rollup is not None
    r_start, r_end = ctx.rollup
    (start, end), = ctx.windows
    parts = (
        "SELECT hour AS t, visitors AS v, toUInt64(pageviews) AS pv FROM events_hourly "
        f"WHERE site_id = {ctx.site} AND hour >= {r_start} AND hour < {r_end} "
        "UNION ALL "
        "SELECT toStartOfHour(timestamp) AS t, uniqState(user_id) AS v, "
        "toUInt64(countIf(type = 'pageview')) AS pv FROM events "
        f"WHERE site_id = {ctx.site} AND ((timestamp >= {start} AND timestamp < {r_start}) "
        f"OR (timestamp >= {r_end} AND timestamp < {end})) GROUP BY t"
    )
    dim_exprs = [time_key("r.t", d, ctx.tz) for d in ctx.query.dimensions]
    exprs = {"visitors": {"c_visitors": "uniqMerge(r.v)"}, "pageviews": {"c_pageviews": "sum(r.pv)"}}
    computed = {k: v for m in metrics for k, v in exprs[m].items()}
    return _aggregate(ctx, dim_exprs, computed, f"({parts}) AS r")


def events_source(ctx: _Ctx, metrics: tuple[str, ...]) -> str:
    if ctx.rollup is not None:
        return events_rollup_source(ctx, metrics)
    plan, dims = ctx.plan, ctx.query.dimensions
    page_scope = plan.page_dimension or bool(plan.page_filters)
    where = [f"e.site_id = {ctx.site}", ctx.in_range("e.timestamp")]
    for flt in plan.session_filters:
        where.append(predicate(labelled(f"e.{flt.dimension}", flt.dimension), flt, ctx.params))
    if page_scope:
        types = "('pageview', 'click')" if "clickers" in metrics else "('pageview')"
        where.append(f"e.type IN {types}")
        if plan.page_filters:
            where.append(ctx.page_predicate("e.pathname"))
    source = "events AS e"
    if plan.events_join_sessions:
        columns = _session_columns_for_dims(dims, page_is_entry=False)
        source += (f" INNER JOIN ({sessions_subquery(ctx, columns, None)}) AS s "
                   f"ON e.session_id = s.s_id")
    elif plan.entry_exit_filters:
        where.append(f"e.session_id IN (SELECT s_id FROM ({sessions_subquery(ctx, set(), None)}))")
    dim_exprs = []
    for d in dims:
        if d in TIME_DIMENSIONS:
            dim_exprs.append(time_key("e.timestamp", d, ctx.tz))
        elif d == "page":
            dim_exprs.append(ctx.page_column("e.pathname"))
        elif d in ENTRY_EXIT:
            dim_exprs.append(_session_dim(d, ctx))
        else:
            dim_exprs.append(labelled(f"e.{d}", d))
    computed = {k: v for m in metrics for k, v in events_components(m, page_scope).items()}
    return _aggregate(ctx, dim_exprs, computed, f"{source} WHERE {_and(where)}")


def sessions_source(ctx: _Ctx, metrics: tuple[str, ...]) -> str:
    plan, dims = ctx.plan, ctx.query.dimensions
    page_mode = None
    if plan.page_filters:
        page_mode = "entered" if plan.page_dimension else "viewed"
    columns = _session_columns_for_dims(dims, page_is_entry=True)
    for m in metrics:
        columns |= SESSION_COLUMNS_NEEDED[m]
    if plan.page_dimension:
        columns.add("pageviews")
    sub = sessions_subquery(ctx, columns, page_mode)
    where = ["s.s_pageviews > 0"] if plan.page_dimension else []
    entered = ctx.page_predicate("s.s_entry") if page_mode == "viewed" else None
    computed = {k: v for m in metrics for k, v in sessions_components(m, entered).items()}
    dim_exprs = [_session_dim(d, ctx) for d in dims]
    from_where = f"({sub}) AS s"
    if where:
        from_where += f" WHERE {_and(where)}"
    return _aggregate(ctx, dim_exprs, computed, from_where)


def page_visits_source(ctx: _Ctx, metrics: tuple[str, ...]) -> str:
    plan, dims = ctx.plan, ctx.query.dimensions
    where = [f"site_id = {ctx.site}", ctx.in_range("session_start")]
    if plan.page_filters:
        where.append(ctx.page_predicate("pathname"))
    sub = (
        "SELECT session_start AS pv_start, page_visit_id AS pv_id, session_id AS pv_sid, "
        "pathname AS pv_path, max_scroll AS pv_scroll, max_engaged_ms AS pv_eng, "
        "has_scroll AS pv_hs, has_engagement AS pv_he "
        f"FROM page_visits FINAL WHERE {_and(where)}"
    )
    source = f"({sub}) AS pv"
    if plan.page_visits_join_sessions:
        columns = _session_columns_for_dims(dims, page_is_entry=False)
        source += f" INNER JOIN ({sessions_subquery(ctx, columns, None)}) AS s ON pv.pv_sid = s.s_id"
    dim_exprs = []
    for d in dims:
        if d in TIME_DIMENSIONS:
            dim_exprs.append(time_key("pv.pv_start", d, ctx.tz))
        elif d == "page":
            dim_exprs.append(ctx.page_column("pv.pv_path"))
        else:
            dim_exprs.append(_session_dim(d, ctx))
    computed = {k: v for m in metrics for k, v in page_visits_components(m).items()}
    return _aggregate(ctx, dim_exprs, computed, source)


_SOURCES = {EVENTS: events_source, SESSIONS: sessions_source, PAGE_VISITS: page_visits_source}


# --- the whole query ----------------------------------------------------------------------------

def order_terms(query: Query) -> list[str]:
    """ORDER BY: the requested column (or time ascending, then the first metric descending),
    then every dimension ascending, so ties always come out in the same order."""
    dims = query.dimensions
    col = {**{d: f"d{i}" for i, d in enumerate(dims)}, **{m: f"m_{m}" for m in query.metrics}}
    terms: list[str] = []
    used: set[str] = set()
    if query.order_by:
        terms.append(f"{col[query.order_by]} {query.order_dir.upper()}")
        used.add(query.order_by)
    else:
        time_dim = query.time_dimension
        if time_dim:
            terms.append(f"{col[time_dim]} ASC")
            used.add(time_dim)
        terms.append(f"{col[query.metrics[0]]} DESC")
        used.add(query.metrics[0])
    terms += [f"{col[d]} ASC" for d in dims if d not in used]
    return terms


def compile_components(query: Query, site_id: int, rng: DateRange, params: Params,
                       windows: list[tuple[dt.datetime, dt.datetime]] | None = None,
                       tz: str | None = None, page_dirs: bool = False) -> list[str]:
    """The raw-data parts of a query: one SELECT per source, each with d0..dn and the component
    columns of the query's metrics, over the base windows (default: the whole range). `tz` overrides the
    request time zone for time keys (the rollup maintenance buckets by the site's zone);
    `page_dirs` makes the ``page`` dimension the directories a page lies in (ctx.page_column)."""
    plan = plan_query(query)
    ctx = _Ctx(query, plan, site_id, rng, params, windows, tz, page_dirs)
    return [_SOURCES[name](ctx, metrics) for name, metrics in plan.sources.items()]


def compile_planned(query: Query, site_id: int, rng: DateRange, coverage: Any = None) -> Compiled:
    """The query as one SELECT. `coverage` (rollup.Coverage, optional): the days and months the
    pre-aggregated rollup answers and the base windows left for raw data."""
    if query.uses_props:  # rows are events carrying properties: props.py (it builds on this module)
        from engine.query.props import compile_props

        return compile_props(query, site_id, rng, coverage)  # (props_rollup.PropCoverage)
    plan = plan_query(query)
    params = Params()
    params.fixed("site", site_id, "UInt32")
    parts: list[str] = []
    windows = None if coverage is None else list(coverage.windows)
    if windows is None or windows:
        parts += compile_components(query, site_id, rng, params, windows)
    if coverage is not None and (coverage.days or coverage.months):
        from engine.query.rollup import rollup_part

        parts.append(rollup_part(query, coverage, params))
    if not parts:  # nothing to read (cannot happen for a non-empty coverage)
        parts = compile_components(query, site_id, rng, params)
    dims = query.dimensions
    dim_cols = [f"d{i}" for i in range(len(dims))]
    metric_cols = [f"{METRICS[m].final_sql()} AS m_{m}" for m in query.metrics]
    union = " UNION ALL ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]
    sql = f"SELECT {', '.join(dim_cols + metric_cols)} FROM ({union}) AS u"
    time_only = bool(dims) and all(d in TIME_DIMENSIONS for d in dims)
    if dims:
        sql += f" GROUP BY {', '.join(dim_cols)}"
        if not time_only:
            population = " OR ".join(dict.fromkeys(
                f"{METRICS[m].population_sql()} > 0" for m in query.metrics))
            sql += f" HAVING {population}"
    paged_in_sql = bool(dims) and not time_only
    if paged_in_sql:
        sql += f" ORDER BY {', '.join(order_terms(query))}"
        sql += (f" LIMIT {params.fixed('limit', query.limit, 'UInt64')}"
                f" OFFSET {params.fixed('offset', query.offset, 'UInt64')}")
    assert "%" not in sql  # clickhouse-connect would try client-side %-binding
    return Compiled(sql, params.values, dims, query.metrics, paged_in_sql, plan, coverage)
