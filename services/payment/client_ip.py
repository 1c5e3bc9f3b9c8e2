"""The client's IP address, as far as it can be trusted.

The connection's peer is the client, unless the peer is a proxy we run (configured as
trusted). Then ``X-Forwarded-For`` is read from the right: each trusted proxy appended the
address it received from, so the right-most address that is not one of ours is the client.
The left-most entry is whatever the client chose to send and is never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network
type Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_trusted_proxies(value: str) -> list[Network]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks; raises ``ValueError`` naming a bad entry."""
    networks: list[Network] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return networks


def _address(text: str) -> Address | None:
    try:
        parsed = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]
) -> str | None:
    """The client address: the peer, or the right-most untrusted ``X-Forwarded-For`` hop
    when the peer is a trusted proxy. A malformed hop ends the walk at the last trusted one."""
    if peer is None:
        return None
    current = _address(peer)
    if current is None:
        return peer
    if not forwarded_for or not _trusted(current, trusted_proxies):
        return str(current)
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted_proxies):
            break
    return str(current)
