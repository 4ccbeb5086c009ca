"""Per-visitor-IP token bucket: 60 tokens, refilled at 1 per second."""

from __future__ import annotations

import time


class RateLimiter:
    def __init__(self, capacity: float = 60.0, refill_per_s: float = 1.0, max_keys: int = 200_000):
        self.capacity = capacity
        self.refill = refill_per_s
        self.max_keys = max_keys
        self._buckets: dict[int, tuple[float, float]] = {}

    def allow(self, key: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._prune(now)
        return allowed

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely carries no information: drop it.
        full_after = self.capacity / self.refill
        kept = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
        if len(kept) > self.max_keys // 2:
            # A flood of distinct IPs: keep the most recently seen half (forgetting a bucket
            # only ever lets a visitor through, it never blocks one), so memory stays bounded.
            recent = sorted(kept.items(), key=lambda item: item[1][1])[-(self.max_keys // 2):]
            kept = dict(recent)
        self._buckets = kept

    def __len__(self) -> int:
        return len(self._buckets)
