"""server.auth_guard.AuthBackoff: the schedule, per-client isolation and bounded memory (the
HTTP behaviour is tested against a real server in tests/test_http_hygiene.py)."""

from __future__ import annotations

from server.auth_guard import FORGET_S, AuthBackoff


def test_free_failures_then_a_doubling_block_up_to_the_cap():
    guard = AuthBackoff(free_failures=3, max_backoff_s=8)
    client = guard.client_key("203.0.113.1")
    blocks, now = [], 0.0
    for _ in range(8):
        assert guard.retry_after(client, now) == 0
        blocks.append(guard.failed(client, now))
        now += blocks[-1] + 0.01
    assert blocks == [0, 0, 0, 1, 2, 4, 8, 8]
    assert guard.retry_after(client, now - 1) > 0


def test_one_client_blocked_never_blocks_another():
    guard = AuthBackoff(free_failures=1, max_backoff_s=60)
    attacker, other = guard.client_key("203.0.113.1"), guard.client_key("203.0.113.2")
    for _ in range(50):
        guard.failed(attacker, 10.0)
    assert guard.retry_after(attacker, 10.0) == 60
    assert guard.retry_after(other, 10.0) == 0 and guard.failed(other, 10.0) == 0


def test_success_resets_and_quiet_clients_are_forgotten():
    guard = AuthBackoff(free_failures=2, max_backoff_s=60)
    client = guard.client_key("2001:db8::1")
    assert guard.client_key("2001:db8::ffff") == client  # one /64, one client
    guard.failed(client, 0.0)
    guard.failed(client, 0.0)
    guard.succeeded(client)
    assert guard.failed(client, 1.0) == 0  # counting starts again
    guard.failed(client, 1.0)
    assert guard.failed(client, 1.0) == 1
    assert guard.failed(client, 1.0 + FORGET_S + 1) == 0  # a quarter-hour later: forgotten


def test_memory_is_bounded_under_a_flood_of_addresses():
    guard = AuthBackoff(free_failures=0, max_backoff_s=60, max_clients=1000)
    for i in range(20_000):
        guard.failed(guard.client_key(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"), i * 0.001)
    assert len(guard) <= 1000
    # The most recent failures are kept (their blocks still hold).
    assert guard.retry_after(guard.client_key("10.0.78.31"), 20.0) > 0  # i = 19999
