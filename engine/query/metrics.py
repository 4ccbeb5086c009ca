"""Every metric's definition, in one place: where it is computed, its SQL, its rounding, which
rows it makes exist, and how it compares with the previous period.

A metric is computed in two steps.

1. **Components**: additive sums (a count, or a numerator and a denominator), computed per group by
   one *source* (``events``, ``sessions``, ``page_visits``) or read from the pre-aggregated
   ``rollup_dims`` table, which stores exactly these components per site-day. Components of
   disjoint parts of a range (pre-aggregated days, raw-event edges) add up: that is what lets the
   planner answer from several places at once (plan.py).
2. **Final value**: one expression over the summed components (``final_sql``), rounded half away
   from zero in integer arithmetic; the shaper only converts types (``value``).

``population`` names the component whose sum must be positive for a non-time row to exist
(SPEC §3 "Which non-time rows exist").
"""

from __future__ import annotations

from dataclasses import dataclass

EVENTS, SESSIONS, PAGE_VISITS = "events", "sessions", "page_visits"
ENTRY_EXIT = ("entry_page", "exit_page")

# Bounce and duration of one merged session (columns of compile.sessions_subquery, alias s).
BOUNCED = ("(s.s_pageviews <= 1 AND s.s_clicks = 0 AND s.s_max_scroll < 25 "
           "AND s.s_engaged_ms < 15000)")
# Engaged time when the session reported any; else last non-engagement event − first event.
DURATION_MS = ("if(s.s_engaged_ms > 0, toInt64(s.s_engaged_ms), greatest(toInt64(0), "
               "toUnixTimestamp64Milli(s.s_last_activity) - toUnixTimestamp64Milli(s.s_start)))")
# avg_duration is computed in milliseconds and shown in whole seconds.
MS_PER_SECOND = 1000


@dataclass(frozen=True)
class Metric:
    name: str
    # "count": one component c_<name>; "ratio": c_<name>_n / c_<name>_d
    kind: str
    # ratio: round(scale * n / d) (then / divisor for a decimal value)
    scale: int = 1
    divisor: int = 1
    # "percent": change in percent of the old value; "points": new − old
    change_rule: str = "percent"
    # The component whose sum must be > 0 for a non-time row to exist.
    population: str = ""
    # A count with its own population component c_<name>_d (clickers: sessions)
    counted_over_sessions: bool = False

    @property
    def is_float(self) -> bool:
        return self.divisor != 1

    @property
    def components(self) -> tuple[str, ...]:
        if self.kind == "ratio":
            return (f"c_{self.name}_n", f"c_{self.name}_d")
        if self.counted_over_sessions:
            return (f"c_{self.name}", f"c_{self.name}_d")
        return (f"c_{self.name}",)

    def final_sql(self) -> str:
        """The metric's value from the summed components (alias-free; used in the outer SELECT)."""
        if self.kind == "count":
            return f"sum(c_{self.name})"
        n, d = f"sum(c_{self.name}_n)", f"sum(c_{self.name}_d)"
        ratio = rounded_ratio(n, d, self.scale)
        return f"{ratio} / {self.divisor}" if self.divisor != 1 else ratio

    def final_value(self, sums: dict[str, int]) -> int | float:
        """final_sql in Python, over the summed components (for rows combined outside SQL: the
        same integer arithmetic, the same float for a decimal value)."""
        if self.kind == "count":
            return sums[f"c_{self.name}"]
        n, d = sums[f"c_{self.name}_n"], sums[f"c_{self.name}_d"]
        ratio = 0 if d == 0 else (2 * self.scale * n + d) // (2 * d)
        return ratio / self.divisor if self.divisor != 1 else ratio

    def population_sql(self) -> str:
        return f"sum({self.population or self.components[-1]})"

    def value(self, raw) -> int | float:
        """A fetched value as the response type (a missing value is 0)."""
        if raw is None:
            return 0.0 if self.is_float else 0
        if self.is_float:
            try:
                number = float(raw)
            except (TypeError, ValueError):
                return 0.0
            return round(number, 2) if number == number and abs(number) != float("inf") else 0.0
        return int(raw)


def rounded_ratio(numerator: str, denominator: str, scale: int = 1) -> str:
    """round(numerator * scale / denominator), half away from zero, in exact integer arithmetic
    (all inputs are non-negative); 0 when the denominator is 0."""
    num = f"({numerator})" if scale == 1 else f"{scale} * ({numerator})"
    return (f"if(({denominator}) = 0, 0, "
            f"intDiv(2 * {num} + ({denominator}), 2 * ({denominator})))")


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("visitors", "count"),
    Metric("sessions", "count"),
    Metric("pageviews", "count"),
    Metric("views_per_visit", "ratio", scale=100, divisor=100),
    Metric("bounce_rate", "ratio", scale=100, change_rule="points"),
    # avg_duration: milliseconds over sessions (or page visits), shown in whole seconds
    Metric("avg_duration", "ratio", scale=1),
    Metric("avg_scroll", "ratio"),
    Metric("clickers", "count", counted_over_sessions=True),
)}

# Every component column any source can produce, in one fixed order (sources UNION ALL).
COMPONENTS: tuple[str, ...] = tuple(c for m in METRICS.values() for c in m.components)


def components_of(metrics: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The component columns these metrics need, in COMPONENTS order: the columns every part of
    a query carries (fewer columns: less for ClickHouse to plan, read and add up)."""
    wanted = {c for m in metrics for c in (*METRICS[m].components, METRICS[m].population) if c}
    return tuple(c for c in COMPONENTS if c in wanted)


def metric(name: str) -> Metric:
    """A metric's definition; metrics outside the session/page model (`events`, which counts
    events carrying a custom property: props.py) are plain counts."""
    found = METRICS.get(name)
    return found if found is not None else Metric(name, "count")


# --- where each metric is computed ------------------------------------------------------------

def source(name: str, dimensions: tuple[str, ...], page_filtered: bool = False) -> str:
    """Which stored aggregate computes a metric for these dimensions (see plan.py).

    - visitors, pageviews: raw events (time = event), except for entry/exit rows, which are
      properties of sessions;
    - sessions, clickers: merged sessions (time = session start); with the page dimension, the
      page's own views and clicks in events; under a page filter, sessions that made a matching
      pageview in the range (events, like visitors: SPEC §3);
    - views_per_visit, bounce_rate: merged sessions;
    - avg_duration: merged sessions; per page visit with the page dimension;
    - avg_scroll: page visits.
    """
    page_dim = "page" in dimensions
    entry_exit_dim = any(d in ENTRY_EXIT for d in dimensions)
    if name in ("visitors", "pageviews"):
        return SESSIONS if entry_exit_dim and not page_dim else EVENTS
    if name == "sessions":
        return EVENTS if page_dim or (page_filtered and not entry_exit_dim) else SESSIONS
    if name == "clickers":
        return EVENTS if page_dim else SESSIONS
    if name in ("views_per_visit", "bounce_rate"):
        return SESSIONS
    if name == "avg_duration":
        return PAGE_VISITS if page_dim else SESSIONS
    if name == "avg_scroll":
        return PAGE_VISITS
    raise ValueError(name)


def events_components(name: str, page_scope: bool) -> dict[str, str]:
    """Components over raw events (alias e). page_scope: rows or filters are pages, so only
    pageviews (and clicks, for clickers) of the matching pages are in the rows."""
    pageview = "e.type = 'pageview'"
    if name == "visitors":
        return {"c_visitors": f"uniqIf(e.user_id, {pageview})" if page_scope else "uniq(e.user_id)"}
    if name == "pageviews":
        return {"c_pageviews": f"countIf({pageview})"}
    if name == "sessions":
        return {"c_sessions": f"uniqIf(e.session_id, {pageview})"}
    if name == "clickers":
        return {"c_clickers": "uniqIf(e.session_id, e.type = 'click')",
                "c_clickers_d": f"uniqIf(e.session_id, {pageview})"}
    raise ValueError(name)


def sessions_components(name: str, entered: str | None) -> dict[str, str]:
    """Components over merged sessions (alias s). `entered`: under a page filter without the
    page dimension, the predicate "entered on a matching page" that bounce_rate is counted over."""
    n = "count()"
    if name == "sessions":
        return {"c_sessions": n}
    if name == "visitors":
        return {"c_visitors": "uniq(s.s_user_id)"}
    if name == "pageviews":
        return {"c_pageviews": "sum(s.s_pageviews)"}
    if name == "views_per_visit":
        return {"c_views_per_visit_n": "sum(s.s_pageviews)", "c_views_per_visit_d": n}
    if name == "bounce_rate":
        if entered:
            return {"c_bounce_rate_n": f"countIf({BOUNCED} AND {entered})",
                    "c_bounce_rate_d": f"countIf({entered})"}
        return {"c_bounce_rate_n": f"countIf({BOUNCED})", "c_bounce_rate_d": n}
    if name == "avg_duration":
        return {"c_avg_duration_n": f"sum({DURATION_MS})", "c_avg_duration_d": f"{MS_PER_SECOND} * {n}"}
    if name == "clickers":
        return {"c_clickers": "countIf(s.s_clicks > 0)", "c_clickers_d": n}
    raise ValueError(name)


def session_duration_seconds() -> str:
    """One merged session's duration (columns as DURATION_MS, alias s) in whole seconds, rounded
    as avg_duration is (realtime.py lists sessions with it)."""
    return rounded_ratio(DURATION_MS, str(MS_PER_SECOND))


# Columns of the merged session each metric reads (compile.sessions_subquery).
SESSION_COLUMNS_NEEDED: dict[str, frozenset[str]] = {
    "visitors": frozenset({"user_id"}), "pageviews": frozenset({"pageviews"}),
    "views_per_visit": frozenset({"pageviews"}),
    "bounce_rate": frozenset({"pageviews", "clicks", "max_scroll", "engaged_ms"}),
    "avg_duration": frozenset({"engaged_ms", "last_activity"}), "clickers": frozenset({"clicks"}),
    "sessions": frozenset(),
}


def page_visits_components(name: str) -> dict[str, str]:
    """Components over page visits (alias pv), over the visits that reported a value."""
    if name == "avg_scroll":
        return {"c_avg_scroll_n": "sumIf(pv.pv_scroll, pv.pv_hs = 1)",
                "c_avg_scroll_d": "countIf(pv.pv_hs = 1)"}
    if name == "avg_duration":
        return {"c_avg_duration_n": "sumIf(pv.pv_eng, pv.pv_he = 1)",
                "c_avg_duration_d": f"{MS_PER_SECOND} * countIf(pv.pv_he = 1)"}
    raise ValueError(name)


def change(name: str, new: int | float, old: int | float) -> int | None:
    """Percent change rounded half away from zero (0 when both are 0, None when only the old
    value is 0); a difference in points for rates."""
    from fractions import Fraction

    if metric(name).change_rule == "points":
        return int(new) - int(old)
    if old == 0:
        return 0 if new == 0 else None
    value = (Fraction(str(new)) - Fraction(str(old))) * 100 / Fraction(str(old))
    magnitude = int(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude
