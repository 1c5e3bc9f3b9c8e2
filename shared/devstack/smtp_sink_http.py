"""The SMTP sink's messages over HTTP, as JSON: what the demo's shoppers read their email
from (development only; see ``shared/devstack/smtp_sink.py``).

``GET /messages?to=<address>&campaign=<id>&limit=<n>``: the last ``n`` (default 100)
matching messages, oldest first, each with its envelope, headers and raw text.
``GET /messages/{id}``: one message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.devstack.smtp_sink import KeptMessage, Mailbox

DEFAULT_LIMIT = 100


def sink_app(mailbox: Mailbox) -> Starlette:
    def shown(kept: KeptMessage) -> dict[str, object]:
        return {
            "id": kept.id,
            "received_at": kept.received_at,
            "mail_from": kept.mail_from,
            "rcpt_tos": kept.rcpt_tos,
            "headers": kept.headers,
            "raw": mailbox.raw(kept),
        }

    async def listing(request: Request) -> JSONResponse:
        query = request.query_params
        try:
            limit = int(query.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return JSONResponse({"error": "limit: must be a whole number"}, status_code=422)
        found = mailbox.matching(to=query.get("to"), campaign=query.get("campaign"))
        return JSONResponse([shown(kept) for kept in found[-limit:] if limit > 0])

    async def one(request: Request) -> JSONResponse:
        wanted = request.path_params["message_id"]
        for kept in mailbox.kept:
            if kept.id == wanted:
                return JSONResponse(shown(kept))
        return JSONResponse({"error": f"no message {wanted}"}, status_code=404)

    return Starlette(routes=[Route("/messages", listing), Route("/messages/{message_id}", one)])


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: the sink's ``serve`` owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(mailbox: Mailbox, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set."""
    config = uvicorn.Config(
        sink_app(mailbox), host=host, port=port, log_config=None, access_log=False
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([serving, stopped], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    stopped.cancel()
