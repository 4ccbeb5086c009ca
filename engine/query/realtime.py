"""GET /api/realtime: visitors active in the last 5 minutes, and up to 20 of their sessions.

Active = any event (engagement updates included) in [now − 5 min, now + 5 min] (the upper bound is
the clock skew POST /api/event accepts). The sessions come from the merged sessions aggregate,
looked up by id (bloom-filter index) from the session starts seen in the window, newest activity
first; `exit_page` is the session's latest pageview (its current page) and `duration` is
metrics.py's, as avg_duration computes it for one session (engaged time, else last event − first
event), in whole seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.ingest.identity import public_session_id
from engine.query.compile import DT64, _ts, labelled
from engine.query.metrics import session_duration_seconds
from engine.store import Store

WINDOW = dt.timedelta(minutes=5)
SKEW = dt.timedelta(minutes=5)
MAX_SESSIONS = 20

_FIELDS = ("source", "country", "city", "device", "browser", "os")

SQL = f"""
WITH active AS (
    SELECT session_id, max(timestamp) AS seen, min(session_start) AS started
    FROM events
    WHERE site_id = {{site:UInt32}} AND timestamp >= {{since:{DT64}}} AND timestamp <= {{until:{DT64}}}
    GROUP BY session_id
)
SELECT
    s_id, s_entry, s_exit, s_pageviews,
    {session_duration_seconds()},
    {", ".join(labelled(f"s_{f}", f) for f in _FIELDS)},
    s_scroll
FROM (
    SELECT session_start AS s_start, session_id AS s_id,
        argMinMerge(entry_page) AS s_entry, argMaxMerge(exit_page) AS s_exit,
        sum(pageviews) AS s_pageviews, sum(engaged_ms) AS s_engaged_ms,
        max(last_activity) AS s_last_activity, max(max_scroll) AS s_scroll,
        {", ".join(f"any({f}) AS s_{f}" for f in _FIELDS)}
    FROM sessions
    WHERE site_id = {{site:UInt32}}
      AND session_start >= (SELECT min(started) FROM active)
      AND session_id IN (SELECT session_id FROM active)
    GROUP BY session_start, session_id
) AS s
INNER JOIN active AS a ON a.session_id = s.s_id
ORDER BY a.seen DESC, s_id ASC
LIMIT {MAX_SESSIONS}
"""

COUNT_SQL = f"""
SELECT uniq(user_id) FROM events
WHERE site_id = {{site:UInt32}} AND timestamp >= {{since:{DT64}}} AND timestamp <= {{until:{DT64}}}
"""


def realtime_sync(store: Store, site_id: int, now: dt.datetime, settings: dict) -> dict[str, Any]:
    params = {"site": site_id, "since": _ts(now - WINDOW), "until": _ts(now + SKEW)}
    count = store.rows(COUNT_SQL, params, settings=settings)[0][0]
    visitors = []
    if count:
        for row in store.rows(SQL, params, settings=settings):
            (sid, entry, exit_, pageviews, duration, source, country, city, device, browser, os_,
             scroll) = row
            visitors.append({
                # Names the session without letting a reader write into it (no MAC bits).
                "session_id": public_session_id(int(sid)),
                "entry_page": entry or "(not set)",
                "exit_page": exit_ or "(not set)",
                "pageviews": int(pageviews),
                "duration": int(duration),
                "source": source,
                "country": country,
                "city": city,
                "device": device,
                "browser": browser,
                "os": os_,
                "scroll": int(scroll),
            })
    return {"count": int(count), "visitors": visitors}
