"""A sandbox ad exchange for the local stack: Meta Marketing API's shape over HTTP, served
by simulated second-price auctions (``ad_auction.py``).

    python -m shared.devstack.ad_exchange --port 8030 [--clock manual] [--seed 7] [--speed 60]

Graph API, under ``/{version}/`` with the access token as a bearer token:
  ``GET act_{id}``                          the ad account and its currency
  ``POST|GET act_{id}/{campaigns,adsets,ads}`` create; list (``filtering`` by name or id)
  ``GET|POST {id}``                         read an object; update status, budget, bid
  ``GET {adset}/insights``                  impressions, clicks, spend (``date_preset=maximum``)
  ``GET {adset}/sandbox_clicks``            not Meta's: each click with its id (``fbclid``-like),
                                            time and landing URL (``cid`` appended); Graph
                                            cursor paging with ``after`` and ``limit``
Sandbox controls:
  ``POST /sandbox/advance {"seconds": n}``  run n simulated seconds of auctions now
  ``POST /sandbox/faults {"faults": [...]}`` the next Graph requests fail, in order:
      ``{"kind": "error", "status": 500, "code": 2}`` answers at once, doing nothing;
      ``{"kind": "drop"}`` does the work, then drops the connection before answering;
      ``"method"`` and ``"path"`` (its end) keep a fault for the first request they match
With ``--clock realtime`` (the default) the market also advances ``--speed`` simulated
seconds every real second, for the demo; tests use ``manual`` and ``advance``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import os
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from shared.devstack.ad_auction import AdMarket
from shared.devstack.ad_graph import GraphError
from shared.devstack.ad_objects import AdAccounts

SANDBOX_TOKEN = "dev-only-ad-platform-token"  # noqa: S105 - the sandbox's, as the launcher's default
MAX_ADVANCE_SECONDS = 31 * 24 * 3600


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class AdExchange:
    market: AdMarket
    token: str = SANDBOX_TOKEN
    currency: str = "USD"
    requests: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=1000))
    _faults: deque[dict[str, Any]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.accounts = AdAccounts(self.market, self.currency)

    def app(self, *, realtime: bool = False, speed: int = 1) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            ticking = asyncio.create_task(self._tick(speed)) if realtime else None
            yield
            if ticking is not None:
                ticking.cancel()

        return Starlette(
            routes=[
                Route("/sandbox/advance", self._advance, methods=["POST"]),
                Route("/sandbox/faults", self._script_faults, methods=["POST"]),
                Route("/sandbox/health", lambda _: JSONResponse({"status": "ok"})),
                Route("/{version:str}/{path:path}", self._graph, methods=["GET", "POST"]),
            ],
            lifespan=lifespan,
        )

    async def _graph(self, request: Request) -> Response:
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        params = dict(request.query_params) | dict(form)
        path = request.url.path
        self.requests.append(RecordedRequest(request.method, path, params, dict(request.headers)))
        fault = self._fault_for(request.method, path)
        trace_id = uuid.uuid4().hex[:11]
        try:
            self._authorise(request, params)
            if fault.get("kind") == "error":
                raise _scripted(fault)
            version = request.path_params["version"]
            if not (version.startswith("v") and version[1:].replace(".", "").isdigit()):
                raise GraphError("Unknown path components", 2500)
            segments = request.path_params["path"].strip("/").split("/")
            body = self.accounts.handle(request.method, segments, params)
        except GraphError as error:
            return JSONResponse(error.body(trace_id), error.status)
        if fault.get("kind") == "drop":
            return _DroppedResponse()
        return JSONResponse(body, headers={"x-fb-trace-id": trace_id})

    def _fault_for(self, method: str, path: str) -> dict[str, Any]:
        for fault in self._faults:
            if fault.get("method", method) == method and path.endswith(fault.get("path", "")):
                self._faults.remove(fault)
                return fault
        return {}

    def _authorise(self, request: Request, params: Mapping[str, str]) -> None:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        given = bearer or params.get("access_token") or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise GraphError("Invalid OAuth access token - Cannot parse access token", 190)

    async def _advance(self, request: Request) -> Response:
        seconds = (await _json_object(request)).get("seconds")
        if not isinstance(seconds, int) or not 0 < seconds <= MAX_ADVANCE_SECONDS:
            return JSONResponse({"error": f"seconds: 1 to {MAX_ADVANCE_SECONDS}"}, 400)
        for minute in range(0, seconds, 60):
            self.market.advance(min(60, seconds - minute))
            await asyncio.sleep(0)  # other requests are answered between simulated minutes
        return JSONResponse({"now": self.market.now.isoformat()})

    async def _script_faults(self, request: Request) -> Response:
        faults = (await _json_object(request)).get("faults")
        if not isinstance(faults, list) or any(
            not isinstance(f, dict) or f.get("kind") not in ("error", "drop") for f in faults
        ):
            return JSONResponse({"error": 'faults: a list of {"kind": "error" | "drop"}'}, 400)
        self._faults.extend(faults)
        return JSONResponse({"queued": len(self._faults)})

    async def _tick(self, speed: int) -> None:
        while True:
            await asyncio.sleep(1)
            self.market.advance(speed)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _scripted(fault: Mapping[str, Any]) -> GraphError:
    status = int(fault.get("status", 500))
    code = int(fault.get("code", 2))
    return GraphError("Scripted sandbox failure", code, status=status, transient=True)


class _DroppedResponse(Response):
    """Starts an answer and breaks off: a connection lost after the work was done."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
        )
        raise ConnectionAbortedError("the sandbox exchange dropped the connection on purpose")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--clock", choices=["realtime", "manual"], default="realtime")
    parser.add_argument("--speed", type=int, default=1, help="simulated seconds per second")
    args = parser.parse_args()
    token = os.environ.get("LAUNCHER_AD_PLATFORM_TOKEN") or SANDBOX_TOKEN
    market = AdMarket(now=datetime.now(UTC), seed=args.seed)
    exchange = AdExchange(market, token=token, currency=args.currency)
    app = exchange.app(realtime=args.clock == "realtime", speed=args.speed)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
