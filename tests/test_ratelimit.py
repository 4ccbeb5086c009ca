"""The per-IP token bucket: its limit, its refill, and bounded memory under a flood."""

from __future__ import annotations

from engine.ingest.ratelimit import RateLimiter


def test_sixty_per_minute_then_one_per_second():
    limiter = RateLimiter()
    assert all(limiter.allow(1, now=100.0) for _ in range(60))
    assert not limiter.allow(1, now=100.0)
    assert not limiter.allow(1, now=100.5)
    assert limiter.allow(1, now=101.6)  # one token back after a second
    assert not limiter.allow(1, now=101.7)
    assert limiter.allow(2, now=101.7)  # other IPs are independent


def test_full_refill_after_a_minute():
    limiter = RateLimiter()
    for _ in range(60):
        limiter.allow(7, now=0.0)
    assert sum(limiter.allow(7, now=60.0) for _ in range(61)) == 60


def test_memory_stays_bounded_under_a_flood_of_distinct_ips():
    limiter = RateLimiter(max_keys=10_000)
    for i in range(200_000):
        limiter.allow(i, now=1000.0 + i / 100_000)
    assert len(limiter) <= 10_000
    # The most recent senders are still tracked.
    for _ in range(59):
        limiter.allow(199_999, now=1002.0)
    assert not limiter.allow(199_999, now=1002.0)
