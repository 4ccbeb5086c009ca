"""CSV answers (SPEC §8): `Accept: text/csv` on POST /api/query, the breakdown GETs, and (beyond
the SPEC, for the dashboard's downloads) POST /api/funnel and GET /api/goals.

A header row of the dimension names then the metric names in request order, one line per result
row (no dimensions: one row), no comparison block. RFC 4180: CRLF line ends, fields holding a
comma, quote or line break are quoted, quotes doubled. A text cell starting with ``=``, ``+``,
``-`` or ``@`` is prefixed with ``'`` so spreadsheets never read it as a formula. The body is
streamed in chunks of rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

MEDIA_TYPE = "text/csv; charset=utf-8"
FORMULA_START = ("=", "+", "-", "@")
CHUNK_ROWS = 1000


def wants_csv(request: Request) -> bool:
    """Whether the Accept header prefers text/csv to JSON (q-values honoured; `*/*` and a missing
    header mean JSON)."""
    csv_q = json_q = 0.0
    for part in request.headers.get("accept", "").split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == "text/csv":
            csv_q = max(csv_q, q)
        elif media in ("application/json", "application/*"):
            json_q = max(json_q, q)
    return csv_q > 0 and csv_q >= json_q


def cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if value is None:
        return ""
    return value


def lines(columns: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([cell(c) for c in columns])
    count = 0
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
        count += 1
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def csv_response(columns: list[str], rows: Iterable[dict[str, Any]],
                 filename: str = "clickport.csv") -> StreamingResponse:
    return StreamingResponse(
        lines(columns, rows), media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def query_csv(columns: list[str], result: dict[str, Any], filename: str) -> StreamingResponse:
    """A /api/query result as CSV: `columns` are the request's dimensions, then its metrics."""
    results = result["results"]
    rows = [results] if isinstance(results, dict) else results
    return csv_response(columns, rows, filename)


FUNNEL_COLUMNS = ["step", "name", "sessions", "visitors", "conversion_rate", "dropoff"]


def funnel_csv(result: dict[str, Any]) -> StreamingResponse:
    rows = [{"step": i + 1, **s} for i, s in enumerate(result["steps"])]
    return csv_response(FUNNEL_COLUMNS, rows, "funnel.csv")


GOALS_COLUMNS = ["goal", "type", "visitors", "conversions", "revenue", "currency"]


def goals_csv(result: dict[str, Any]) -> StreamingResponse:
    """GET /api/goals as CSV: one line per goal; `conversions` is its count (pageviews, events,
    submissions or clicks); revenue in several currencies is one line per currency."""
    rows = []
    for goal in result["goals"]:
        count = next(goal[k] for k in ("pageviews", "events", "submissions", "clicks") if k in goal)
        base = {"goal": goal["name"], "type": goal["type"], "visitors": goal["visitors"],
                "conversions": count}
        revenue = goal.get("total_revenue")
        if isinstance(revenue, dict):
            rows += [{**base, "revenue": amount, "currency": currency}
                     for currency, amount in revenue.items()]
        else:
            rows.append({**base, "revenue": revenue, "currency": goal.get("currency")})
    return csv_response(GOALS_COLUMNS, rows, "goals.csv")
