"""The recorded client IP believes X-Forwarded-For only as far as our own proxies wrote it."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.http.client_ip import client_ip, is_trusted_proxy, parse_trusted_proxies

PROXIES = parse_trusted_proxies("10.0.0.0/8, 127.0.0.1, 2001:db8:ffff::/48")
CLIENT = "203.0.113.7"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_ip(CLIENT, "198.51.100.1, 10.0.0.2", PROXIES) == CLIENT


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_ip("10.0.0.9", "198.51.100.1", []) == "10.0.0.9"


def test_a_trusted_proxy_chain_yields_the_right_most_untrusted_hop() -> None:
    forged_by_client = "198.51.100.1"
    header = f"{forged_by_client}, {CLIENT}, 10.0.0.5, 127.0.0.1"

    assert client_ip("10.0.0.9", header, PROXIES) == CLIENT


def test_a_trusted_peer_without_the_header_is_itself_the_client() -> None:
    assert client_ip("10.0.0.9", None, PROXIES) == "10.0.0.9"
    assert client_ip("10.0.0.9", "", PROXIES) == "10.0.0.9"


def test_when_every_hop_is_trusted_the_left_most_is_the_answer() -> None:
    assert client_ip("127.0.0.1", "10.0.0.1, 10.0.0.2", PROXIES) == "10.0.0.1"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("unknown", "10.0.0.9"),
        ("203.0.113.7, 10.0.0.5, _hidden", "10.0.0.9"),
        ("203.0.113.7, not-an-ip, 10.0.0.5", "10.0.0.5"),
        ("203.0.113.7,, 10.0.0.5", "10.0.0.5"),
        ("203.0.113.7, 10.0.0.5:", "10.0.0.9"),
        ("203.0.113.7, 999.0.0.1", "10.0.0.9"),
    ],
)
def test_an_unreadable_hop_ends_the_walk_at_the_last_trusted_address(
    header: str, expected: str
) -> None:
    assert client_ip("10.0.0.9", header, PROXIES) == expected


def test_hops_with_ports_are_read() -> None:
    header = "198.51.100.1, [2001:db8::7]:443, 10.0.0.5:5123"

    assert client_ip("10.0.0.9", header, PROXIES) == "2001:db8::7"
    assert client_ip("10.0.0.9", "203.0.113.7:5123", PROXIES) == CLIENT


def test_ipv6_peers_and_hops_are_understood() -> None:
    assert client_ip("2001:db8::1", "198.51.100.1", PROXIES) == "2001:db8::1"
    assert client_ip("2001:db8:ffff::1", "2001:DB8:0:0::7, 2001:db8:ffff::2", PROXIES) == (
        "2001:db8::7"
    )


def test_ipv4_mapped_addresses_are_read_as_ipv4() -> None:
    assert client_ip("::ffff:10.0.0.9", "::ffff:203.0.113.7", PROXIES) == CLIENT
    assert client_ip("::ffff:203.0.113.7", None, PROXIES) == CLIENT


def test_a_peer_that_is_not_an_address_is_kept_as_given_and_never_trusted() -> None:
    assert client_ip("testclient", "203.0.113.7", PROXIES) == "testclient"
    assert client_ip(None, "203.0.113.7", PROXIES) is None
    assert not is_trusted_proxy("testclient", PROXIES)
    assert not is_trusted_proxy(None, PROXIES)


def test_trust_in_the_peer_is_decided_on_its_normalised_address() -> None:
    assert is_trusted_proxy("::ffff:10.0.0.9", PROXIES)
    assert not is_trusted_proxy("::ffff:203.0.113.7", PROXIES)


def test_trusted_proxies_parse_addresses_and_networks() -> None:
    assert parse_trusted_proxies(" 10.0.0.0/8 ,127.0.0.1,, ::1 ") == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    ]
    assert parse_trusted_proxies("") == []


def test_a_bad_trusted_proxy_entry_is_named() -> None:
    with pytest.raises(
        ValueError, match=re.escape("'10.0.0.0/33' is not an IP address or network")
    ):
        parse_trusted_proxies("127.0.0.1, 10.0.0.0/33")


def normalised(text: str) -> str:
    address = ipaddress.ip_address(text)
    return str(getattr(address, "ipv4_mapped", None) or address)


def untrusted(text: str) -> bool:
    return not any(ipaddress.ip_address(normalised(text)) in network for network in PROXIES)


addresses = st.ip_addresses().map(str)


@given(peer=addresses.filter(untrusted), forged=st.lists(addresses | st.text(max_size=8)))
def test_nothing_a_client_sends_changes_the_answer_for_an_untrusted_peer(
    peer: str, forged: list[str]
) -> None:
    assert client_ip(peer, ", ".join(forged), PROXIES) == normalised(peer)


@given(
    client=addresses.filter(untrusted),
    forged=st.lists(addresses | st.text(max_size=8), max_size=3),
    proxies=st.lists(st.sampled_from(["10.1.2.3", "127.0.0.1", "2001:db8:ffff::9"]), max_size=3),
)
def test_a_forged_prefix_never_displaces_the_client_our_proxies_saw(
    client: str, forged: list[str], proxies: list[str]
) -> None:
    header = ", ".join([*forged, client, *proxies])

    assert client_ip("10.0.0.9", header, PROXIES) == normalised(client)
