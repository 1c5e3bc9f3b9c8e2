"""A local server that plays a hosted-charge crypto API in the style of Coinbase Commerce.

Like the real API it authenticates with ``X-CC-Api-Key``, wants ``X-CC-Version``, creates
charges for a fixed local price (a decimal string), shows one by code or id, and lists
them newest first with cursor pagination and no filtering on metadata; it has no
idempotency header and no refunds. The blockchain is the test: ``confirm``, ``expire``,
``cancel`` and ``underpay`` add what the network would to a charge's timeline. A charge
whose payment reference is ``sandbox_decline`` is canceled by the wallet at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import string
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.fake_api import FakeApi, serve_in_thread

API_KEY = "fake-commerce-key"
DECIMAL_AMOUNT = re.compile(r"^\d{1,10}(\.\d{1,8})?$")


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return _timestamp(datetime.now(UTC))


def _error(status: int, kind: str, message: str) -> tuple[int, Any]:
    return status, {"error": {"type": kind, "message": message}}


class FakeCrypto(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.charges: dict[str, dict[str, Any]] = {}  # by code, in creation order

    def charges_for(self, attempt_key: str) -> list[dict[str, Any]]:
        """Every charge made for one attempt: more than one would be a double charge."""
        return [c for c in self.charges.values() if c["metadata"].get("attempt_key") == attempt_key]

    def reset(self) -> None:
        super().reset()
        self.charges.clear()

    def detect_payment(self, code: str) -> None:
        """The payment is seen on chain but not yet final."""
        self._happen(code, "PENDING")

    def confirm(self, code: str) -> None:
        self._happen(code, "PENDING")
        self._happen(code, "COMPLETED")

    def expire(self, code: str) -> None:
        self._happen(code, "EXPIRED")

    def cancel(self, code: str) -> None:
        self._happen(code, "CANCELED")

    def underpay(self, code: str) -> None:
        self._happen(code, "UNRESOLVED", context="UNDERPAID")

    def backdate(self, code: str, age: timedelta) -> None:
        self.charges[code]["created_at"] = _timestamp(datetime.now(UTC) - age)

    def _happen(self, code: str, status: str, context: str | None = None) -> None:
        entry = {"time": _now(), "status": status} | ({"context": context} if context else {})
        self.charges[code]["timeline"].append(entry)

    def error_body(self, status: int) -> Any:
        kind = "rate_limit_exceeded" if status == 429 else "internal_server_error"
        return _error(status, kind, "scripted failure")[1]

    def refuse(self, route: str, request: Request) -> Response | None:
        if request.headers.get("x-cc-api-key") != API_KEY:
            status, body = _error(401, "authorization_error", "No such API key")
        elif not request.headers.get("x-cc-version"):
            status, body = _error(400, "invalid_request", "X-CC-Version missing")
        else:
            return None
        return JSONResponse(body, status)

    def create_charge(self, request: Request, body: Any) -> tuple[int, Any]:
        price = body.get("local_price") or {}
        if body.get("pricing_type") != "fixed_price" or not _is_amount(price.get("amount")):
            return _error(400, "invalid_request", "local_price.amount must be a decimal string")
        code = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        charge: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "resource": "charge",
            "code": code,
            "name": body.get("name"),
            "description": body.get("description"),
            "pricing_type": "fixed_price",
            "local_price": price,
            "metadata": body.get("metadata") or {},
            "hosted_url": f"https://commerce.coinbase.com/charges/{code}",
            "created_at": _now(),
            "expires_at": _timestamp(datetime.now(UTC) + timedelta(hours=1)),
            "timeline": [{"time": _now(), "status": "NEW"}],
            "payments": [],
        }
        self.charges[code] = charge
        if charge["metadata"].get("payment_reference") == "sandbox_decline":
            self.cancel(code)
        return 201, {"data": charge}

    def show_charge(self, request: Request, body: Any) -> tuple[int, Any]:
        wanted = request.path_params["code"]
        for charge in self.charges.values():
            if wanted in (charge["code"], charge["id"]):
                return 200, {"data": charge}
        return _error(404, "not_found", "Not found")

    def list_charges(self, request: Request, body: Any) -> tuple[int, Any]:
        limit = min(int(request.query_params.get("limit", 25)), 100)
        newest_first = request.query_params.get("order", "desc") == "desc"
        ordered = sorted(
            enumerate(self.charges.values()),
            key=lambda pair: (pair[1]["created_at"], pair[0]),
            reverse=newest_first,
        )
        charges = [charge for _, charge in ordered]
        after = request.query_params.get("starting_after")
        if after:
            ids = [charge["id"] for charge in charges]
            charges = charges[ids.index(after) + 1 :] if after in ids else []
        page = charges[:limit]
        next_uri = None
        if len(charges) > limit:
            next_uri = f"{self.base_url}/charges?limit={limit}&starting_after={page[-1]['id']}"
        pagination = {
            "order": "desc" if newest_first else "asc",
            "starting_after": after,
            "ending_before": None,
            "total": len(self.charges),
            "yielded": len(page),
            "limit": limit,
            "previous_uri": None,
            "next_uri": next_uri,
        }
        return 200, {"pagination": pagination, "data": page}


def signed_webhook(charge: dict[str, Any], event_type: str, secret: str) -> tuple[bytes, str]:
    """A webhook delivery as the API sends it: the raw body and its X-CC-Webhook-Signature."""
    event = {
        "id": str(uuid.uuid4()),
        "scheduled_for": _now(),
        "event": {
            "id": str(uuid.uuid4()),
            "resource": "event",
            "type": event_type,
            "api_version": "2018-03-22",
            "created_at": _now(),
            "data": charge,
        },
    }
    body = json.dumps(event).encode()
    return body, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _is_amount(value: Any) -> bool:
    return isinstance(value, str) and DECIMAL_AMOUNT.match(value) is not None


@contextlib.contextmanager
def fake_crypto_server() -> Iterator[FakeCrypto]:
    fake = FakeCrypto()
    routes = [
        ("/charges", "POST", "create_charge", fake.create_charge),
        ("/charges", "GET", "list_charges", fake.list_charges),
        ("/charges/{code}", "GET", "show_charge", fake.show_charge),
    ]
    app = Starlette(
        routes=[
            Route(path, fake.endpoint(name, action), methods=[method])
            for path, method, name, action in routes
        ]
    )
    with serve_in_thread(app, "fake-crypto") as port:
        fake.port = port
        yield fake
