"""A local HTTP server that plays Stripe's API for the official ``stripe`` SDK to call.

It keeps PaymentIntents and refunds in memory and answers in Stripe's shapes: form-encoded
requests, ``{"error": {"type", "code", "decline_code", "message"}}`` errors, Stripe's test
payment methods, and the ``Idempotency-Key`` contract (same key and parameters: the stored
answer again; same key, other parameters: ``idempotency_error``).

Tests script faults for the next requests, in order: an HTTP error answered before any
processing, a reply held beyond the client's timeout, or a connection dropped mid-answer
(both of the latter after the request was processed, as when a network fails on the way
back), a request held unprocessed until the test releases it (a call in flight), or a 200
whose body is no Stripe object (a bug's way of failing). Every request is recorded with
its headers and parsed form.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.support.fake_api import Hold
from tests.support.infrastructure import free_port

FAKE_API_KEY = "sk_test_fake_stripe_key"
FAKE_WEBHOOK_SECRET = "whsec_fake_stripe_secret"

# https://docs.stripe.com/testing: token -> (PaymentIntent status, error code, decline code).
TEST_PAYMENT_METHODS: dict[str, tuple[str, str | None, str | None]] = {
    "pm_card_visa": ("succeeded", None, None),
    "pm_card_visa_debit": ("succeeded", None, None),
    "pm_card_mastercard": ("succeeded", None, None),
    "pm_card_chargeDeclined": ("requires_payment_method", "card_declined", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "requires_payment_method",
        "card_declined",
        "insufficient_funds",
    ),
}
_SEARCH_BY_METADATA = re.compile(r"^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$")


@dataclass(frozen=True)
class Fault:
    """``error`` and ``garble``: answered at once; ``stall`` and ``drop``: after processing
    the request; ``hold``: kept unprocessed until released."""

    kind: str
    status: int = 500
    seconds: float = 0.0
    hold: Hold | None = None


def server_error(status: int = 500) -> Fault:
    return Fault("error", status=status)


def stall(seconds: float) -> Fault:
    return Fault("stall", seconds=seconds)


def drop() -> Fault:
    return Fault("drop")


def garble() -> Fault:
    return Fault("garble")


def held() -> tuple[Fault, Hold]:
    hold = Hold()
    return Fault("hold", hold=hold), hold


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    def metadata(self) -> dict[str, str]:
        return {
            key.removeprefix("metadata[").removesuffix("]"): value
            for key, value in self.form.items()
            if key.startswith("metadata[")
        }


@dataclass
class FakeStripe:
    port: int = field(default_factory=free_port)
    requests: list[RecordedRequest] = field(default_factory=list)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_methods: dict[str, tuple[str, str | None, str | None]] = field(
        default_factory=lambda: dict(TEST_PAYMENT_METHODS)
    )
    closing: bool = False
    _faults: deque[Fault] = field(default_factory=deque)
    _answered: dict[str, tuple[tuple[str, ...], int, dict[str, Any]]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        for store in (self.requests, self.payment_intents, self.refunds, self._answered):
            store.clear()
        self._faults.clear()
        self.payment_methods = dict(TEST_PAYMENT_METHODS)

    def fail_next(self, *faults: Fault) -> None:
        self._faults.extend(faults)

    def recover(self) -> None:
        """Drop the faults still scripted: the end of an outage."""
        self._faults.clear()

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    async def handle(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        query = dict(request.query_params)
        recorded = RecordedRequest(
            request.method, request.url.path, dict(request.headers), form | query
        )
        self.requests.append(recorded)
        if request.headers.get("authorization") != f"Bearer {FAKE_API_KEY}":
            return _error(401, "invalid_request_error", None, "Invalid API Key provided")
        fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "error":
            return _error(fault.status, "api_error", None, "scripted failure")
        if fault is not None and fault.kind == "garble":
            return JSONResponse({"unexpected": "a body Stripe never sends"}, 200)
        if fault is not None and fault.hold is not None:
            await fault.hold.keep()
        status, body, replayed = self._answer_once(recorded)
        if fault is not None and fault.kind == "stall":
            await self._hold(fault.seconds)
        if fault is not None and fault.kind == "drop":
            return _DroppedResponse()
        headers = {"request-id": f"req_{uuid.uuid4().hex[:14]}"}
        if replayed:
            headers["idempotent-replayed"] = "true"
        return JSONResponse(body, status, headers=headers)

    async def _hold(self, seconds: float) -> None:
        # Held in short naps so that shutting the server down does not wait for a stall.
        until = time.monotonic() + seconds
        while time.monotonic() < until and not self.closing:
            await asyncio.sleep(0.05)

    def _answer_once(self, request: RecordedRequest) -> tuple[int, dict[str, Any], bool]:
        key = request.idempotency_key
        if request.method != "POST" or key is None:
            return *self._route(request), False
        fingerprint = (request.path, *sorted(f"{k}={v}" for k, v in request.form.items()))
        if key in self._answered:
            stored_fingerprint, status, body = self._answered[key]
            if stored_fingerprint != fingerprint:
                return *_idempotency_mismatch(key), False
            return status, body, True
        status, body = self._route(request)
        # Stripe keeps the answer once the endpoint ran, not for refused parameters.
        if status in (200, 402):
            self._answered[key] = (fingerprint, status, body)
        return status, body, False

    def _route(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        path = request.path
        if request.method == "POST" and path == "/v1/payment_intents":
            return self._create_payment_intent(request)
        if request.method == "POST" and path == "/v1/refunds":
            return self._create_refund(request)
        if path == "/v1/payment_intents/search":
            return self._search(request.form.get("query", ""))
        if request.method == "GET" and path == "/v1/refunds":
            return self._list_refunds(request.form.get("payment_intent"))
        intent = self.payment_intents.get(path.removeprefix("/v1/payment_intents/"))
        if request.method == "GET" and intent is not None:
            return 200, intent
        return _missing(f"Unrecognized request URL ({request.method}: {path})", None)

    def _create_payment_intent(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        form = request.form
        for required in ("amount", "currency"):
            if required not in form:
                return _invalid("parameter_missing", f"Missing required param: {required}.")
        method = form.get("payment_method", "")
        if method not in self.payment_methods:
            return _missing(f"No such PaymentMethod: '{method}'", "payment_method")
        status, code, decline_code = self.payment_methods[method]
        amount = int(form["amount"])
        intent: dict[str, Any] = {
            "id": f"pi_{uuid.uuid4().hex[:24]}",
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount if status == "succeeded" else 0,
            "currency": form["currency"],
            "status": status,
            "payment_method": method,
            "metadata": request.metadata(),
            "created": int(time.time()),
            "livemode": False,
            "last_payment_error": None,
        }
        self.payment_intents[intent["id"]] = intent
        if code is None:
            return 200, intent
        intent["last_payment_error"] = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": "Your card was declined.",
        }
        return 402, {"error": {**intent["last_payment_error"], "payment_intent": intent}}

    def _create_refund(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        intent = self.payment_intents.get(request.form.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _missing("No such payment_intent with a successful charge", "payment_intent")
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
        )
        remaining = intent["amount_received"] - refunded
        if remaining == 0:
            return _invalid("charge_already_refunded", "This charge has already been refunded.")
        amount = int(request.form.get("amount", remaining))
        if amount > remaining:
            return _invalid("amount_too_large", "Refund amount is greater than unrefunded amount.")
        refund = {
            "id": f"re_{uuid.uuid4().hex[:24]}",
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "metadata": request.metadata(),
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    def _list_refunds(self, payment_intent: str | None) -> tuple[int, dict[str, Any]]:
        found = [
            r
            for r in self.refunds.values()
            if payment_intent is None or r["payment_intent"] == payment_intent
        ]
        listed = {"object": "list", "url": "/v1/refunds", "has_more": False}
        return 200, listed | {"data": list(reversed(found))}

    def _search(self, query: str) -> tuple[int, dict[str, Any]]:
        match = _SEARCH_BY_METADATA.match(query)
        if match is None:
            return _invalid("parameter_invalid_string", f"Unsupported search query: {query}")
        key, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
        found = [i for i in self.payment_intents.values() if i["metadata"].get(key) == value]
        return 200, {
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "data": found,
            "has_more": False,
            "next_page": None,
        }


class _DroppedResponse(Response):
    """Starts an answer and breaks off: the server's side of a connection lost mid-reply."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"512")]}
        )
        raise ConnectionAbortedError("fake Stripe dropped the connection on purpose")


def _error(
    status: int, kind: str, code: str | None, message: str, param: str | None = None
) -> JSONResponse:
    body = {"error": {"type": kind, "code": code, "message": message, "param": param}}
    return JSONResponse(body, status)


def _invalid(code: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": {"type": "invalid_request_error", "code": code, "message": message}}


def _missing(message: str, param: str | None) -> tuple[int, dict[str, Any]]:
    error = {"type": "invalid_request_error", "code": "resource_missing", "message": message}
    return 400 if param else 404, {"error": error | {"param": param}}


def _idempotency_mismatch(key: str) -> tuple[int, dict[str, Any]]:
    message = (
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request."
    )
    return 400, {"error": {"type": "idempotency_error", "message": message}}


def sign_webhook(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send: HMAC-SHA256 of ``t.payload``."""
    at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


@contextlib.contextmanager
def fake_stripe_server() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    methods = ["GET", "POST"]
    app = Starlette(routes=[Route("/v1/{path:path}", fake.handle, methods=methods)])
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=fake.port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, name="fake-stripe", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield fake
    finally:
        fake.closing = server.should_exit = True
        thread.join(timeout=5)
