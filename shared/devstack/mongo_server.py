"""Serve mongoeco's in-memory MongoDB engine over the wire protocol (development only)."""

import argparse
import asyncio
import signal


async def serve(host: str, port: int) -> None:
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

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
