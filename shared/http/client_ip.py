"""The client's IP address, as far as it can be trusted.

The connection's peer is the client, unless the peer is a proxy we run (configured as
trusted). Then ``X-Forwarded-For`` is read from the right: each proxy appends the address it
received the request from, so entries written by our own proxies sit on the right, and the
right-most address that is not one of ours is the one that connected to our edge. Everything
to its left arrived with the request: a client can send ``X-Forwarded-For: 1.2.3.4`` itself,
so the left-most entry is whatever it chose and is never believed.

Addresses may carry a port (``203.0.113.7:5123``, ``[2001:db8::7]:443``) and IPv4-mapped
IPv6 addresses (``::ffff:203.0.113.7``) are read as IPv4. An entry that is not an address
(``unknown``, an obfuscated name, an empty slot) ends the walk: the answer is the last
address a trusted hop vouched for, the peer itself when the right-most entry is unreadable.
When every entry is a trusted proxy, the left-most one is the best that is known.
A peer that is not an IP address (a test client's name, a socket path) is returned as given.
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
    host = text.strip()
    if host.startswith("["):  # "[v6]" or "[v6]:port"
        host, bracket, port = host[1:].partition("]")
        if not bracket or (port and not (port[0] == ":" and port[1:].isdigit())):
            return None
    elif host.count(":") == 1:  # "v4:port"; a bare IPv6 address has two colons or more
        host, _, port = host.partition(":")
        if not port.isdigit():
            return None
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def is_trusted_proxy(peer: str | None, trusted_proxies: Sequence[Network]) -> bool:
    """Whether the connection came from one of our proxies, so headers it sets (the client's
    country, say) can be believed. Comparing ``client_ip``'s answer with the peer is no
    substitute: an IPv4-mapped peer differs from its normalised form."""
    address = _address(peer) if peer is not None else None
    return address is not None and _trusted(address, trusted_proxies)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]
) -> str | None:
    """The client address: the peer, or the right-most untrusted ``X-Forwarded-For`` hop
    when the peer is a trusted proxy. Several header lines are passed joined by commas."""
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
