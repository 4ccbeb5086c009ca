"""The visitor's IP address (SPEC §2): the peer, or behind trusted proxies the first address met
walking `X-Forwarded-For` from the right and skipping trusted proxies. The leftmost entries are
written by the client and are never believed on that basis. A request holding an API key is a
server-side sender forwarding its visitor's address: its first `X-Forwarded-For` entry is used.

One trust list (`CLICKPORT_TRUSTED_PROXIES`) serves this module and uvicorn's proxy-header handling
(`clickport serve` passes it as `forwarded_allow_ips`), so both agree on who is a proxy.
Addresses come out normalized (`engine.ingest.identity.normalize_ip`).
"""

from __future__ import annotations

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
        if not self.networks:
            return False
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

    def uvicorn_value(self) -> str:
        """The same list in uvicorn's `forwarded_allow_ips` syntax."""
        return ",".join(str(net) for net in self.networks)


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
