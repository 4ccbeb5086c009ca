"""GET /api/goals: every configured goal with its visitors, its count and its revenue.

Matching (events in [start, end)):
- pageview: pageviews whose path matches the goal's pattern. A pattern without `*` is an exact
  path; `*` matches any run of characters except `/` (one path segment), `**` matches anything
  (so `/blog/*` matches /blog/a but not /blog/a/b, and `/blog/**` matches both).
- custom: custom events whose name equals the goal's match value.
- form: form events whose name or meta `form_id` equals the match value; empty matches any form.
- click: click events whose name equals the match value; empty matches any click.
Revenue (any matched event carrying a currency) is summed per currency and never across them.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.query.compile import DT64, Params, _ts
from engine.query.periods import DateRange
from engine.sites import Goal
from engine.store import Store

COUNT_KEYS = {"pageview": "pageviews", "custom": "events", "form": "submissions", "click": "clicks"}


def path_regex(pattern: str) -> str:
    parts = re.split(r"(\*\*|\*)", pattern)
    out = []
    for part in parts:
        if part == "**":
            out.append(".*")
        elif part == "*":
            out.append("[^/]*")
        else:
            out.append(re.escape(part))
    return "^" + "".join(out) + "$"


def event_condition(event_type: str, value: str, params: Params) -> str:
    """Events of `event_type` matching `value` (see the module doc); shared with funnel steps."""
    if event_type == "pageview":
        if "*" in value:
            return f"type = 'pageview' AND match(pathname, {params.bind(path_regex(value), 'String')})"
        return f"type = 'pageview' AND pathname = {params.bind(value, 'String')}"
    if event_type == "custom":
        return f"type = 'custom' AND name = {params.bind(value, 'String')}"
    if event_type == "form":
        if not value:
            return "type = 'form'"
        v = params.bind(value, "String")
        return (f"type = 'form' AND (name = {v} OR "
                f"`meta.value`[indexOf(`meta.key`, 'form_id')] = {v})")
    if event_type == "click":
        if not value:
            return "type = 'click'"
        return f"type = 'click' AND name = {params.bind(value, 'String')}"
    raise ValueError(event_type)


def goal_condition(goal: Goal, params: Params) -> str:
    value = goal.match_value
    if goal.type == "custom":
        value = value or goal.name
    return event_condition(goal.type, value, params)


def compile_goals(goals: list[Goal], site_id: int, rng: DateRange) -> tuple[str, dict[str, Any]]:
    params = Params()
    site = params.fixed("site", site_id, "UInt32")
    start = params.fixed("start", _ts(rng.start), DT64)
    end = params.fixed("end", _ts(rng.end), DT64)
    columns = []
    for i, goal in enumerate(goals):
        cond = f"({goal_condition(goal, params)})"
        money = f"{cond} AND revenue_currency != ''"
        columns += [
            f"countIf({cond}) AS c{i}",
            f"uniqIf(user_id, {cond}) AS v{i}",
            f"sumMapIf([toString(revenue_currency)], [revenue_amount], {money}) AS r{i}",
        ]
    sql = (f"SELECT {', '.join(columns)} FROM events WHERE site_id = {site} "
           f"AND timestamp >= {start} AND timestamp < {end} "
           "AND type IN ('pageview', 'custom', 'form', 'click')")
    return sql, params.values


def _amount(value: Any) -> float:
    return float(Decimal(value).normalize()) if not isinstance(value, float) else value


def goals_sync(store: Store, site_id: int, goals: list[Goal], rng: DateRange,
               settings: dict) -> dict[str, Any]:
    if not goals:
        return {"goals": []}
    sql, params = compile_goals(goals, site_id, rng)
    row = store.rows(sql, params, settings=settings)[0]
    result = []
    for i, goal in enumerate(goals):
        count, visitors, revenue = row[3 * i], row[3 * i + 1], row[3 * i + 2]
        item: dict[str, Any] = {
            "id": goal.goal_id, "name": goal.name, "type": goal.type,
            "visitors": int(visitors), COUNT_KEYS[goal.type]: int(count),
        }
        currencies, amounts = _revenue_pairs(revenue)
        if len(currencies) == 1:
            item["total_revenue"] = _amount(amounts[0])
            item["currency"] = currencies[0]
        elif currencies:
            item["total_revenue"] = {c: _amount(a) for c, a in zip(currencies, amounts, strict=False)}
        result.append(item)
    return {"goals": result}


def _revenue_pairs(value: Any) -> tuple[list[str], list[Any]]:
    if isinstance(value, dict):
        pairs = sorted(value.items())
    else:
        keys, amounts = value
        pairs = sorted(zip(keys, amounts, strict=False))
    return [k for k, _ in pairs], [a for _, a in pairs]
