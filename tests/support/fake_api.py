"""What the fakes of payment processors' HTTP APIs share: a server thread, a record of
every request, and faults a test scripts per route.

A fault answers the next request to its route either with an HTTP error before anything
happens (``fail_next``) or late, after the work is done (``slow_next``): the second is how
a client timeout looks from the processor's side, where the charge exists all the same.
``hold_next`` keeps the next request waiting, before any work, until the test releases it:
a call in flight for as long as the test needs, with no clock involved. ``garble_next``
answers 200 with a body no processor would send, doing nothing: a bug's way of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.infrastructure import free_port

Action = Callable[[Request, Any], tuple[int, Any]]


@dataclass(frozen=True)
class RecordedRequest:
    route: str
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any  # parsed JSON, a form as a dict, or None


@dataclass(frozen=True)
class Hold:
    """A request kept at the fake, unprocessed, until ``release``."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()

    async def until_arrived(self, timeout: float = 30) -> None:
        if not await asyncio.to_thread(self.arrived.wait, timeout):
            raise AssertionError(f"the held request did not arrive within {timeout}s")

    async def keep(self) -> None:
        """The server's side: note the arrival, then wait for the release."""
        self.arrived.set()
        await asyncio.to_thread(self.released.wait, 120)


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    delay_seconds: float = 0.0
    hold: Hold | None = None
    garble: bool = False


class FakeApi:
    def __init__(self) -> None:
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, route: str, status: int = 500) -> None:
        self._faults[route].append(Fault(status=status))

    def slow_next(self, route: str, seconds: float) -> None:
        self._faults[route].append(Fault(delay_seconds=seconds))

    def hold_next(self, route: str) -> Hold:
        hold = Hold()
        self._faults[route].append(Fault(hold=hold))
        return hold

    def garble_next(self, route: str) -> None:
        self._faults[route].append(Fault(garble=True))

    def calls(self, route: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.route == route]

    def reset(self) -> None:
        self.requests.clear()
        self._faults.clear()

    def refuse(self, route: str, request: Request) -> Response | None:
        """An answer that stops the request before ``action`` (e.g. bad credentials)."""
        return None

    def error_body(self, status: int) -> Any:
        return {"error": f"scripted failure {status}"}

    def endpoint(self, route: str, action: Action) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            body = await _parsed_body(request)
            headers = {name.lower(): value for name, value in request.headers.items()}
            self.requests.append(
                RecordedRequest(route, request.method, request.url.path, headers, body)
            )
            faults = self._faults[route]
            fault = faults.popleft() if faults else None
            if fault is not None and fault.status is not None:
                return JSONResponse(self.error_body(fault.status), fault.status)
            if (refused := self.refuse(route, request)) is not None:
                return refused
            if fault is not None and fault.garble:
                return JSONResponse({"unexpected": "a body no processor sends"}, 200)
            if fault is not None and fault.hold is not None:
                await fault.hold.keep()
            status, payload = action(request, body)
            if fault is not None:
                await asyncio.sleep(fault.delay_seconds)
            return JSONResponse(payload, status)

        return handle


async def _parsed_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode()))
    return json.loads(raw)


@contextlib.contextmanager
def serve_in_thread(app: Starlette, name: str) -> Iterator[int]:
    """Yields the port once the server accepts connections; stops the server on exit."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"{name}: the server did not start on port {port}")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def refused_url() -> str:
    """A local address where nothing listens: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}"
