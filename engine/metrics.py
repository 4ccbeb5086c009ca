"""Process metrics in Prometheus' text format: counters, gauges read at scrape time, histograms.

Small on purpose: a dict per metric family, no labels beyond what the engine needs.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = {}
        self._histograms: dict[str, dict[tuple, Histogram]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}
        self._help: dict[str, str] = {}

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            family = self._counters.setdefault(name, {})
            family[key] = family.get(key, 0.0) + amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.observe_labelled(name, self.labels(**labels), value)

    @staticmethod
    def labels(**labels: str) -> tuple:
        """The key of a label set (computed once by a hot caller, then `observe_labelled`)."""
        return tuple(sorted(labels.items()))

    def observe_labelled(self, name: str, key: tuple, value: float) -> None:
        with self._lock:
            family = self._histograms.get(name)
            if family is None:
                family = self._histograms.setdefault(name, {})
            histogram = family.get(key)
            if histogram is None:
                histogram = family.setdefault(key, Histogram())
            histogram.observe(value)

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self._gauges[name] = read

    def counter_value(self, name: str, **labels: str) -> float:
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            for name, family in sorted(self._counters.items()):
                self._head(out, name, "counter")
                for key, value in sorted(family.items()):
                    out.append(f"{name}{_labels(key)} {value:g}")
            for name, family in sorted(self._histograms.items()):
                self._head(out, name, "histogram")
                for key, hist in sorted(family.items()):
                    cumulative = 0
                    for bound, count in zip((*hist.buckets, float("inf")), hist.counts, strict=True):
                        cumulative += count
                        le = "+Inf" if bound == float("inf") else f"{bound:g}"
                        out.append(f"{name}_bucket{_labels((*key, ('le', le)))} {cumulative}")
                    out.append(f"{name}_sum{_labels(key)} {hist.total:.6f}")
                    out.append(f"{name}_count{_labels(key)} {hist.count}")
        for name, read in sorted(self._gauges.items()):
            self._head(out, name, "gauge")
            out.append(f"{name} {read():g}")
        return "\n".join(out) + "\n"

    def _head(self, out: list[str], name: str, kind: str) -> None:
        if name in self._help:
            out.append(f"# HELP {name} {self._help[name]}")
        out.append(f"# TYPE {name} {kind}")
