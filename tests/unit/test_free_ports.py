"""Ports for the local stack's listeners: none an outgoing connection could take first.

A port from ``bind(0)`` lies in the kernel's ephemeral range, which outgoing connections
draw from too: in one full-suite run a replica of the payment service, started on such a
port a second after it was probed, found it taken ("address already in use") by one of the
connections the starting stack opens, and the replicas test failed.
"""

from __future__ import annotations

import socket

from shared.devstack.processes import ephemeral_range, free_port


def test_a_free_port_lies_outside_the_range_outgoing_connections_draw_from() -> None:
    low, high = ephemeral_range()

    ports = [free_port() for _ in range(50)]

    assert [p for p in ports if low <= p <= high] == []


def test_a_port_is_handed_out_once_even_before_anything_binds_it() -> None:
    ports = [free_port() for _ in range(200)]

    assert len(set(ports)) == len(ports)


def test_a_handed_out_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert listener.getsockname()[1] == port
