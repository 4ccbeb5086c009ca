"""Step 6: result rows → the response shapes of API_REFERENCE.txt.

Time-only series are completed here: every bucket of the range, empty ones as zeros, oldest
first (or ordered by the requested metric, ties by time), then paged if limit/offset were given.
Metric values arrive already rounded by the SQL (half away from zero, integer arithmetic).
"""

from __future__ import annotations

from typing import Any

from engine.query.fields import TIME_DIMENSIONS
from engine.query.metrics import change, metric
from engine.query.parse import Query
from engine.query.periods import DateRange, bucket_label, buckets


def zero(name: str) -> int | float:
    return metric(name).value(None)


def metric_value(name: str, value: Any) -> int | float:
    return metric(name).value(value)


class Rows:
    """Rows of one query result: each a dict of dimension labels and metrics, plus a
    comparison key (bucket position for the time dimension, labels for the others)."""

    def __init__(self, query: Query, rng: DateRange, raw: list[tuple], fill: bool):
        self.query = query
        self.rng = rng
        dims, metrics = query.dimensions, query.metrics
        time_dim = query.time_dimension
        self.bucket_keys = buckets(rng, time_dim) if time_dim else []
        position = {k: i for i, k in enumerate(self.bucket_keys)}
        self.rows: list[dict[str, Any]] = []
        self.keys: list[tuple] = []
        n = len(dims)
        for record in raw:
            if time_dim and record[dims.index(time_dim)] not in position:
                continue  # outside the range's buckets (cannot happen for well-formed data)
            self._add(record[:n], [metric_value(m, v) for m, v in zip(metrics, record[n:], strict=False)],
                      position)
        if fill and time_dim:
            self._fill(position)

    def _add(self, dim_values, metric_values, position) -> None:
        row: dict[str, Any] = {}
        key = []
        for d, v in zip(self.query.dimensions, dim_values, strict=False):
            if d in TIME_DIMENSIONS:
                row[d] = bucket_label(int(v), d)
                key.append(position[int(v)])
            else:
                row[d] = v
                key.append(v)
        row.update(zip(self.query.metrics, metric_values, strict=False))
        self.rows.append(row)
        self.keys.append(tuple(key))

    def _fill(self, position) -> None:
        """Time-only dimensions: one row per bucket, zeros where the SQL returned none."""
        by_key = dict(zip(self.keys, self.rows, strict=False))
        metrics = self.query.metrics
        dim = self.query.time_dimension
        self.rows, self.keys = [], []
        for i, bucket in enumerate(self.bucket_keys):
            row = by_key.get((i,))
            if row is None:
                row = {dim: bucket_label(bucket, dim), **{m: zero(m) for m in metrics}}
            self.rows.append(row)
            self.keys.append((i,))

    def order_and_page(self) -> None:
        """For time-only series (the SQL orders and pages every other query)."""
        q = self.query
        pairs = list(zip(self.keys, self.rows, strict=False))  # already time ascending
        if q.order_by and q.order_by not in TIME_DIMENSIONS:
            pairs.sort(key=lambda p: p[1][q.order_by], reverse=q.order_dir == "desc")
        elif q.order_by and q.order_dir == "desc":
            pairs.reverse()
        if q.paged:
            pairs = pairs[q.offset:q.offset + q.limit]
        self.keys = [k for k, _ in pairs]
        self.rows = [r for _, r in pairs]


def totals(query: Query, raw: list[tuple]) -> dict[str, int | float]:
    record = raw[0] if raw else [None] * len(query.metrics)
    return {m: metric_value(m, v) for m, v in zip(query.metrics, record, strict=False)}


def comparison_block(query: Query, current: Any, previous: Any, prev_range: DateRange) -> dict:
    metrics = query.metrics
    if not query.dimensions:
        return {
            "date_range": prev_range.as_json(),
            "results": previous,
            "change": {m: change(m, current[m], previous[m]) for m in metrics},
        }
    assert isinstance(current, Rows) and isinstance(previous, Rows)
    time_dim = query.time_dimension
    by_key = dict(zip(previous.keys, previous.rows, strict=False))
    results, changes = [], []
    for key, row in zip(current.keys, current.rows, strict=False):
        old = by_key.get(key)
        if old is None:
            old = {}
            for d, k in zip(query.dimensions, key, strict=False):
                if d == time_dim:
                    old[d] = (bucket_label(previous.bucket_keys[k], d)
                              if k < len(previous.bucket_keys) else None)
                else:
                    old[d] = k
            old.update({m: zero(m) for m in metrics})
        results.append(old)
        change_row = {d: row[d] for d in query.dimensions}
        change_row.update({m: change(m, row[m], old[m]) for m in metrics})
        changes.append(change_row)
    return {"date_range": prev_range.as_json(), "results": results, "change": changes}
