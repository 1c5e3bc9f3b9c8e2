"""Serve mongoeco's in-memory MongoDB engine over the wire protocol (development only).

mongoeco 4.11's memory engine detects write conflicts at commit with one global version,
so any concurrent write conflicts; when that happens it raises without discarding the
transaction, whose writes then leak into later reads and vanish on the next abort. Real
MongoDB aborts a transaction whose commit fails. ``_abort_conflicting_commits`` makes the
stand-in do the same; the unit of work retries the conflict.
"""

import argparse
import asyncio
import signal
from typing import Any


def _abort_conflicting_commits() -> None:
    from mongoeco.session import ClientSession

    commit = ClientSession.commit_transaction

    def commit_or_abort(self: Any) -> None:
        try:
            commit(self)
        except Exception:
            self.abort_transaction()
            raise

    ClientSession.commit_transaction = commit_or_abort  # type: ignore[method-assign]


async def serve(host: str, port: int) -> None:
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    _abort_conflicting_commits()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncMongoEcoProxyServer(host=host, port=port):
        print(f"mongodb wire server listening on {host}:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))
