"""Growing per-client backoff after failed secret guesses (issue 10).

The admin token (admin API, and the dashboard's admin sign-in on the read routes) and the
`/metrics` token are server secrets an attacker can only guess. Each client (its address as
`server.client_ip` resolves it; IPv6 by /64, like the rate limiter) has a few free failures
(`CLICKPORT_AUTH_FREE_FAILURES`, default 5); every failure after them blocks that client for
1 s, 2 s, 4 s ... up to `CLICKPORT_AUTH_BACKOFF_MAX_S` (default 60). A blocked client's requests
that present such a secret get **429** with `Retry-After` at once, and the secret is not even
compared, so a blocked client learns nothing. Steady state: one guess per minute per address.

- Other clients are never affected: the state is per client, there is no global lock-out.
- A correct secret (outside a block) resets that client's count; a client with no failure for
  `FORGET_S` (15 min) is forgotten.
- Requests without any secret are not guesses and are not counted.
- Memory is bounded: at most `max_clients` entries (default 10,000, about 1 MB); when full,
  forgotten entries are dropped first, then the least recently failed half. Forgetting a client
  only ever gives it its free failures again, it never blocks anyone.
- API keys (`ck_` + about 250 random bits) are not counted: they cannot be guessed, and a tracker
  sending a revoked key keeps getting its clear 401.

Clients are keyed by a keyed hash of the address (never the address itself).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time

from starlette.requests import Request

from engine.ingest.identity import rate_limit_prefix
from server.client_ip import visitor
from server.errors import ApiError

BASE_BACKOFF_S = 1.0
FORGET_S = 900.0


class AuthBackoff:
    def __init__(self, free_failures: int = 5, max_backoff_s: float = 60.0, max_clients: int = 10_000):
        self.free_failures = max(0, free_failures)
        self.max_backoff_s = max(BASE_BACKOFF_S, max_backoff_s)
        self.max_clients = max(2, max_clients)
        self.refused = 0  # requests answered 429 (clickport_auth_backoff_refusals_total)
        self._key = secrets.token_bytes(32)
        # client key -> (failures, last failure time, blocked until)
        self._clients: dict[bytes, tuple[int, float, float]] = {}
        self._lock = threading.Lock()

    def client_key(self, address: str) -> bytes:
        return hashlib.blake2b(rate_limit_prefix(address).encode(), digest_size=8, key=self._key).digest()

    def retry_after(self, client: bytes, now: float | None = None) -> float:
        """Seconds this client must wait before its next guess is looked at (0: go ahead)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._clients.get(client)
        return max(0.0, entry[2] - now) if entry else 0.0

    def failed(self, client: bytes, now: float | None = None) -> float:
        """Record a wrong secret; the block it starts, in seconds (0 while failures are free)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            failures, last, _ = self._clients.get(client, (0, now, 0.0))
            if now - last > FORGET_S:
                failures = 0
            failures += 1
            over = failures - self.free_failures
            block = min(self.max_backoff_s, BASE_BACKOFF_S * 2 ** min(over - 1, 32)) if over > 0 else 0.0
            self._clients[client] = (failures, now, now + block)
            if len(self._clients) > self.max_clients:
                self._prune(now)
        return block

    def succeeded(self, client: bytes) -> None:
        with self._lock:
            self._clients.pop(client, None)

    def _prune(self, now: float) -> None:
        kept = {k: v for k, v in self._clients.items() if now - v[1] <= FORGET_S or v[2] > now}
        if len(kept) > self.max_clients // 2:
            recent = sorted(kept.items(), key=lambda item: item[1][1])[-(self.max_clients // 2):]
            kept = dict(recent)
        self._clients = kept

    def __len__(self) -> int:
        return len(self._clients)


def _too_many(guard: AuthBackoff, wait: float, what: str) -> ApiError:
    guard.refused += 1
    seconds = max(1, math.ceil(wait))
    return ApiError(429, f"too many wrong {what} attempts from your address: retry after {seconds} s",
                    headers={"Retry-After": str(seconds)})


def verify_secret(request: Request, given: str, expected: str, what: str) -> bool:
    """Compare a presented secret with the server's, under the client's backoff: raises a 429
    ApiError (with Retry-After) when the client is blocked or this failure starts a block;
    otherwise True when it matches, False when it does not (the caller answers 401)."""
    guard: AuthBackoff = request.app.state.auth_guard
    client = guard.client_key(visitor(request.scope, request.app.state.config.trusted_proxies, False))
    wait = guard.retry_after(client)
    if wait > 0:
        raise _too_many(guard, wait, what)
    if hmac.compare_digest(given.encode(), expected.encode()):
        guard.succeeded(client)
        return True
    block = guard.failed(client)
    if block > 0:
        raise _too_many(guard, block, what)
    return False
