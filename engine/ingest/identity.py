"""Visitor ids, session ids and page-visit ids.

The visitor id is a keyed 64-bit hash of (day, site, visitor IP, User-Agent) under a server secret.
The day is the event's date in the site's timezone, so ids rotate at the site's midnight and a
backfilled event hashes exactly like a live one. The raw IP is an input to the hash and nothing else.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import secrets
import socket
import threading
import time
from zoneinfo import ZoneInfo

MAX_SESSION_ID = 2**53  # JavaScript numbers stay exact below this


def load_or_create_secret(path: str) -> bytes:
    """The hashing secret lives in the data dir (mode 0600), created once."""
    if os.path.exists(path):
        with open(path, "rb") as handle:
            secret = handle.read()
        if len(secret) >= 32:
            return secret
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret


_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def normalize_ip(text: str) -> str | None:
    """One spelling per address (SPEC §2), or None if `text` is not an IP address: IPv4 dotted
    quad; IPv6 in RFC 5952 form, an IPv4-mapped IPv6 address as IPv4; a port or brackets
    ("1.2.3.4:80", "[::1]:443") dropped. Uses the C parsers (0.9 µs), and remembers the last
    65,536 spellings of at most 64 characters (0.25 µs; a tracker request asks about six times,
    for its peer and its visitor; longer text is no address and is never kept)."""
    return _normalize_ip(text) if len(text) <= 64 else _parse_ip(text)


@functools.lru_cache(maxsize=1 << 16)
def _normalize_ip(text: str) -> str | None:
    return _parse_ip(text)


def _parse_ip(text: str) -> str | None:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        text = text[1:end] if end > 0 else text
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4 with a port
    try:
        if ":" in text:
            packed = socket.inet_pton(socket.AF_INET6, text)
            if packed[:12] == _V4_MAPPED:
                return socket.inet_ntop(socket.AF_INET, packed[12:])
            return socket.inet_ntop(socket.AF_INET6, packed)
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        return None


def rate_limit_prefix(ip: str) -> str:
    """What one visitor's rate-limit bucket is keyed by: the IPv4 address, or the IPv6 /64 (a
    host usually holds a whole /64, so per-/128 buckets would be free to multiply)."""
    address = normalize_ip(ip) or ip
    if ":" not in address:
        return address
    packed = socket.inet_pton(socket.AF_INET6, address)
    return socket.inet_ntop(socket.AF_INET6, packed[:8] + b"\x00" * 8) + "/64"


class VisitorHasher:
    """Visitor ids and rate-limit keys, computed once and then remembered in memory.

    A visitor sends many events a day, so a site's (IP, User-Agent) pair is hashed once per
    local day: ids are cached per day (`DAYS_KEPT` most recent days, at most `cache_size` pairs
    per day; a full day's cache starts over). The cache is memory only, like the GeoIP cache:
    nothing of it is stored or logged, and a new day's ids are new hashes (daily rotation). The
    event's local day is found from the UTC bounds of the site's current day, so most events
    need no timezone conversion."""

    DAYS_KEPT = 4

    def __init__(self, secret: bytes, cache_size: int = 200_000):
        self._secret = secret[:64]
        self._cache_size = cache_size
        self._ids: dict[str, dict[tuple[int, str, str], int]] = {}
        self._days: dict[ZoneInfo, tuple[dt.datetime, dt.datetime, str]] = {}
        self._ip_keys: dict[str, int] = {}

    def local_day(self, moment: dt.datetime, tz: ZoneInfo) -> str:
        """The date of `moment` (aware) in `tz`, as ISO text."""
        span = self._days.get(tz)
        if span is not None and span[0] <= moment < span[1]:
            return span[2]
        local = moment.astimezone(tz)
        day = local.date()
        # The UTC bounds of this local day, valid when the offset is the same at both ends
        # (not on a day with a DST change: those days are converted event by event).
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - local.utcoffset()
        end = start + _ONE_DAY
        if start.astimezone(tz).time() == _MIDNIGHT and end.astimezone(tz).time() == _MIDNIGHT \
                and (end - _EPSILON).astimezone(tz).date() == day:
            self._days[tz] = (start, end, day.isoformat())
        return day.isoformat()

    def visitor_id(self, moment: dt.datetime, tz: ZoneInfo, site_id: int, ip: str, ua: str) -> int:
        day = self.local_day(moment, tz)
        ids = self._ids.get(day)
        if ids is None:
            if len(self._ids) >= self.DAYS_KEPT:
                del self._ids[min(self._ids)]  # the oldest day (ISO dates sort as text)
            ids = self._ids[day] = {}
        key = (site_id, ip, ua)
        found = ids.get(key)
        if found is not None:
            return found
        if len(ids) >= self._cache_size:
            ids.clear()
        address = normalize_ip(ip) or ip
        digest = hashlib.blake2b(
            f"{day}\x00{site_id}\x00{address}\x00{ua}".encode(), digest_size=8, key=self._secret
        ).digest()
        ids[key] = value = int.from_bytes(digest, "big")
        return value

    def ip_key(self, ip: str) -> int:
        """A stable in-memory key for an IP's rate-limit bucket (IPv6: its /64) that is not the
        IP itself."""
        found = self._ip_keys.get(ip)
        if found is not None:
            return found
        if len(self._ip_keys) >= self._cache_size:
            self._ip_keys.clear()
        digest = hashlib.blake2b(rate_limit_prefix(ip).encode(), digest_size=8, key=self._secret).digest()
        self._ip_keys[ip] = value = int.from_bytes(digest, "big")
        return value


_ONE_DAY = dt.timedelta(days=1)
_EPSILON = dt.timedelta(microseconds=1)
_MIDNIGHT = dt.time()


# Forged ids cost nothing: every session and page-visit id handed to a browser carries a MAC
# keyed by the server secret, so an id this server never issued is recognised without a store
# lookup. Sessions: 41 random bits + 12 MAC bits (< 2^53, exact in JavaScript); page visits:
# 47 + 16 bits. A guess passes with probability 1/4096 (then one store lookup, which misses and is
# cached as missing).
SESSION_MAC_BITS = 12
PAGE_VISIT_MAC_BITS = 16
_id_key = secrets.token_bytes(32)  # per process until `configure_ids` sets the server's key


def configure_ids(secret: bytes) -> None:
    """Key the id MACs with the server secret (ids stay verifiable across restarts)."""
    global _id_key
    _id_key = hashlib.blake2b(b"clickport ids", digest_size=32, key=secret[:64]).digest()


def _mac(kind: bytes, random_part: int, bits: int) -> int:
    digest = hashlib.blake2b(kind + random_part.to_bytes(8, "big"), digest_size=8, key=_id_key).digest()
    return int.from_bytes(digest, "big") & ((1 << bits) - 1)


def new_session_id() -> int:
    while True:
        random_part = secrets.randbits(53 - SESSION_MAC_BITS)
        if random_part:
            return (random_part << SESSION_MAC_BITS) | _mac(b"s", random_part, SESSION_MAC_BITS)


def session_id_is_ours(value: int) -> bool:
    """Whether this server (with this secret) could have issued the session id."""
    random_part = value >> SESSION_MAC_BITS
    return 0 < value < MAX_SESSION_ID and random_part > 0 and \
        value & ((1 << SESSION_MAC_BITS) - 1) == _mac(b"s", random_part, SESSION_MAC_BITS)


def public_session_id(value: int) -> int:
    """The session id shown to read keys (realtime): the random part without its MAC, which
    names the session but cannot be sent back to write into it."""
    return value >> SESSION_MAC_BITS


def new_page_visit_id() -> int:
    random_part = secrets.randbits(63 - PAGE_VISIT_MAC_BITS) | 1
    return (random_part << PAGE_VISIT_MAC_BITS) | _mac(b"p", random_part, PAGE_VISIT_MAC_BITS)


def page_visit_id_is_ours(value: int) -> bool:
    random_part = value >> PAGE_VISIT_MAC_BITS
    return 0 < value < 2**63 and random_part > 0 and \
        value & ((1 << PAGE_VISIT_MAC_BITS) - 1) == _mac(b"p", random_part, PAGE_VISIT_MAC_BITS)


_last_event_id = 0
_event_id_lock = threading.Lock()


def new_event_id() -> int:
    """Increasing in arrival order (SPEC §3: pageviews with equal timestamps keep the order in
    which the server received them; entry/exit pages break timestamp ties by this id): the
    current time in nanoseconds, or one more than the last id if the clock has not moved on
    (or went back). Unique within a process; a tie-breaker, not a secret."""
    global _last_event_id
    with _event_id_lock:
        _last_event_id = max(_last_event_id + 1, time.time_ns())
        return _last_event_id


def format_page_visit_id(value: int) -> str:
    return f"{value:x}"
