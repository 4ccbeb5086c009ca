"""The differential set: one deterministic stream of events and more than 100 different read
requests, to send to two deployments (embedded vs server, or embedded vs cluster) and compare.

The events span two weeks in the past (fixed dates), so every request uses absolute dates and
needs no frozen clock: the same answers come from an in-process app and from app processes.
Visitors continue their sessions by passing `session_id` back, like the tracker does.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from engine.query.breakdowns import BREAKDOWNS
from engine.query.fields import DIMENSIONS
from tests.query_support import CHROME_WIN, FIREFOX_MAC, SAFARI_IPHONE, new_ip

UTC = dt.UTC
DAY0 = dt.datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAYS = 14
START, END = "2026-03-02", "2026-03-16"  # end exclusive

PATHS = ["/", "/pricing", "/blog/clickhouse", "/blog/privacy", "/docs/start", "/docs/api", "/about",
         "/checkout", "/checkout/done"]
REFERRERS = ["", "", "https://www.google.com/", "https://news.ycombinator.com/item?id=1",
             "https://duckduckgo.com/", "https://github.com/clickport"]
UTMS = [{}, {}, {}, {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring"},
        {"utm_source": "twitter", "utm_medium": "social", "utm_campaign": "launch", "utm_content": "a"}]
UAS = [CHROME_WIN, FIREFOX_MAC, SAFARI_IPHONE]
COUNTRIES = ["GB", "SE", "CN", "US", "BT", None]
GOALS = [("Signup", "custom", ""), ("Pricing", "pageview", "/pricing"), ("Blog", "pageview", "/blog/*"),
         ("Contact", "form", ""), ("Any click", "click", "")]


@dataclass
class Visitor:
    ip: str
    ua: str
    # Each session: the event bodies in order (the first one starts the session).
    sessions: list[list[dict[str, Any]]] = field(default_factory=list)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def build_visitors(seed: int = 11, count: int = 48) -> list[Visitor]:
    """Visitors with 1-3 sessions each: pageviews, engagement, clicks, forms, custom events
    with revenue, referrers, UTM tags, several countries, devices and days."""
    rnd = random.Random(seed)
    visitors = []
    for _ in range(count):
        visitor = Visitor(new_ip(rnd.choice(COUNTRIES)), rnd.choice(UAS))
        days = sorted(rnd.sample(range(DAYS), rnd.randint(1, 3)))
        for day in days:
            moment = DAY0 + dt.timedelta(days=day, hours=rnd.randint(0, 22), minutes=rnd.randint(0, 59),
                                         seconds=rnd.randint(0, 59))
            events: list[dict[str, Any]] = []
            first = {"referrer": rnd.choice(REFERRERS), **rnd.choice(UTMS)}
            for page_index in range(rnd.choice([1, 1, 2, 3, 5])):
                path = rnd.choice(PATHS)
                query = "".join(f"&{k}={v}" for k, v in first.items() if k.startswith("utm_"))
                url = path + ("?" + query[1:] if page_index == 0 and query else "")
                pageview: dict[str, Any] = {"type": "pageview", "path": url, "timestamp": _iso(moment)}
                if page_index == 0 and first["referrer"]:
                    pageview["referrer"] = first["referrer"]
                events.append(pageview)
                if rnd.random() < 0.6:
                    moment += dt.timedelta(seconds=rnd.randint(5, 90))
                    events.append({"type": "engagement", "path": path, "timestamp": _iso(moment),
                                   "scroll_depth": rnd.randint(10, 100),
                                   "engaged_ms": rnd.randint(1000, 80_000), "_pv": True})
                if rnd.random() < 0.3:
                    moment += dt.timedelta(seconds=rnd.randint(1, 30))
                    events.append({"type": "click", "path": path, "timestamp": _iso(moment),
                                   "name": rnd.choice(["", "cta", "nav"])})
                if path == "/checkout/done" or rnd.random() < 0.1:
                    moment += dt.timedelta(seconds=rnd.randint(1, 30))
                    events.append({"type": "custom", "name": "Signup", "path": path,
                                   "timestamp": _iso(moment), "revenue_amount": rnd.choice([9.5, 19, 49.99]),
                                   "revenue_currency": "EUR", "meta_keys": ["plan", "interval"],
                                   "meta_values": [rnd.choice(["free", "pro", "team"]),
                                                   rnd.choice(["monthly", "annual"])]})
                if rnd.random() < 0.08:
                    moment += dt.timedelta(seconds=rnd.randint(1, 30))
                    events.append({"type": "form", "name": "contact", "path": path,
                                   "timestamp": _iso(moment)})
                moment += dt.timedelta(seconds=rnd.randint(10, 600))
            visitor.sessions.append(events)
        visitors.append(visitor)
    return visitors


def send_visitor(post: Callable[..., Any], domain: str, key: str, visitor: Visitor,
                 continue_on: Callable[[int], Callable[..., Any]] | None = None) -> int:
    """Send every event of `visitor` with `post(path, json=..., headers=...)`; a session's later
    events pass its session_id back and engagement events the page visit id. Returns the count.
    `continue_on(i)` may pick another poster for the i-th event of a session (cross-node tests)."""
    sent = 0
    for events in visitor.sessions:
        session_id = None
        page_visit_id = None
        for index, event in enumerate(events):
            body = {k: v for k, v in event.items() if not k.startswith("_") and k != "path"}
            body["url"] = f"https://{domain}{event['path']}"
            if session_id is not None:
                body["session_id"] = session_id
            if event.get("_pv") and page_visit_id:
                body["page_visit_id"] = page_visit_id
            sender = continue_on(index) if continue_on else post
            response = sender("/api/event", json=body,
                              headers={"x-api-key": key, "User-Agent": visitor.ua,
                                       "X-Forwarded-For": visitor.ip})
            assert response.status_code == 200, response.text
            data = response.json()
            session_id = data["session_id"]
            if event["type"] == "pageview":
                page_visit_id = data["page_visit_id"]
            sent += 1
    return sent


def requests() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body-or-params): more than 100 different reads over the event range."""
    rng = {"date_range": {"start": START, "end": END}}
    every_metric = ["visitors", "sessions", "pageviews", "views_per_visit", "bounce_rate", "avg_duration",
                    "avg_scroll", "clickers"]
    out: list[tuple[str, str, dict[str, Any]]] = [("POST", "/api/query", {"metrics": every_metric, **rng})]
    for dimension in DIMENSIONS:
        out.append(("POST", "/api/query", {"metrics": every_metric, "dimensions": [dimension], **rng}))
    filters = [
        {"dimension": "country", "operator": "is", "value": "GB"},
        {"dimension": "country", "operator": "is_not", "value": "CN"},
        {"dimension": "device", "operator": "is", "value": "Mobile"},
        {"dimension": "browser", "operator": "starts_with", "value": "Fire"},
        {"dimension": "page", "operator": "contains", "value": "blog"},
        {"dimension": "page", "operator": "is", "value": "/pricing"},
        {"dimension": "entry_page", "operator": "is", "value": "/"},
        {"dimension": "exit_page", "operator": "ends_with", "value": "done"},
        {"dimension": "source", "operator": "is", "value": "Google"},
        {"dimension": "source", "operator": "not_contains", "value": "Direct"},
        {"dimension": "utm_campaign", "operator": "is", "value": "spring"},
        {"dimension": "channel", "operator": "is_not", "value": "Direct"},
    ]
    for flt in filters:
        for dims in ([], ["page"], ["date"]):
            out.append(("POST", "/api/query", {"metrics": every_metric, "dimensions": dims,
                                               "filters": [flt], **rng}))
    for tz in ("Europe/Berlin", "America/New_York", "Asia/Kolkata"):
        for dims in ([], ["date"], ["hour"]):
            out.append(("POST", "/api/query", {"metrics": every_metric, "dimensions": dims,
                                               "timezone": tz, **rng}))
    week = {"date_range": {"start": "2026-03-09", "end": "2026-03-16"}}
    for dims in ([], ["date"], ["source"]):
        out.append(("POST", "/api/query", {"metrics": every_metric, "dimensions": dims,
                                           "include_comparison": True, **week}))
    for order in (("visitors", "asc"), ("pageviews", "desc"), ("page", "asc"), ("bounce_rate", "desc")):
        out.append(("POST", "/api/query", {"metrics": every_metric, "dimensions": ["page"],
                                           "order_by": order[0], "order_dir": order[1], "limit": 3,
                                           "offset": 1, **rng}))
    out.append(("POST", "/api/query", {"metrics": ["visitors", "pageviews"],
                                       "dimensions": ["country", "device"],
                                       **rng}))
    out.append(("POST", "/api/query", {"metrics": ["visitors"], "period": "all"}))
    params = {"start_date": START, "end_date": END}
    for name in sorted(BREAKDOWNS):
        out.append(("GET", f"/api/{name}", params))
        out.append(("GET", f"/api/{name}", {**params, "limit": "2", "timezone": "Europe/Berlin"}))
    for kind in ("device", "browser", "os"):
        out.append(("GET", "/api/tech", {**params, "type": kind}))
    combined = [filters[0], filters[4]], [filters[3], filters[9]], [filters[2], filters[6], filters[1]]
    for flts in combined:
        out.append(("POST", "/api/query", {"metrics": every_metric, "dimensions": ["source"],
                                           "filters": list(flts), **rng}))
    for tz in ("UTC", "Europe/Berlin"):
        out.append(("GET", "/api/goals", {**params, "timezone": tz}))
    # Custom properties and funnels (per-session folds: in a cluster they rely on co-location).
    out.append(("POST", "/api/query", {"metrics": ["visitors", "sessions"], "dimensions": ["prop:plan"],
                                       **rng}))
    out.append(("POST", "/api/query", {"metrics": ["visitors", "pageviews"], "dimensions": ["source"],
                                       "filters": [{"dimension": "prop:interval", "operator": "is",
                                                    "value": "annual"}], **rng}))
    out.append(("GET", "/api/props", params))
    out.append(("GET", "/api/props", {**params, "key": "plan"}))
    funnels = [
        [{"type": "pageview", "match": "/"}, {"type": "pageview", "match": "/pricing"},
         {"type": "custom", "match": "Signup"}],
        [{"type": "pageview", "match": "/blog/*"}, {"type": "click"}],
    ]
    for steps in funnels:
        out.append(("POST", "/api/funnel", {"steps": steps, **rng}))
    out.append(("POST", "/api/funnel", {"steps": funnels[0], "timezone": "Europe/Berlin",
                                        "filters": [{"dimension": "country", "operator": "is_not",
                                                     "value": "CN"}], **rng}))
    return out


def run_requests(client, key: str, every: int = 1, workers: int = 1) -> list[Any]:
    """Every request of the set (or every `every`-th), in order: each answer's status and JSON.
    `workers` > 1 sends them from that many threads (a thread-safe client such as httpx.Client)."""

    def one(request: tuple[str, str, dict[str, Any]]) -> tuple[int, Any]:
        method, path, body = request
        if method == "POST":
            response = client.post(path, json=body, headers={"x-api-key": key})
        else:
            response = client.get(path, params=body, headers={"x-api-key": key})
        data = response.json()
        if path == "/api/goals" and response.status_code == 200:
            # Goal ids are per-deployment identifiers (random), not analytics answers.
            data = {**data, "goals": [{k: v for k, v in goal.items() if k != "id"} for goal in data["goals"]]}
        return response.status_code, data

    chosen = requests()[::every]
    if workers <= 1:
        return [one(request) for request in chosen]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, chosen))


def add_goals(client, admin_headers: dict[str, str], site_id: int) -> None:
    for name, goal_type, match in GOALS:
        r = client.post(f"/api/admin/sites/{site_id}/goals", json={"name": name, "type": goal_type,
                                                                   "match": match}, headers=admin_headers)
        assert r.status_code == 201, r.text


def _without_ids(value: Any) -> Any:
    """Goal ids are random per store (allocations that cannot repeat): compare everything else."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, (list, tuple)):
        return type(value)(_without_ids(v) for v in value)
    return value


def differences(expected: list[Any], actual: list[Any]) -> list[str]:
    """Human-readable list of the requests whose answers differ."""
    out = []
    for request, want, got in zip(requests(), expected, actual, strict=True):
        if _without_ids(want) != _without_ids(got):
            out.append(f"{request}: expected {str(want)[:300]} got {str(got)[:300]}")
    return out
