"""A local server that plays PayPal's REST API: OAuth2, Orders v2, refunds, webhook checks.

It keeps PayPal's rules that the adapter depends on: a POST repeating a
``PayPal-Request-Id`` gets the latest state of what the first one made (an order) or the
same reply (a capture, a refund), never a second one; tokens expire and can be revoked;
amounts must be decimal strings. The billing agreement decides the capture, as sandbox
tokens do: ``sandbox_decline`` is refused (422 INSTRUMENT_DECLINED),
``sandbox_capture_declined`` gives a DECLINED capture, ``sandbox_pending`` a PENDING one,
and anything else is captured.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.fake_api import FakeApi, serve_in_thread

CLIENT_ID = "fake-paypal-client"
CLIENT_SECRET = "fake-paypal-secret"
CAPTURE_STATUS_BY_TOKEN = {"sandbox_capture_declined": "DECLINED", "sandbox_pending": "PENDING"}
DECIMAL_VALUE = re.compile(r"^\d{1,10}(\.\d{2})?$")
WEBHOOK_HEADER_OF = {
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "cert_url": "PAYPAL-CERT-URL",
    "auth_algo": "PAYPAL-AUTH-ALGO",
}


def _id() -> str:
    return secrets.token_hex(9).upper()[:17]


def _error(status: int, name: str, issue: str | None = None) -> tuple[int, Any]:
    details = [{"issue": issue, "description": f"fake PayPal: {issue}"}] if issue else []
    return status, {"name": name, "message": name, "debug_id": _id(), "details": details}


class FakePayPal(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.token_lifetime_seconds = 32400
        self.orders: dict[str, dict[str, Any]] = {}
        self._live_tokens: set[str] = set()
        self._order_by_request: dict[str, str] = {}
        self._replies: dict[tuple[str, str], tuple[int, Any]] = {}
        self._refunded: dict[str, Decimal] = {}
        self.refunds: list[dict[str, Any]] = []  # every refund made, as PayPal's ledger has it
        self._signed_webhooks: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        super().reset()
        self.token_lifetime_seconds = 32400
        for state in (
            self.orders,
            self._live_tokens,
            self._order_by_request,
            self._replies,
            self._refunded,
            self.refunds,
            self._signed_webhooks,
        ):
            state.clear()

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on, as after a credential rotation."""
        self._live_tokens.clear()

    def orders_for(self, attempt_key: str) -> list[dict[str, Any]]:
        """Orders made for one attempt (its key is the invoice id): one at most, if all is well."""
        return [
            order
            for order in self.orders.values()
            if order["purchase_units"][0].get("invoice_id") == attempt_key
        ]

    def captures(self) -> list[dict[str, Any]]:
        return [
            capture
            for order in self.orders.values()
            for capture in order["purchase_units"][0].get("payments", {}).get("captures", [])
        ]

    def sign_webhook(self, event: Any, webhook_id: str) -> dict[str, str]:
        """The transmission headers PayPal would send with ``event`` to ``webhook_id``."""
        headers = {
            "PAYPAL-TRANSMISSION-ID": _id(),
            "PAYPAL-TRANSMISSION-TIME": datetime.now(UTC).isoformat(),
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(secrets.token_bytes(32)).decode(),
            "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-fake",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }
        signed = {field: headers[header] for field, header in WEBHOOK_HEADER_OF.items()}
        signed |= {"webhook_id": webhook_id, "webhook_event": copy.deepcopy(event)}
        self._signed_webhooks[headers["PAYPAL-TRANSMISSION-SIG"]] = signed
        return headers

    def error_body(self, status: int) -> Any:
        name = "RATE_LIMIT_REACHED" if status == 429 else "INTERNAL_SERVICE_ERROR"
        return _error(status, name)[1]

    def refuse(self, route: str, request: Request) -> Response | None:
        if route == "token":
            return None
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self._live_tokens:
            return None
        return JSONResponse({"error": "invalid_token", "error_description": "expired"}, 401)

    def issue_token(self, request: Request, body: Any) -> tuple[int, Any]:
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return 401, {
                "error": "invalid_client",
                "error_description": "Client Authentication failed",
            }
        if (body or {}).get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        token = f"A21AA{secrets.token_urlsafe(24)}"
        self._live_tokens.add(token)
        return 200, {
            "scope": "https://uri.paypal.com/services/payments/payment",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-FAKE",
            "expires_in": self.token_lifetime_seconds,
            "nonce": _id(),
        }

    def create_order(self, request: Request, body: Any) -> tuple[int, Any]:
        request_id = request.headers.get("paypal-request-id")
        if request_id in self._order_by_request:
            return 200, self.orders[self._order_by_request[request_id]]
        units = body.get("purchase_units") or [{}]
        amount = units[0].get("amount") or {}
        if body.get("intent") != "CAPTURE" or not _is_decimal_string(amount.get("value")):
            return _error(400, "INVALID_REQUEST", "INVALID_PARAMETER_SYNTAX")
        order: dict[str, Any] = {
            "id": _id(),
            "intent": "CAPTURE",
            "status": "CREATED",
            "purchase_units": units,
        }
        self.orders[order["id"]] = order
        if request_id:
            self._order_by_request[request_id] = order["id"]
        return 201, order

    def show_order(self, request: Request, body: Any) -> tuple[int, Any]:
        order = self.orders.get(request.path_params["order_id"])
        return (200, order) if order else _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")

    def capture(self, request: Request, body: Any) -> tuple[int, Any]:
        return self._once("capture", request, lambda: self._capture(request, body))

    def _capture(self, request: Request, body: Any) -> tuple[int, Any]:
        order = self.orders.get(request.path_params["order_id"])
        if order is None:
            return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
        if order["status"] == "COMPLETED":
            return _error(422, "UNPROCESSABLE_ENTITY", "ORDER_ALREADY_CAPTURED")
        token: dict[str, Any] = ((body or {}).get("payment_source") or {}).get("token") or {}
        if token.get("type") != "BILLING_AGREEMENT":
            return _error(422, "UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED")
        if token.get("id") == "sandbox_decline":
            return _error(422, "UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED")
        unit = order["purchase_units"][0]
        capture: dict[str, Any] = {
            "id": _id(),
            "status": CAPTURE_STATUS_BY_TOKEN.get(str(token.get("id")), "COMPLETED"),
            "amount": unit["amount"],
            "invoice_id": unit.get("invoice_id"),
            "custom_id": unit.get("custom_id"),
            "final_capture": True,
        }
        if capture["status"] == "PENDING":
            capture["status_details"] = {"reason": "PENDING_REVIEW"}
        unit["payments"] = {"captures": [capture]}
        order["status"] = "COMPLETED"
        return 201, copy.deepcopy(order)

    def refund(self, request: Request, body: Any) -> tuple[int, Any]:
        return self._once("refund", request, lambda: self._refund(request, body))

    def _refund(self, request: Request, body: Any) -> tuple[int, Any]:
        found = [c for c in self.captures() if c["id"] == request.path_params["capture_id"]]
        if not found:
            return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
        capture, value = found[0], ((body or {}).get("amount") or {}).get("value")
        if not isinstance(value, str) or not _is_decimal_string(value):
            return _error(400, "INVALID_REQUEST", "INVALID_PARAMETER_SYNTAX")
        refunded = self._refunded.get(capture["id"], Decimal(0)) + Decimal(value)
        captured = Decimal(capture["amount"]["value"])
        if refunded > captured:
            return _error(422, "UNPROCESSABLE_ENTITY", "REFUND_AMOUNT_EXCEEDED")
        self._refunded[capture["id"]] = refunded
        capture["status"] = "REFUNDED" if refunded == captured else "PARTIALLY_REFUNDED"
        made = {"id": _id(), "status": "COMPLETED", "amount": body["amount"]}
        request_id = request.headers.get("paypal-request-id")
        self.refunds.append(made | {"capture_id": capture["id"], "request_id": request_id})
        return 201, made

    def verify_webhook(self, request: Request, body: Any) -> tuple[int, Any]:
        signed = self._signed_webhooks.get(body.get("transmission_sig", ""))
        genuine = signed is not None and all(body.get(f) == signed[f] for f in signed)
        return 200, {"verification_status": "SUCCESS" if genuine else "FAILURE"}

    def _once(
        self, route: str, request: Request, act: Callable[[], tuple[int, Any]]
    ) -> tuple[int, Any]:
        """PayPal's idempotency for captures and refunds: a repeated request id gets the
        first reply again and changes nothing."""
        request_id = request.headers.get("paypal-request-id")
        if request_id and (route, request_id) in self._replies:
            return self._replies[(route, request_id)]
        reply: tuple[int, Any] = act()
        if request_id:
            self._replies[(route, request_id)] = reply
        return reply


def _is_decimal_string(value: Any) -> bool:
    return isinstance(value, str) and DECIMAL_VALUE.match(value) is not None


@contextlib.contextmanager
def fake_paypal_server() -> Iterator[FakePayPal]:
    fake = FakePayPal()
    routes = [
        ("/v1/oauth2/token", "POST", "token", fake.issue_token),
        ("/v2/checkout/orders", "POST", "create_order", fake.create_order),
        ("/v2/checkout/orders/{order_id}", "GET", "show_order", fake.show_order),
        ("/v2/checkout/orders/{order_id}/capture", "POST", "capture", fake.capture),
        ("/v2/payments/captures/{capture_id}/refund", "POST", "refund", fake.refund),
        (
            "/v1/notifications/verify-webhook-signature",
            "POST",
            "verify_webhook",
            fake.verify_webhook,
        ),
    ]
    app = Starlette(
        routes=[
            Route(path, fake.endpoint(name, action), methods=[method])
            for path, method, name, action in routes
        ]
    )
    with serve_in_thread(app, "fake-paypal") as port:
        fake.port = port
        yield fake
