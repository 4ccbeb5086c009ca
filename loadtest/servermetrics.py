"""A Clickport server's /metrics as the load tools read it: one scrape as {series: value}, a
histogram's buckets, how they moved between two scrapes, and the bucket bound that holds a
percentile ("p99 ≤ 25 ms"). Used by `loadtest load` (a run's server side) and the drills."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

INF = float("inf")


def scrape(base: str) -> dict[str, float]:
    """Every series of `base`/metrics with its value ({} if unreachable, or 401 because
    CLICKPORT_METRICS_TOKEN is set)."""
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=30) as resp:
            return parse(resp.read().decode())
    except (urllib.error.URLError, OSError):
        return {}


def parse(text: str) -> dict[str, float]:
    """Prometheus text → {series with its labels, as written: value}."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            try:
                values[series] = float(value)
            except ValueError:
                continue
    return values


def labels(series: str) -> dict[str, str]:
    """A series' labels: `name{a="x",b="y"}` → {"a": "x", "b": "y"}."""
    return dict(_LABEL.findall(series[series.find("{"):]))


_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def buckets(values: dict[str, float], name: str, **wanted_labels: str) -> list[tuple[float, float]]:
    """Histogram `name`'s cumulative buckets [(upper bound in s, count)] for the series with
    these labels (summed over any other label), +Inf last."""
    out: dict[float, float] = {}
    for series, value in values.items():
        if not series.startswith(name + "_bucket{"):
            continue
        found = labels(series)
        if all(found.get(key) == wanted for key, wanted in wanted_labels.items()):
            le = INF if found["le"] == "+Inf" else float(found["le"])
            out[le] = out.get(le, 0.0) + value
    return sorted(out.items())


def moved(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The buckets of what was observed between two scrapes."""
    earlier = dict(before)
    return [(le, count - earlier.get(le, 0.0)) for le, count in after]


def bound(cumulative: list[tuple[float, float]], share: float) -> float | None:
    """The upper bound (s) of the bucket holding the `share` percentile (None if empty)."""
    total = cumulative[-1][1] if cumulative else 0.0
    if not total:
        return None
    return next(le for le, count in cumulative if count >= share * total)
