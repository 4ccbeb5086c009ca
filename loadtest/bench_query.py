"""Query benchmark: a fixed dashboard mix on a seeded store, three ways.

- engine: the query engine in-process through its public entry point
  `engine.query.run_query_sync(store, site, body, now)` (parse → plan → compile → run → shape),
  the exact path POST /api/query takes minus HTTP.
- hand:   the best SQL we could write by hand for the same answer on the same tables: where the
  per-dimension rollup covers the query (engine/query/rollup.py), a direct read of the day and month
  rows of `rollup_dims` summed with hand-written components over raw data for the rest of the range
  (today, dirty days); else session metrics from the `sessions` aggregate (FINAL), scroll/page
  duration from `page_visits`, unfiltered visitors/pageviews from the `events_hourly` rollup plus raw
  events for the partial hours at the range edges, everything else from `events`.
- raw:    the "no materialized views" approach: every metric from the raw `events` table, with
  sessions and page visits rebuilt by GROUP BY session_id / page_visit_id at query time.

Each query runs once to warm up, then `repeat` times (variants interleaved so machine noise hits
them alike); we report p50/p95/mean per variant and the engine/hand and raw/hand ratios of p50.
The three variants' answers are compared (top rows, first metrics) so a fast wrong query shows.
Then latency vs range length (7d, 30d, 90d, 12m, all) for three shapes.

`now` is the end of the seeded history (from the data dir's manifest), so "30d", "today" and
"realtime" see data however long ago the seed ran.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from engine.store import QueryLimitError
from loadtest.seed import manifest_site, read_manifest

DT64 = "DateTime64(3, 'UTC')"
SESSION_ATTRS = ("source", "channel", "referrer_url", "utm_source", "utm_medium", "utm_campaign",
                 "utm_content", "utm_term", "country", "region", "city", "device", "browser",
                 "browser_version", "os", "os_version", "screen")
BREAKDOWN_METRICS = {
    # the metric columns of the breakdown GETs (engine/query/breakdowns.py)
    "page": ("visitors", "pageviews", "avg_scroll", "avg_duration"),
    "source": ("visitors", "sessions", "bounce_rate", "avg_duration"),
    "channel": ("visitors", "sessions", "bounce_rate", "avg_duration"),
    "referrer_url": ("visitors", "sessions", "bounce_rate"),
    "utm_campaign": ("visitors", "sessions", "bounce_rate", "avg_duration"),
    "country": ("visitors", "sessions", "pageviews"),
    "city": ("visitors", "sessions", "pageviews"),
    "entry_page": ("sessions", "visitors", "bounce_rate", "avg_duration"),
    "exit_page": ("sessions", "visitors", "pageviews"),
    "device": ("visitors", "sessions", "bounce_rate", "avg_duration"),
    "browser": ("visitors", "sessions", "bounce_rate", "avg_duration"),
    "os": ("visitors", "sessions", "bounce_rate", "avg_duration"),
}
TOTALS = ("visitors", "pageviews", "sessions", "views_per_visit", "bounce_rate", "avg_duration")


@dataclass
class Spec:
    name: str
    group: str                      # 30d | filtered | all | realtime
    period: str
    metrics: tuple[str, ...]
    dims: tuple[str, ...] = ()
    filters: tuple[tuple[str, str, str], ...] = ()
    limit: int = 10

    def body(self) -> dict:
        body: dict[str, Any] = {"metrics": list(self.metrics), "period": self.period}
        if self.dims:
            body["dimensions"] = list(self.dims)
            if not all(d in ("hour", "date", "week", "month") for d in self.dims):
                body["limit"] = self.limit
        if self.filters:
            body["filters"] = [{"dimension": d, "operator": o, "value": v} for d, o, v in self.filters]
        return body


def dashboard() -> list[Spec]:
    specs = [
        Spec("totals", "30d", "30d", TOTALS),
        Spec("timeseries_date", "30d", "30d", ("visitors", "pageviews"), ("date",)),
    ]
    for dim, metrics in BREAKDOWN_METRICS.items():
        specs.append(Spec(f"by_{dim}", "30d", "30d", metrics, (dim,)))
    filtered = [
        Spec("totals_country_US", "filtered", "30d", TOTALS, filters=(("country", "is", "US"),)),
        Spec("by_page_source_Google", "filtered", "30d", BREAKDOWN_METRICS["page"], ("page",),
             (("source", "is", "Google"),)),
        Spec("timeseries_device_Mobile", "filtered", "30d", ("visitors", "pageviews"), ("date",),
             (("device", "is", "Mobile"),)),
        Spec("by_source_device_Desktop", "filtered", "30d", BREAKDOWN_METRICS["source"], ("source",),
             (("device", "is", "Desktop"),)),
        Spec("totals_page_prefix", "filtered", "30d", ("visitors", "pageviews", "bounce_rate"),
             filters=(("page", "starts_with", "/posts/"),)),
        Spec("totals_country_US_device_Mobile", "filtered", "30d", TOTALS,
             filters=(("country", "is", "US"), ("device", "is", "Mobile"))),
    ]
    specs += filtered
    specs += [
        Spec("totals", "all", "all", TOTALS),
        Spec("timeseries_month", "all", "all", ("visitors", "pageviews"), ("month",)),
        Spec("by_page", "all", "all", BREAKDOWN_METRICS["page"], ("page",)),
        Spec("by_source", "all", "all", BREAKDOWN_METRICS["source"], ("source",)),
        Spec("by_country", "all", "all", BREAKDOWN_METRICS["country"], ("country",)),
    ]
    # The filtered views over all time (a daily series becomes a monthly one).
    for spec in filtered:
        dims = tuple("month" if d == "date" else d for d in spec.dims)
        specs.append(Spec(spec.name, "filtered_all", "all", spec.metrics, dims, spec.filters, spec.limit))
    specs.append(Spec("visitors", "realtime", "realtime", ("visitors",)))
    return specs


RANGE_SHAPES = (
    ("totals", TOTALS, ()),
    ("by_source", BREAKDOWN_METRICS["source"], ("source",)),
    ("by_page", BREAKDOWN_METRICS["page"], ("page",)),
)
RANGES = ("7d", "30d", "90d", "12m", "all")


# --------------------------------------------------------------------------------------------
# Hand-written and raw SQL for a spec


def _label(col: str, dim: str) -> str:
    from engine.query.fields import EMPTY_LABELS

    label = EMPTY_LABELS.get(dim)
    return f"if({col} = '', '{label}', {col})" if label else col


def _time_key(col: str, dim: str) -> str:
    return {"hour": f"toStartOfHour({col}, {{tz:String}})", "date": f"toDate({col}, {{tz:String}})",
            "week": f"toMonday({col}, {{tz:String}})", "month": f"toStartOfMonth({col}, {{tz:String}})"}[dim]


def _ev_metrics(spec: Spec) -> list[str]:
    entry_exit = any(d in ("entry_page", "exit_page") for d in spec.dims)
    return [m for m in spec.metrics if m in ("visitors", "pageviews") and not entry_exit]


def _ss_metrics(spec: Spec) -> list[str]:
    page = "page" in spec.dims
    entry_exit = any(d in ("entry_page", "exit_page") for d in spec.dims)
    out = []
    for m in spec.metrics:
        if m in ("sessions", "views_per_visit", "bounce_rate", "clickers"):
            out.append(m)
        elif m == "avg_duration" and not page:
            out.append(m)
        elif m in ("visitors", "pageviews") and entry_exit:
            out.append(m)
    return out


def _pv_metrics(spec: Spec) -> list[str]:
    page = "page" in spec.dims
    return [m for m in spec.metrics if m == "avg_scroll" or (m == "avg_duration" and page)]


def _filters(spec: Spec, prefix: str = "") -> tuple[list[str], list[str]]:
    """(session-attribute predicates, page predicates on pathname)."""
    attrs, pages = [], []
    for i, (dim, op, _) in enumerate(spec.filters):
        if dim == "page":
            assert op == "starts_with"
            pages.append(f"startsWith({{COL}}, {{f{i}:String}})")
        else:
            assert op == "is"
            attrs.append(f"{_label(prefix + dim, dim)} = {{f{i}:String}}")
    return attrs, pages


_SESSION_AGG = {
    "sessions": "count()",
    "visitors": "uniq(user_id)",
    "pageviews": "sum(pageviews)",
    "views_per_visit": "round(sum(pageviews) / count(), 2)",
    "bounce_rate": ("round(100 * countIf(pageviews <= 1 AND clicks = 0 AND max_scroll < 25 "
                    "AND engaged_ms < 15000) / count())"),
    "avg_duration": ("round(avg(if(engaged_ms > 0, toInt64(engaged_ms), greatest(toInt64(0), "
                     "toUnixTimestamp64Milli(last_activity) - toUnixTimestamp64Milli(session_start)))) "
                     "/ 1000)"),
    "clickers": "countIf(clicks > 0)",
}
_PV_AGG = {
    "avg_scroll": "round(avgIf(max_scroll, has_scroll = 1))",
    "avg_duration": "round(avgIf(max_engaged_ms, has_engagement = 1) / 1000)",
}


def _key(spec: Spec, source: str) -> str:
    """The grouping key expression of a source (events | sessions | page_visits)."""
    if not spec.dims:
        return ""
    parts = []
    for d in spec.dims:
        if d in ("hour", "date", "week", "month"):
            col = {"events": "timestamp", "sessions": "session_start", "page_visits": "session_start"}[source]
            parts.append(_time_key(col, d))
        elif d == "page":
            parts.append("pathname")
        elif d == "entry_page":
            parts.append(_label("entry", d))
        elif d == "exit_page":
            parts.append(_label("exit", d))
        else:
            parts.append(_label(d, d))
    return parts[0] if len(parts) == 1 else f"tuple({', '.join(parts)})"


def _events_part(spec: Spec, rollup: bool) -> str | None:
    metrics = _ev_metrics(spec)
    if not metrics:
        return None
    key = _key(spec, "events")
    page_scope = "page" in spec.dims or any(d == "page" for d, _, _ in spec.filters)
    attrs, pages = _filters(spec)
    only_time = all(d in ("hour", "date", "week", "month") for d in spec.dims)
    agg = {"visitors": "uniq(user_id)", "pageviews": "countIf(type = 'pageview')"}
    if rollup and not spec.filters and only_time:
        tkey = _time_key("t", spec.dims[0]) if spec.dims else ""
        inner = (
            "SELECT hour AS t, visitors AS v, toUInt64(pageviews) AS pv FROM events_hourly "
            "WHERE site_id = {site:UInt32} AND hour >= {h0:DateTime('UTC')} AND hour < {h1:DateTime('UTC')} "
            "UNION ALL SELECT toStartOfHour(timestamp) AS t, uniqState(user_id) AS v, "
            "toUInt64(countIf(type = 'pageview')) AS pv FROM events WHERE site_id = {site:UInt32} AND "
            f"((timestamp >= {{start:{DT64}}} AND timestamp < {{h0:DateTime('UTC')}}) OR "
            f"(timestamp >= {{h1:DateTime('UTC')}} AND timestamp < {{end:{DT64}}})) GROUP BY t"
        )
        magg = {"visitors": "uniqMerge(v)", "pageviews": "sum(pv)"}
        cols = ([f"{tkey} AS k"] if tkey else []) + [f"{magg[m]} AS {m}" for m in metrics]
        return f"SELECT {', '.join(cols)} FROM ({inner})" + (" GROUP BY k" if tkey else "")
    where = ["site_id = {site:UInt32}", f"timestamp >= {{start:{DT64}}}", f"timestamp < {{end:{DT64}}}"]
    where += attrs
    if page_scope:
        where.append("type = 'pageview'")
        where += [p.replace("{COL}", "pathname") for p in pages]
    cols = ([f"{key} AS k"] if key else []) + [f"{agg[m]} AS {m}" for m in metrics]
    sql = f"SELECT {', '.join(cols)} FROM events WHERE {' AND '.join(where)}"
    return sql + (" GROUP BY k" if key else "")


def _sessions_part(spec: Spec, raw: bool) -> str | None:
    metrics = _ss_metrics(spec)
    if not metrics:
        return None
    attrs, pages = _filters(spec)
    key = _key(spec, "sessions")
    needs_entry = any(d == "entry_page" for d in spec.dims) or bool(pages)
    needs_exit = any(d == "exit_page" for d in spec.dims)
    if raw:
        attr_cols = [f"any({d}) AS {d}" for d in SESSION_ATTRS if d in spec.dims or any(
            f[0] == d for f in spec.filters)]
        inner = ", ".join([
            "session_id", "any(user_id) AS user_id", "countIf(type = 'pageview') AS pageviews",
            "countIf(type = 'click') AS clicks", "max(ifNull(scroll_depth, 0)) AS max_scroll",
            "sum(engaged_delta_ms) AS engaged_ms", "session_start",
            "maxIf(timestamp, type != 'engagement') AS last_activity",
            "argMinIf(pathname, (timestamp, event_id), type = 'pageview') AS entry",
            "argMaxIf(pathname, (timestamp, event_id), type = 'pageview') AS exit",
            *attr_cols,
        ])
        where = ["site_id = {site:UInt32}", f"timestamp >= {{start:{DT64}}}",
                 f"timestamp < {{end:{DT64}}} + INTERVAL 1 DAY",
                 f"session_start >= {{start:{DT64}}}", f"session_start < {{end:{DT64}}}"]
        src = f"(SELECT {inner} FROM events WHERE {' AND '.join(where)} GROUP BY session_id, session_start)"
    else:
        cols = ["session_start", "session_id", "user_id", "pageviews", "clicks", "max_scroll",
                "engaged_ms", "last_activity"]
        if needs_entry:
            cols.append("finalizeAggregation(entry_page) AS entry")
        if needs_exit:
            cols.append("finalizeAggregation(exit_page) AS exit")
        cols += [d for d in SESSION_ATTRS if d in spec.dims or any(f[0] == d for f in spec.filters)]
        where = ["site_id = {site:UInt32}", f"session_start >= {{start:{DT64}}}",
                 f"session_start < {{end:{DT64}}}"]
        src = f"(SELECT {', '.join(cols)} FROM sessions FINAL WHERE {' AND '.join(where)})"
    outer_where = list(attrs) + [p.replace("{COL}", "entry") for p in pages]
    agg_cols = ([f"{key} AS k"] if key else []) + [f"{_SESSION_AGG[m]} AS {m}" for m in metrics]
    sql = f"SELECT {', '.join(agg_cols)} FROM {src}"
    if outer_where:
        sql += " WHERE " + " AND ".join(outer_where)
    return sql + (" GROUP BY k" if key else "")


def _page_visits_part(spec: Spec, raw: bool) -> str | None:
    metrics = _pv_metrics(spec)
    if not metrics:
        return None
    attrs, pages = _filters(spec)
    key = _key(spec, "page_visits")
    attr_names = [d for d, _, _ in spec.filters if d != "page"]
    if raw:
        inner = ", ".join([
            "page_visit_id", "any(pathname) AS pathname", "session_start",
            "max(ifNull(scroll_depth, 0)) AS max_scroll", "max(ifNull(engaged_ms, 0)) AS max_engaged_ms",
            "max(scroll_depth IS NOT NULL) AS has_scroll", "max(engaged_ms IS NOT NULL) AS has_engagement",
            *[f"any({d}) AS {d}" for d in attr_names],
        ])
        where = ["site_id = {site:UInt32}", f"timestamp >= {{start:{DT64}}}",
                 f"timestamp < {{end:{DT64}}} + INTERVAL 1 DAY",
                 f"session_start >= {{start:{DT64}}}", f"session_start < {{end:{DT64}}}",
                 "page_visit_id != 0", "type IN ('pageview', 'engagement')"]
        src = (f"(SELECT {inner} FROM events WHERE {' AND '.join(where)} "
               "GROUP BY page_visit_id, session_start)")
        outer = list(attrs) + [p.replace("{COL}", "pathname") for p in pages]
    else:
        where = ["site_id = {site:UInt32}", f"session_start >= {{start:{DT64}}}",
                 f"session_start < {{end:{DT64}}}"]
        where += [p.replace("{COL}", "pathname") for p in pages]
        src = ("(SELECT session_start, session_id, pathname, max_scroll, max_engaged_ms, has_scroll, "
               f"has_engagement FROM page_visits FINAL WHERE {' AND '.join(where)})")
        outer = []
        if attrs:
            # Session-attribute filters reach page visits through their sessions.
            sess_where = ["site_id = {site:UInt32}", f"session_start >= {{start:{DT64}}}",
                          f"session_start < {{end:{DT64}}}", *attrs]
            outer.append(f"session_id IN (SELECT session_id FROM sessions WHERE {' AND '.join(sess_where)})")
    cols = ([f"{key} AS k"] if key else []) + [f"{_PV_AGG[m]} AS {m}" for m in metrics]
    sql = f"SELECT {', '.join(cols)} FROM {src}"
    if outer:
        sql += " WHERE " + " AND ".join(outer)
    return sql + (" GROUP BY k" if key else "")


# Hand-written components over raw data for the base windows of a rollup-covered query: the same
# additive numerators and denominators the rollup rows hold (engine/query/metrics.py).
_HAND_SESSION_COMPONENTS = {
    "sessions": {"c_sessions": "count()"},
    "visitors": {"c_visitors": "uniq(user_id)"},
    "pageviews": {"c_pageviews": "sum(pageviews)"},
    "views_per_visit": {"c_views_per_visit_n": "sum(pageviews)", "c_views_per_visit_d": "count()"},
    "bounce_rate": {"c_bounce_rate_n": "countIf(pageviews <= 1 AND clicks = 0 AND max_scroll < 25 "
                                       "AND engaged_ms < 15000)", "c_bounce_rate_d": "count()"},
    "avg_duration": {"c_avg_duration_n": "sum(if(engaged_ms > 0, toInt64(engaged_ms), greatest(toInt64(0), "
                                         "toUnixTimestamp64Milli(last_activity) - "
                                         "toUnixTimestamp64Milli(session_start))))",
                     "c_avg_duration_d": "1000 * count()"},
    "clickers": {"c_clickers": "countIf(clicks > 0)", "c_clickers_d": "count()"},
}


def _window_pred(col: str, n_windows: int) -> str:
    return "(" + " OR ".join(f"({col} >= {{w{i}a:{DT64}}} AND {col} < {{w{i}b:{DT64}}})"
                             for i in range(n_windows)) + ")"


def build_hand_rollup_sql(spec: Spec, coverage) -> str:
    """Hand SQL for a query the rollup covers: rollup rows + raw components for the windows."""
    from engine.query.metrics import METRICS, components_of
    from engine.query.rollup import PAGE_DIRS, key_dimensions, rollup_table

    names = components_of(spec.metrics)  # only the columns the metrics need
    value_dims = [d for d in spec.dims if d not in ("hour", "date", "week", "month")]
    time_dim = next((d for d in spec.dims if d in ("date", "week", "month")), None)
    dim = value_dims[0] if value_dims else ""  # what the rows are grouped by
    page = dim == "page"
    entry_exit = dim in ("entry_page", "exit_page")
    attrs, pages = _filters(spec)
    attr_dims = [d for d, _, _ in spec.filters if d != "page"]
    table, columns = rollup_table(coverage.dim)
    column = dict(zip(key_dimensions(coverage.dim), columns, strict=False))

    def comps(computed: dict[str, str]) -> str:
        return ", ".join(f"toUInt64({computed[c]}) AS {c}" if c in computed else f"toUInt64(0) AS {c}"
                         for c in names)

    def key(expr_value: str, time_col: str) -> str:
        parts = []
        if time_dim and time_col == "bucket":  # a site-local Date already
            parts.append({"date": "bucket", "week": "toMonday(bucket)",
                          "month": "toStartOfMonth(bucket)"}[time_dim])
        elif time_dim:
            parts.append(_time_key(time_col, time_dim))
        if value_dims:
            parts.append(expr_value)
        if not parts:
            return "0"
        return parts[0] if len(parts) == 1 else f"tuple({', '.join(parts)})"

    rollup_key = key(column.get(dim, "value"), "bucket")
    preds = []
    for i, (d, op, _) in enumerate(spec.filters):
        if coverage.dim == PAGE_DIRS:
            preds.append(f"value = {{f{i}:String}}")
        elif op == "starts_with":
            preds.append(f"startsWith({column[d]}, {{f{i}:String}})")
        else:
            preds.append(f"{column[d]} = {{f{i}:String}}")
    filt = "".join(f" AND {p}" for p in preds)
    rollup_sql = (f"SELECT {rollup_key} AS k, {', '.join(names)} FROM {table} FINAL "
                  "WHERE site_id = {site:UInt32} AND dim = {rdim:String} AND ((grain = 1 AND "
                  "has({rdays:Array(Date)}, bucket)) OR (grain = 2 AND has({rmonths:Array(Date)}, bucket)))"
                  + filt)
    parts = [rollup_sql]
    n = len(coverage.windows)
    if n:
        col = {"": "''", "page": "pathname"}.get(dim, dim)
        lbl = col if dim in ("", "page") else _label(dim, dim)
        ev = {m: METRICS[m] for m in spec.metrics}
        ev_metrics = [m for m in ev if m in ("visitors", "pageviews") and not entry_exit]
        if ev_metrics:
            where = ["site_id = {site:UInt32}", _window_pred("timestamp", n)] + attrs
            if page or pages:
                where.append("type = 'pageview'")
                where += [p.replace("{COL}", "pathname") for p in pages]
            vis = "uniqIf(user_id, type = 'pageview')" if page or pages else "uniq(user_id)"
            computed = {"c_visitors": vis, "c_pageviews": "countIf(type = 'pageview')"}
            computed = {c: e for c, e in computed.items() if c[2:] in ev_metrics}
            parts.append(f"SELECT {key(lbl, 'timestamp')} AS k, {comps(computed)} FROM events "
                         f"WHERE {' AND '.join(where)} GROUP BY k")
        s_metrics = [m for m in ev if m in _HAND_SESSION_COMPONENTS and m not in ev_metrics
                     and not (page and m == "avg_duration")]
        if s_metrics:
            computed = {c: e for m in s_metrics for c, e in _HAND_SESSION_COMPONENTS[m].items()}
            cols = "session_start, user_id, pageviews, clicks, max_scroll, engaged_ms, last_activity"
            if page or entry_exit or pages:
                cols += (", finalizeAggregation(entry_page) AS entry"
                         if dim != "exit_page" else ", finalizeAggregation(exit_page) AS exit")
            for d in dict.fromkeys(([dim] if dim and not (page or entry_exit) else []) + attr_dims):
                cols += f", {d}"
            skey = {"page": "entry", "entry_page": "entry", "exit_page": "exit"}.get(dim, lbl)
            where = ["site_id = {site:UInt32}", _window_pred("session_start", n)]
            outer = list(attrs) + [p.replace("{COL}", "entry") for p in pages]
            if page:
                outer.append("pageviews > 0")
            parts.append(f"SELECT {key(skey, 'session_start')} AS k, {comps(computed)} FROM (SELECT {cols} "
                         f"FROM sessions FINAL WHERE {' AND '.join(where)})"
                         + (f" WHERE {' AND '.join(outer)}" if outer else "") + " GROUP BY k")
        pv = {}
        if "avg_scroll" in ev:
            pv.update({"c_avg_scroll_n": "sumIf(max_scroll, has_scroll = 1)",
                       "c_avg_scroll_d": "countIf(has_scroll = 1)"})
        if "avg_duration" in ev and page:
            pv.update({"c_avg_duration_n": "sumIf(max_engaged_ms, has_engagement = 1)",
                       "c_avg_duration_d": "1000 * countIf(has_engagement = 1)"})
        if pv:
            where = ["site_id = {site:UInt32}", _window_pred("session_start", n)]
            where += [p.replace("{COL}", "pathname") for p in pages]
            if attrs:
                where.append("session_id IN (SELECT session_id FROM sessions WHERE site_id = {site:UInt32} "
                             f"AND {_window_pred('session_start', n)} AND {' AND '.join(attrs)})")
            pkey = key("pathname" if page else "''", "session_start")
            parts.append(f"SELECT {pkey} AS k, {comps(pv)} FROM page_visits FINAL "
                         f"WHERE {' AND '.join(where)} GROUP BY k")
    finals = ", ".join(f"{METRICS[m].final_sql()} AS {m}" for m in spec.metrics)
    union = " UNION ALL ".join(f"({p})" for p in parts)
    sql = f"SELECT k, {finals} FROM ({union}) GROUP BY k"
    if not spec.dims:
        return f"SELECT {finals} FROM ({union})"
    if time_dim and not value_dims:
        return sql + " ORDER BY k"
    population = " OR ".join(f"{METRICS[m].population_sql()} > 0" for m in spec.metrics)
    return sql + f" HAVING {population} ORDER BY {spec.metrics[0]} DESC, k ASC LIMIT {int(spec.limit)}"


def build_sql(spec: Spec, variant: str, rollup: bool) -> str:
    """One SELECT answering `spec`: variant "hand" (aggregates + rollup) or "raw" (events only)."""
    raw = variant == "raw"
    if spec.period == "realtime":
        return ("SELECT uniq(user_id) AS visitors FROM events WHERE site_id = {site:UInt32} "
                f"AND timestamp >= {{start:{DT64}}} AND timestamp < {{end:{DT64}}}")
    parts = [p for p in (
        _events_part(spec, rollup and not raw),
        _sessions_part(spec, raw),
        _page_visits_part(spec, raw),
    ) if p]
    metric_cols = list(spec.metrics)
    if not spec.dims:
        body = " CROSS JOIN ".join(f"({p}) AS q{i}" for i, p in enumerate(parts))
        return f"SELECT {', '.join(metric_cols)} FROM {body}"
    body = f"({parts[0]}) AS q0"
    for i, p in enumerate(parts[1:], start=1):
        body += f" FULL OUTER JOIN ({p}) AS q{i} USING (k)"
    sql = f"SELECT k, {', '.join(metric_cols)} FROM {body}"
    if all(d in ("hour", "date", "week", "month") for d in spec.dims):
        return sql + " ORDER BY k"
    return sql + f" ORDER BY {spec.metrics[0]} DESC, k ASC LIMIT {int(spec.limit)}"


# --------------------------------------------------------------------------------------------
# Running


@dataclass
class Timing:
    runs_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        r = sorted(self.runs_ms)
        if not r:
            return {}
        return {"p50_ms": round(_pct(r, 50), 2), "p95_ms": round(_pct(r, 95), 2),
                "mean_ms": round(statistics.fmean(r), 2), "min_ms": round(r[0], 2),
                "max_ms": round(r[-1], 2), "n": len(r), "runs_ms": [round(x, 2) for x in self.runs_ms]}


def _pct(sorted_values: list[float], p: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


class Bench:
    def __init__(self, store, site, now: dt.datetime, log=print):
        from engine.query.run import first_event_time, settings

        self.store = store
        self.site = site
        self.now = now
        self.log = log
        self.settings = settings(store)
        self.first_event = first_event_time(store, site.site_id)
        tables = {r[0] for r in store.rows("SELECT name FROM system.tables WHERE database = "
                                           "currentDatabase()")}
        self.rollup = "events_hourly" in tables

    def coverage(self, spec: Spec):
        from engine.query.parse import parse_query
        from engine.query.run import coverage, first_event_time, resolve

        query = parse_query(spec.body())
        first = first_event_time(self.store, self.site.site_id) if query.period == "all" else None
        return coverage(self.store, self.site, query, resolve(query, self.now, first))

    def sql_params(self, spec: Spec) -> dict:
        from engine.query.parse import parse_query
        from engine.query.run import resolve

        rng = resolve(parse_query(spec.body()), self.now, self.first_event)
        start = rng.start.astimezone(dt.UTC)
        end = rng.end.astimezone(dt.UTC)
        h0 = start.replace(minute=0, second=0, microsecond=0)
        if h0 < start:
            h0 += dt.timedelta(hours=1)
        h1 = end.replace(minute=0, second=0, microsecond=0)
        if h1 < h0:
            h1 = h0
        params = {"site": self.site.site_id, "start": _ts(start), "end": _ts(end), "tz": rng.timezone,
                  "h0": h0.strftime("%Y-%m-%d %H:%M:%S"), "h1": h1.strftime("%Y-%m-%d %H:%M:%S")}
        for i, (_, _, value) in enumerate(spec.filters):
            params[f"f{i}"] = value
        cov = self.coverage(spec)
        if cov is not None:
            params.update({"rdim": cov.dim, "rdays": list(cov.days), "rmonths": list(cov.months)})
            for i, (a, b) in enumerate(cov.windows):
                params[f"w{i}a"], params[f"w{i}b"] = _ts(a.astimezone(dt.UTC)), _ts(b.astimezone(dt.UTC))
        return params

    def run_engine(self, spec: Spec) -> tuple[float, Any]:
        from engine.query import run_query_sync

        t0 = time.perf_counter()
        out = run_query_sync(self.store, self.site, spec.body(), now=self.now)
        return (time.perf_counter() - t0) * 1000, out["results"]

    def run_sql(self, sql: str, params: dict) -> tuple[float, Any]:
        t0 = time.perf_counter()
        rows = self.store.dicts(sql, params, settings=self.settings)
        return (time.perf_counter() - t0) * 1000, rows

    def measure(self, spec: Spec, repeat: int, raw_repeat: int, skip_raw: bool) -> dict:
        params = self.sql_params(spec)
        cov = self.coverage(spec)
        hand_sql = (build_hand_rollup_sql(spec, cov) if cov is not None
                    else build_sql(spec, "hand", self.rollup))
        raw_sql = build_sql(spec, "raw", False)
        variants = {"engine": lambda: self.run_engine(spec), "hand": lambda: self.run_sql(hand_sql, params)}
        if not skip_raw and raw_repeat > 0:
            variants["raw"] = lambda: self.run_sql(raw_sql, params)
        failed = {}
        timings = {name: Timing() for name in variants}
        answers = {}
        for name, fn in list(variants.items()):  # warm-up (also the answers we compare)
            try:
                _, answers[name] = fn()
            except QueryLimitError as exc:  # e.g. raw events over the per-query memory cap
                failed[name] = str(exc)[:300]
                del variants[name]
                timings.pop(name, None)
        for i in range(repeat):
            for name, fn in variants.items():
                if name == "raw" and i >= raw_repeat:
                    continue
                ms, _ = fn()
                timings[name].runs_ms.append(ms)
        out = {"name": spec.name, "group": spec.group, "period": spec.period, "body": spec.body(),
               "rollup": None if cov is None else {"dim": cov.dim, "days": len(cov.days),
                                                   "months": len(cov.months), "windows": len(cov.windows)},
               "hand_sql": hand_sql, "raw_sql": raw_sql if "raw" in variants else None}
        for name, t in timings.items():
            out[name] = t.summary()
        hand = (out.get("hand") or {}).get("p50_ms")
        out["engine_vs_hand"] = round(out["engine"]["p50_ms"] / hand, 3) if hand else None
        if "raw" in out and out["raw"]:
            out["raw_vs_hand"] = round(out["raw"]["p50_ms"] / hand, 2) if hand else None
            out["raw_vs_engine"] = round(out["raw"]["p50_ms"] / out["engine"]["p50_ms"], 2)
        out["check"] = compare(spec, answers)
        if failed:
            out["failed"] = failed
        return out


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _norm_key(value: Any) -> str:
    if isinstance(value, tuple):
        return "|".join(_norm_key(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def compare(spec: Spec, answers: dict) -> dict:
    """Engine vs hand vs raw: the top rows' keys and first metrics (uniq is approximate and the
    variants' rounding differs, so numbers match within 2% / 1 unit)."""
    def rows_of(name: str) -> list[tuple[str, list[float]]]:
        ans = answers[name]
        if name == "engine":
            if isinstance(ans, dict):
                return [("", [float(ans.get(m) or 0) for m in spec.metrics])]
            out = []
            for row in ans:
                key = "|".join(str(row[d]) for d in spec.dims)
                out.append((key, [float(row.get(m) or 0) for m in spec.metrics]))
            return out
        out = []
        for row in ans:
            key = _norm_key(row.get("k")) if spec.dims else ""
            if spec.dims and spec.dims[0] == "month":
                key = key[:7]
            out.append((key, [float(row.get(m) or 0) for m in spec.metrics]))
        return out

    ref = rows_of("engine")
    result = {}
    for name in answers:
        if name == "engine":
            continue
        other = dict(rows_of(name))
        worst = 0.0
        missing = 0
        for key, values in ref[:5]:
            if key not in other:
                missing += 1
                continue
            for a, b in zip(values, other[key], strict=False):
                if abs(a - b) <= 1:
                    continue
                worst = max(worst, abs(a - b) / max(abs(a), abs(b), 1))
        result[name] = {"max_rel_diff_top5": round(worst, 4), "missing_top5": missing,
                        "ok": missing == 0 and worst <= 0.02}
    return result


def store_facts(store, site_id: int) -> dict:
    facts = {}
    for table in ("events", "sessions", "page_visits", "events_hourly", "rollup_dims", "rollup_pairs_v2",
                  "rollup_state", "rollup_touched", "event_props"):
        rows = store.rows(
            "SELECT sum(rows), count(), sum(bytes_on_disk) FROM system.parts "
            "WHERE active AND database = currentDatabase() AND table = {t:String}", {"t": table})
        if rows and rows[0][1]:
            facts[table] = {"rows": int(rows[0][0]), "parts": int(rows[0][1]),
                            "bytes_on_disk": int(rows[0][2])}
    facts["site_events"] = int(store.rows("SELECT count() FROM events WHERE site_id = {s:UInt32}",
                                          {"s": site_id})[0][0])
    return facts


def run_bench(data_dir: str, repeat: int = 7, raw_repeat: int = 3, site_ref: str = "largest",
              only: set[str] | None = None, skip_raw: bool = False, skip_ranges: bool = False,
              log=print) -> dict:
    from engine.query.realtime import realtime_sync
    from loadtest.seed import open_bench_store

    manifest = read_manifest(data_dir)
    if not manifest:
        raise SystemExit(f"no loadtest manifest in {data_dir}: run `clickport loadtest seed` first")
    sites = manifest["sites"]
    site = manifest_site(manifest, site_ref)
    t0 = time.perf_counter()
    store = open_bench_store(data_dir)  # applies pending migrations (a new rollup backfills here)
    log(f"store open + migrations: {time.perf_counter() - t0:.1f} s")
    try:
        from engine.rollups import seal_all

        t0 = time.perf_counter()
        sealed = seal_all(store, [(s["site_id"], s["timezone"]) for s in sites], progress=log)
        seal_s = time.perf_counter() - t0
        log(f"rollups: sealed {sealed} site-days in {seal_s:.1f} s")
        now = dt.datetime.fromisoformat(manifest["seeded_until"])
        bench = Bench(store, site, now, log)
        facts = store_facts(store, site.site_id)
        log(f"site {site.domain} (id {site.site_id}): {facts['site_events']:,} events of "
            f"{facts['events']['rows']:,}; rollup table: {bench.rollup}; now = {now.isoformat()}")
        result: dict = {"data_dir": os.path.abspath(data_dir), "site": {k: getattr(site, k) for k in (
            "site_id", "domain", "timezone")}, "now": now.isoformat(), "store": facts,
            "repeat": repeat, "raw_repeat": raw_repeat, "rollup_table": bench.rollup, "queries": [],
            "ranges": [], "rollup_seal": {"site_days": sealed, "seconds": round(seal_s, 1)}}
        for spec in dashboard():
            key = f"{spec.group}/{spec.name}"
            if only and spec.name not in only and key not in only:
                continue
            skip = skip_raw or spec.group == "realtime"
            q = bench.measure(spec, repeat, raw_repeat, skip)
            result["queries"].append(q)
            log(_fmt(q))
        # The realtime endpoint (GET /api/realtime): count + up to 20 active sessions.
        if not only or "realtime_endpoint" in only:
            t = Timing()
            realtime_sync(store, site.site_id, now, bench.settings)
            for _ in range(repeat):
                t0 = time.perf_counter()
                realtime_sync(store, site.site_id, now, bench.settings)
                t.runs_ms.append((time.perf_counter() - t0) * 1000)
            q = {"name": "realtime_endpoint", "group": "realtime", "period": "realtime",
                 "engine": t.summary(), "hand": {}, "engine_vs_hand": None}
            result["queries"].append(q)
            log(_fmt(q))
        if not skip_ranges:
            for shape, metrics, dims in RANGE_SHAPES:
                for period in RANGES:
                    spec = Spec(shape, "range", period, metrics, dims)
                    q = bench.measure(spec, repeat, 0, True)
                    result["ranges"].append({"shape": shape, "period": period, "engine": q["engine"],
                                             "hand": q["hand"], "engine_vs_hand": q["engine_vs_hand"]})
                    log(f"  range {shape:9s} {period:4s} engine p50 {q['engine']['p50_ms']:8.1f} ms  "
                        f"hand p50 {q['hand']['p50_ms']:8.1f} ms")
        result["targets"] = targets(result)
        return result
    finally:
        store.close()


def targets(result: dict) -> dict:
    """Issue 9's targets: p95 ≤ 100 ms (30d, filtered ones included) and ≤ 250 ms (all time); each
    all-time query's p50 ≤ 2.5× its 30-day p50; engine/hand median ≤ 1.1 and worst ≤ 1.3; raw
    events ≥ 10× slower than the engine on all-time session metrics; rollup tables ≤ 30% of events."""
    q30 = [q for q in result["queries"] if q["group"] in ("30d", "filtered")]
    qall = [q for q in result["queries"] if q["group"] in ("all", "filtered_all")]
    worst30 = max(q30, key=lambda q: q["engine"]["p95_ms"], default=None)
    worstall = max(qall, key=lambda q: q["engine"]["p95_ms"], default=None)
    ratios = [q["engine_vs_hand"] for q in result["queries"] if q.get("engine_vs_hand")]
    worst_ratio = max(result["queries"], key=lambda q: q.get("engine_vs_hand") or 0, default=None)
    by30 = {(q["group"], q["name"]): q for q in result["queries"] if q["group"] in ("30d", "filtered")}
    all_over_30d = {}
    for q in qall:
        twin = by30.get(("filtered" if q["group"] == "filtered_all" else "30d", q["name"]))
        if twin is None and q["name"] == "timeseries_month":
            twin = by30.get(("30d", "timeseries_date"))
        if twin:
            ratio = q["engine"]["p50_ms"] / twin["engine"]["p50_ms"]
            all_over_30d[f"{q['group']}/{q['name']}"] = round(ratio, 2)
    raw_speedup = {q["name"]: q.get("raw_vs_engine") for q in qall if q.get("raw_vs_engine")}
    range_ratio = {}
    for shape, _, _ in RANGE_SHAPES:
        by = {r["period"]: r for r in result["ranges"] if r["shape"] == shape}
        if "all" in by and "30d" in by:
            range_ratio[shape] = round(by["all"]["engine"]["p50_ms"] / by["30d"]["engine"]["p50_ms"], 2)
    store = result["store"]
    events = store.get("events", {}).get("rows", 0)
    ev_bytes = store.get("events", {}).get("bytes_on_disk", 0)
    pre_bytes = sum(store.get(t, {}).get("bytes_on_disk", 0) for t in ("rollup_dims", "rollup_pairs_v2",
                                                                         "rollup_state", "rollup_touched"))
    return {
        "events_in_store": events,
        "at_least_100M_events": events >= 100_000_000,
        "p95_30d_worst_ms": worst30["engine"]["p95_ms"] if worst30 else None,
        "p95_30d_worst_query": worst30["name"] if worst30 else None,
        "p95_30d_target_ms": 100, "p95_30d_met": bool(worst30) and worst30["engine"]["p95_ms"] <= 100,
        "p95_30d_over_target": sorted(q["name"] for q in q30 if q["engine"]["p95_ms"] > 100),
        "p95_all_worst_ms": worstall["engine"]["p95_ms"] if worstall else None,
        "p95_all_worst_query": worstall["name"] if worstall else None,
        "p95_all_target_ms": 250, "p95_all_met": bool(worstall) and worstall["engine"]["p95_ms"] <= 250,
        "all_over_30d_p50": all_over_30d, "all_over_30d_target": 2.5,
        "all_over_30d_met": bool(all_over_30d) and max(all_over_30d.values()) <= 2.5,
        "engine_vs_hand_worst": max(ratios) if ratios else None,
        "engine_vs_hand_worst_query": (f"{worst_ratio['group']}/{worst_ratio['name']}"
                                       if worst_ratio else None),
        "engine_vs_hand_median": round(statistics.median(ratios), 3) if ratios else None,
        "engine_vs_hand_target": {"median": 1.1, "worst": 1.3},
        "engine_vs_hand_met": bool(ratios) and statistics.median(ratios) <= 1.1 and max(ratios) <= 1.3,
        "raw_vs_engine_all_time": raw_speedup, "raw_vs_engine_target": 10,
        "range_all_over_30d": range_ratio,
        "preaggregated_bytes": pre_bytes, "events_bytes": ev_bytes,
        "preaggregated_share_of_events": round(pre_bytes / ev_bytes, 4) if ev_bytes else None,
        "preaggregated_share_target": 0.30,
    }


def _fmt(q: dict) -> str:
    e, h, r = q["engine"], q.get("hand") or {}, q.get("raw") or {}
    text = f"{q['group']:8s} {q['name']:26s} engine p50 {e['p50_ms']:8.1f} p95 {e['p95_ms']:8.1f} ms"
    if h:
        text += f" | hand p50 {h['p50_ms']:8.1f} (x{q['engine_vs_hand']:.2f})"
    if r:
        text += f" | raw p50 {r['p50_ms']:9.1f} (x{q['raw_vs_hand']:.1f} of hand)"
    checks = q.get("check") or {}
    bad = [k for k, v in checks.items() if not v["ok"]]
    if bad:
        text += f"  [answers differ: {', '.join(bad)} {checks}]"
    return text


def run_bench_command(args) -> int:
    from loadtest.cli import _save, command_line

    only = {x.strip() for x in args.only.split(",") if x.strip()} or None
    result = run_bench(args.lt_data_dir, repeat=args.repeat, raw_repeat=args.raw_repeat, site_ref=args.site,
                       only=only, skip_raw=args.skip_raw, skip_ranges=args.skip_ranges)
    result["command"] = command_line()
    path = _save(args.results, "bench.json", result)
    print(json.dumps(result["targets"], indent=2))
    print(f"results: {path}")
    return 0
