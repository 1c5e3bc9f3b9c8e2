"""One address in front of a service's replicas: a round-robin TCP balancer.

``make up REPLICAS=2`` puts one in front of each service's HTTP port. Each new connection
goes to the next replica in turn; a replica that refuses the connection (dead, restarting)
is skipped for the next one, so a killed replica costs its own open connections only. A
connection stays with its replica: HTTP keep-alive clients spread per connection, not per
request, as behind a Kubernetes Service.

A TCP balancer rather than an HTTP proxy, and this one rather than a kept one (HAProxy,
nginx): the stack is Python processes only, nothing here needs to read HTTP, and the
few lines below are all the balancing a local stack needs.

    python -m shared.devstack.balancer --listen 127.0.0.1:8000 \\
        --upstream 127.0.0.1:41001 --upstream 127.0.0.1:41002
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
from collections.abc import Sequence

Address = tuple[str, int]


class RoundRobinBalancer:
    def __init__(self, upstreams: Sequence[Address]) -> None:
        if not upstreams:
            raise ValueError("a balancer needs at least one upstream")
        self._upstreams = list(upstreams)
        self._turn = itertools.cycle(range(len(upstreams)))

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next replica that accepts, trying each once; None when none does."""
        for _ in self._upstreams:
            host, port = self._upstreams[next(self._turn)]
            with contextlib.suppress(OSError):
                return await asyncio.open_connection(host, port)
        return None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self.connect()
        if upstream is None:
            writer.transport.abort()
            return
        upstream_reader, upstream_writer = upstream
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for each in (writer, upstream_writer):
                each.transport.abort()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
        # The peer finished sending: pass the half-close on, as HTTP/1.0 clients expect.
        if sink.can_write_eof():
            sink.write_eof()


def address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected host:port")
    return host, int(port)


async def run(listen: Address, upstreams: Sequence[Address]) -> None:
    balancer = RoundRobinBalancer(upstreams)
    server = await asyncio.start_server(balancer.serve, *listen)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=address, required=True)
    parser.add_argument("--upstream", type=address, action="append", required=True)
    arguments = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(arguments.listen, arguments.upstream))


if __name__ == "__main__":
    main()
