"""The devstack's balancer deals connections out in turn and skips a replica that is gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from shared.devstack.balancer import RoundRobinBalancer


@contextlib.asynccontextmanager
async def replica(name: bytes) -> AsyncIterator[int]:
    """A server that answers every connection with its name and closes it."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name + b":" + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield int(server.sockets[0].getsockname()[1])


@contextlib.asynccontextmanager
async def balancer(*ports: int) -> AsyncIterator[int]:
    upstreams = [("127.0.0.1", port) for port in ports]
    server = await asyncio.start_server(RoundRobinBalancer(upstreams).serve, "127.0.0.1", 0)
    async with server:
        yield int(server.sockets[0].getsockname()[1])


async def ask(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_each_new_connection_goes_to_the_next_replica() -> None:
    async with replica(b"one") as first, replica(b"two") as second, balancer(first, second) as port:
        answers = [await ask(port) for _ in range(4)]
    assert answers == [b"one:hello\n", b"two:hello\n", b"one:hello\n", b"two:hello\n"]


async def test_a_replica_that_refuses_is_skipped() -> None:
    async with replica(b"gone") as gone:
        pass  # closed: its port now refuses connections
    async with replica(b"live") as live, balancer(gone, live) as port:
        answers = [await ask(port) for _ in range(3)]
    assert answers == [b"live:hello\n"] * 3
