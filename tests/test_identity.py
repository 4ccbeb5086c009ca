"""Visitor ids: the per-day cache and the cached local day give exactly the uncached answers."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from zoneinfo import ZoneInfo

from engine.ingest.identity import VisitorHasher, normalize_ip, rate_limit_prefix

SECRET = b"s" * 32
# Zones with DST changes at 02:00/03:00, at midnight (Santiago, Havana), half-hour offsets and
# a 45-minute one, and UTC.
ZONES = ["Europe/Berlin", "America/New_York", "America/Santiago", "America/Havana",
         "Australia/Lord_Howe", "Asia/Kathmandu", "Asia/Tehran", "UTC"]


def _uncached(moment: dt.datetime, tz: ZoneInfo, site_id: int, ip: str, ua: str) -> int:
    day = moment.astimezone(tz).date().isoformat()
    text = f"{day}\x00{site_id}\x00{normalize_ip(ip) or ip}\x00{ua}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8, key=SECRET).digest(), "big")


def test_local_day_matches_the_timezone_conversion_across_dst_changes():
    rng = random.Random(7)
    for name in ZONES:
        tz = ZoneInfo(name)
        hasher = VisitorHasher(SECRET)
        start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        # Time-ordered like live traffic (the cache's common case) through two DST changes ...
        moment = start
        while moment < start + dt.timedelta(days=400):
            assert hasher.local_day(moment, tz) == moment.astimezone(tz).date().isoformat(), (name, moment)
            moment += dt.timedelta(minutes=rng.choice([7, 13, 29, 61, 97]))
        # ... and in random order like a backfill.
        for _ in range(3000):
            moment = start + dt.timedelta(seconds=rng.randrange(400 * 86400))
            assert hasher.local_day(moment, tz) == moment.astimezone(tz).date().isoformat(), (name, moment)


def test_cached_visitor_ids_equal_the_hash_and_rotate_daily():
    hasher = VisitorHasher(SECRET, cache_size=5)
    tz = ZoneInfo("Europe/Berlin")
    ips = ["81.2.69.1", "::ffff:81.2.69.1", "2001:db8::1", "81.2.69.2"]
    uas = ["Mozilla/5.0 A", "Mozilla/5.0 B"]
    moment = dt.datetime(2026, 3, 28, 20, 0, tzinfo=dt.UTC)  # the night of a DST change
    for _step in range(300):
        moment += dt.timedelta(minutes=17)
        for ip in ips:
            for ua in uas:
                for site in (1, 2):
                    assert hasher.visitor_id(moment, tz, site, ip, ua) == _uncached(moment, tz, site, ip, ua)
    assert len(hasher._ids) <= VisitorHasher.DAYS_KEPT
    day1 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    assert hasher.visitor_id(day1, tz, 1, ips[0], uas[0]) != \
        hasher.visitor_id(day1 + dt.timedelta(days=1), tz, 1, ips[0], uas[0])
    # Two spellings of one address are one visitor.
    assert hasher.visitor_id(day1, tz, 1, ips[0], uas[0]) == hasher.visitor_id(day1, tz, 1, ips[1], uas[0])


def test_cached_rate_limit_keys_equal_the_hash():
    hasher = VisitorHasher(SECRET, cache_size=3)
    for ip in ["192.0.2.1", "192.0.2.2", "2001:db8:1:2::1", "2001:db8:1:2::abcd", "::ffff:192.0.2.1"] * 3:
        digest = hashlib.blake2b(rate_limit_prefix(ip).encode(), digest_size=8, key=SECRET).digest()
        assert hasher.ip_key(ip) == int.from_bytes(digest, "big")


def test_ip_spellings_are_remembered_but_never_long_text():
    """normalize_ip remembers short spellings (every request asks for its peer's and its
    visitor's); header junk longer than any address is answered but never kept, so a flood of
    long X-Forwarded-For entries cannot grow memory."""
    from engine.ingest import identity

    assert normalize_ip("[2001:DB8::1]:443") == "2001:db8::1"
    hits = identity._normalize_ip.cache_info().hits
    assert normalize_ip("[2001:DB8::1]:443") == "2001:db8::1"  # the same answer, from memory
    assert identity._normalize_ip.cache_info().hits == hits + 1
    kept = identity._normalize_ip.cache_info().currsize
    for i in range(50):
        assert normalize_ip(f"{i}." * 40) is None
    assert normalize_ip(" " * 40 + "10.0.0.1" + " " * 40) == "10.0.0.1"  # long, still parsed
    assert identity._normalize_ip.cache_info().currsize == kept


def test_new_ids_are_random_and_verifiable():
    """New session and page-visit ids: all distinct, all carrying a valid MAC, and the random
    part uses its whole range."""
    from engine.ingest.identity import (
        new_page_visit_id,
        new_session_id,
        page_visit_id_is_ours,
        session_id_is_ours,
    )

    sessions = [new_session_id() for _ in range(3_000)]
    visits = [new_page_visit_id() for _ in range(3_000)]
    assert len(set(sessions)) == 3_000 and len(set(visits)) == 3_000
    assert all(map(session_id_is_ours, sessions)) and all(map(page_visit_id_is_ours, visits))
    assert max(sessions) > 2**52 and min(sessions) < 2**50  # spread over the 53-bit range
    assert max(visits) > 2**62 and min(visits) < 2**60
