"""POST /api/funnel: how many sessions go through a sequence of steps (SPEC §8).

Request: ``steps`` (2–8 items ``{"type", "match", "name"?}``), ``period`` / ``date_range``,
``timezone`` and ``filters`` (session attributes only), with the same rules as /api/query.

Semantics (docs/query-api.md, "Funnels"):

- The sessions of a funnel are the sessions that **started** in the range (as for every session
  metric of /api/query); all their events count, also those after the range end (a session that
  continues past midnight), none of a session that started before the range.
- A session reaches step k when it has events matching steps 1..k in that time order, each step's
  event strictly later (by timestamp, millisecond precision) than the previous step's; other events
  may lie between, and one event never counts for two steps. Matching a step: ``pageview`` →
  the path (``*`` = one path segment, ``**`` = anything, as for goals), ``custom`` → the event
  name, ``click`` / ``form`` → the event name (a form also by meta ``form_id``; an empty match is
  any click / form).
- A step's ``visitors`` are the distinct visitors of the sessions that reached it (a session's
  visitor as in the sessions aggregate: any of its events' visitor ids).

Computed in ClickHouse in one statement over ``session_events`` (schema/0012: the events of each
session but engagement updates, ordered by site, session start, session: the sessions of a range
are one key range; filters select sessions from ``sessions``, whose rows all carry the session's
attributes): per session, the events matching any step as arrays of
(time, bitmask of the steps they match); then per step k the earliest step-k event strictly later
than step k-1's (greedy, which is optimal for in-order matching), one vectorized array pass per
step; then counted per step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from engine.query import run
from engine.query.compile import DT64, Params, _and, _ts, labelled, literal, predicate
from engine.query.errors import QueryError, one_of
from engine.query.fields import SESSION_DIMENSIONS
from engine.query.goals import event_condition
from engine.query.parse import Filter, _describe, check_timezone, parse_filters, parse_period
from engine.query.periods import DateRange, resolve_range
from engine.store import Store

FUNNEL_FIELDS = ("steps", "period", "date_range", "timezone", "filters")
STEP_FIELDS = ("type", "match", "name")
STEP_TYPES = ("pageview", "custom", "click", "form")
MIN_STEPS, MAX_STEPS = 2, 8
MAX_MATCH_CHARS = 2000
MAX_NAME_CHARS = 200
NEVER = "toInt64(9223372036854775807)"  # the time of a step a session never reaches
# Read session_events (else `events`: the same answers from a scan of every event of the range and
# beyond; the benchmark and the tests switch it off to compare).
SESSION_EVENTS_ENABLED = True
# With filters: the set of the matching sessions (hundreds of thousands of ids over 30 days of a
# large site) is used to filter the rows as they are read, not for index analysis: the id is the
# third column of session_events' key (after the session start), so the set prunes no granule,
# but building and checking it against every mark first took ≈ 40 ms of 265 ms on the quiet
# 100M-event store (≈ 90 of 320 ms under other load; loadtest/results/run2/reports-issue13-d100/
# split/probe.txt).
FILTERED_SETTINGS = {"use_index_for_in_with_subqueries": 0}


@dataclass(frozen=True)
class Step:
    type: str
    match: str
    name: str


@dataclass(frozen=True)
class Funnel:
    steps: tuple[Step, ...]
    period: str | None
    date_range: tuple[str, str] | None
    timezone: str
    filters: tuple[Filter, ...]


def _step(index: int, item: Any) -> Step:
    where = f"steps[{index}]"
    if not isinstance(item, dict):
        raise QueryError(where, 'must be an object {"type", "match", "name"?}')
    unknown = sorted(set(item) - set(STEP_FIELDS))
    if unknown:
        shown = str(unknown[0])[:60]
        raise QueryError(f"{where}.{shown}", f"unknown field; {one_of(STEP_FIELDS)}")
    kind = item.get("type")
    if kind not in STEP_TYPES:
        raise QueryError(f"{where}.type", f"unknown step type {_describe(kind)}; {one_of(STEP_TYPES)}")
    match = item.get("match", "" if kind in ("click", "form") else None)
    if not isinstance(match, str):
        what = "a path such as /pricing or /blog/*" if kind == "pageview" else "an event name"
        raise QueryError(f"{where}.match", f"is required: {what}")
    if len(match) > MAX_MATCH_CHARS:
        raise QueryError(f"{where}.match", f"may be at most {MAX_MATCH_CHARS} characters")
    if kind == "pageview" and not match.startswith("/"):
        raise QueryError(f"{where}.match", "must be a path starting with / (e.g. /pricing or /blog/*)")
    if kind == "custom" and not match:
        raise QueryError(f"{where}.match", "is required: the custom event's name")
    name = item.get("name")
    if name is None:
        name = match if match else f"any {kind}"
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        raise QueryError(f"{where}.name", f"must be a non-empty string of at most {MAX_NAME_CHARS} "
                                          "characters")
    return Step(kind, match, name)


def parse_funnel(body: Any) -> Funnel:
    if not isinstance(body, dict):
        raise QueryError("body", "must be a JSON object")
    unknown = sorted(set(body) - set(FUNNEL_FIELDS))
    if unknown:
        raise QueryError(str(unknown[0])[:60], f"unknown field; {one_of(FUNNEL_FIELDS)}")
    steps = body.get("steps")
    if not isinstance(steps, list) or not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise QueryError("steps", f"must be a list of {MIN_STEPS} to {MAX_STEPS} steps "
                                  '{"type", "match", "name"?}')
    parsed = tuple(_step(i, s) for i, s in enumerate(steps))
    period, date_range = parse_period(body)
    timezone = check_timezone(body.get("timezone", "UTC"))
    filters = parse_filters(body.get("filters"), SESSION_DIMENSIONS, props=False)
    return Funnel(parsed, period, date_range, timezone, filters)


def compile_funnel(funnel: Funnel, site_id: int, rng: DateRange) -> tuple[str, dict[str, Any]]:
    """One SELECT returning, per step k, the sessions and visitors that reached it."""
    params = Params()
    site = params.fixed("site", site_id, "UInt32")
    start = params.fixed("start", _ts(rng.start), DT64)
    end = params.fixed("end", _ts(rng.end), DT64)
    n = len(funnel.steps)
    conds = [f"({event_condition(s.type, s.match, params)})" for s in funnel.steps]
    mask = " + ".join(f"if({c}, {1 << i}, 0)" for i, c in enumerate(conds))
    types = sorted({s.type for s in funnel.steps})
    in_range = f"session_start >= {start} AND session_start < {end}"
    # the events of the sessions that started in the range, all of them
    where = [f"site_id = {site}", in_range]
    if not SESSION_EVENTS_ENABLED:  # events: bounded by the range start and their last event
        where += [f"timestamp >= {start}",
                  f"timestamp <= (SELECT max(last_event) FROM sessions WHERE site_id = {site} "
                  f"AND {in_range})"]
    where += [
        "type IN (" + ", ".join(literal(t) for t in types) + ")",
        # only events matching a step (PREWHERE: the other columns are read for those alone)
        " OR ".join(dict.fromkeys(conds)),
    ]
    preds = [predicate(labelled(f.dimension, f.dimension), f, params) for f in funnel.filters]
    if preds and SESSION_EVENTS_ENABLED:  # every row of a session (partial ones too) has them
        where.append(f"session_id IN (SELECT session_id FROM sessions WHERE site_id = {site} "
                     f"AND {in_range} AND {_and(preds)})")
    elif preds:  # every event row carries its session's attributes
        where += preds
    table = "session_events" if SESSION_EVENTS_ENABLED else "events"
    # Greedy in-order matching: t1 = the session's first step-1 event, t_k = its first step-k
    # event strictly later than t_(k-1) (NEVER when there is none). Taking the earliest event for
    # every step is optimal for in-order matching, and one event never serves two steps.
    per_step = [f"arrayMin(arrayMap((x, m) -> if(bitTest(m, 0), x, {NEVER}), ts, ms)) AS t1"]
    for k in range(2, n + 1):
        per_step.append(f"arrayMin(arrayMap((x, m) -> if(bitTest(m, {k - 1}) AND x > t{k - 1}, x, "
                        f"{NEVER}), ts, ms)) AS t{k}")
    per_session = (
        f"SELECT any(user_id) AS uid, groupArray(t) AS ts, groupArray(mask) AS ms FROM ("
        f"SELECT session_id, user_id, toUnixTimestamp64Milli(timestamp) AS t, toUInt8({mask}) AS mask "
        f"FROM {table} WHERE {_and(where)}) WHERE mask != 0 GROUP BY session_id"
    )
    steps_sql = f"SELECT uid, {', '.join(per_step)} FROM ({per_session})"
    columns = []
    for k in range(1, n + 1):
        reached = f"t{k} < {NEVER}"
        columns += [f"countIf({reached}) AS s{k}", f"uniqIf(uid, {reached}) AS v{k}"]
    sql = f"SELECT {', '.join(columns)} FROM ({steps_sql})"
    assert "%" not in sql
    return sql, params.values


def conversion(sessions: int, first: int) -> float:
    """sessions ÷ first × 100, one decimal, half away from zero (exact integer arithmetic)."""
    if first == 0:
        return 0.0
    tenths = (2 * 1000 * sessions + first) // (2 * first)
    return tenths / 10


def shape_funnel(funnel: Funnel, row: tuple | None) -> dict[str, Any]:
    values = list(row) if row else [0] * (2 * len(funnel.steps))
    steps, previous, first = [], None, int(values[0])
    for i, step in enumerate(funnel.steps):
        sessions, visitors = int(values[2 * i]), int(values[2 * i + 1])
        steps.append({
            "name": step.name,
            "sessions": sessions,
            "visitors": visitors,
            "conversion_rate": conversion(sessions, first),
            "dropoff": 0 if previous is None else previous - sessions,
        })
        previous = sessions
    return {"steps": steps, "conversion_rate": steps[-1]["conversion_rate"]}


def funnel_sync(store: Store, site_id: int, body: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    funnel = parse_funnel(body)
    now = now or run.utcnow()
    first = run.first_event_time(store, site_id) if funnel.period == "all" else None
    rng = resolve_range(funnel.period, funnel.date_range, funnel.timezone, now, first)
    sql, params = compile_funnel(funnel, site_id, rng)
    extra = FILTERED_SETTINGS if funnel.filters else {}
    rows = store.rows(sql, params, settings={**run.settings(store), **extra})
    return shape_funnel(funnel, rows[0] if rows else None)
