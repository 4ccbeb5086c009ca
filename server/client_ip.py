"""The visitor's IP address (SPEC §2): the peer, or behind trusted proxies the first address met
walking `X-Forwarded-For` from the right and skipping trusted proxies. The leftmost entries are
written by the client and are never believed on that basis. A request holding an API key is a
server-side sender forwarding its visitor's address: its first `X-Forwarded-For` entry is used.

One trust list (`CLICKPORT_TRUSTED_PROXIES`) and one walk per request: `resolve_scope` runs once
for every HTTP request (server/app.py, before any route) and replaces uvicorn's proxy-header
handling, which `clickport serve` turns off (it walked the header a second time, with `ipaddress`
objects: ≈ 40 µs a request, loadtest/results/run2/forged/profile-server-drill-d.txt). Routes ask
`visitor`. Addresses come out normalized (`engine.ingest.identity.normalize_ip`).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable

from engine.ingest.identity import normalize_ip

# A longer X-Forwarded-For is cut to its last entries: only a chain of trusted proxies is walked.
MAX_FORWARDED_ENTRIES = 32


class TrustedProxies:
    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]):
        self.networks = tuple(networks)
        # Membership is tested on every request (twice behind a proxy): integer masks, not
        # `ipaddress` objects (≈14 µs per test).
        self._ranges = {
            version: tuple((int(net.network_address), int(net.netmask))
                           for net in self.networks if net.version == version)
            for version in (4, 6)
        }
        # The answers for the last addresses asked (a proxy's and its visitors' repeat).
        self._member = functools.lru_cache(maxsize=1 << 14)(self._test)

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """Comma-separated addresses or CIDR networks; raises ValueError naming a bad entry."""
        networks = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"CLICKPORT_TRUSTED_PROXIES: {part!r} is not an address or network") from None
        return cls(networks)

    def __contains__(self, address: str) -> bool:
        return bool(self.networks) and len(address) <= 64 and self._member(address)

    def _test(self, address: str) -> bool:
        try:
            if ":" in address:
                value, ranges = int.from_bytes(socket.inet_pton(socket.AF_INET6, address)), self._ranges[6]
            else:
                value, ranges = int.from_bytes(socket.inet_pton(socket.AF_INET, address)), self._ranges[4]
        except (OSError, ValueError):
            return False
        return any(value & mask == network for network, mask in ranges)

    def __iter__(self):
        return iter(self.networks)

    def __len__(self) -> int:
        return len(self.networks)


def _entries(forwarded: str) -> list[str]:
    parts = forwarded.split(",")
    return [p.strip() for p in parts[-MAX_FORWARDED_ENTRIES:]]


def client_ip(peer: str, forwarded: str, trusted: TrustedProxies, api_sender: bool) -> str:
    """The normalized visitor address (or the peer as given when nothing parses)."""
    peer_ip = normalize_ip(peer) or peer
    if forwarded:
        if api_sender:
            first = normalize_ip(forwarded.split(",", 1)[0].strip())
            if first:
                return first
        if peer_ip in trusted:
            candidate = peer_ip
            for entry in reversed(_entries(forwarded)):
                address = normalize_ip(entry)
                if address is None:
                    break  # garbage from an untrusted writer: stop at the last good hop
                candidate = address
                if address not in trusted:
                    return address
            return candidate
    return peer_ip


# Where `resolve_scope` keeps the request's X-Forwarded-For value (its entries joined by ", ").
FORWARDED_KEY = "clickport.forwarded_for"


def resolve_scope(scope: dict, trusted: TrustedProxies) -> None:
    """Once per HTTP request: behind a trusted proxy, the scope's client becomes the visitor
    (`client_ip`, port 0) and its scheme X-Forwarded-Proto's (http/https), as uvicorn's
    ProxyHeadersMiddleware did; the X-Forwarded-For value is kept under FORWARDED_KEY for the
    API senders' rule (`visitor`). One pass over the headers; no walk without the header."""
    forwarded: list[bytes] = []
    proto = None
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            forwarded.append(value)
        elif name == b"x-forwarded-proto":
            proto = value
    text = b", ".join(forwarded).decode("latin1") if forwarded else ""
    scope[FORWARDED_KEY] = text
    if not text and proto is None:
        return
    client = scope.get("client")
    peer = client[0] if client else ""
    if (normalize_ip(peer) or peer) not in trusted:
        return
    if text:
        scope["client"] = (client_ip(peer, text, trusted, False), 0)
    if proto in (b"http", b"https"):
        scope["scheme"] = proto.decode()


def visitor(scope: dict, trusted: TrustedProxies, api_sender: bool) -> str:
    """The request's normalized visitor address (SPEC §2) from a resolved scope (resolved here
    if it was not). `api_sender`: the request holds an API key; its first entry is used."""
    forwarded = scope.get(FORWARDED_KEY)
    if forwarded is None:
        resolve_scope(scope, trusted)
        forwarded = scope[FORWARDED_KEY]
    if api_sender and forwarded:
        first = normalize_ip(forwarded.split(",", 1)[0].strip())
        if first:
            return first
    client = scope.get("client")
    host = client[0] if client else ""
    return normalize_ip(host) or host
