"""PayPal through the Orders v2 REST API, charging a customer's PayPal billing agreement.

The payment token is the customer's billing agreement id (``B-...``). A charge follows
PayPal's documented billing-agreement flow, in two steps:

1. ``POST /v2/checkout/orders`` creates an order with no payment source, under
   ``PayPal-Request-Id: <idempotency key>``. Such an order cannot take money by itself,
   and PayPal voids it if it is never captured.
2. ``POST /v2/checkout/orders/{id}/capture`` pays it with
   ``payment_source.token = {"id": <billing agreement>, "type": "BILLING_AGREEMENT"}``,
   under ``PayPal-Request-Id: <idempotency key>:capture``.

Keeping the token off the order is what makes ``lookup`` safe. PayPal cannot search orders
by our reference, but a POST that repeats a ``PayPal-Request-Id`` is answered with the
latest state of what that request made. So ``lookup`` repeats step 1: an order PayPal
already holds comes back with its captures; if PayPal never saw the attempt, the repeat
makes an order no one can be charged for, ``lookup`` answers None, and a later ``charge``
under the same key reuses that order. PayPal keeps request ids for 6 hours (72 on request);
past that, the guard is the order's ``invoice_id`` (the attempt key): with the account's
"block accidental payments" setting on, PayPal refuses a second payment for one invoice id.

Only a capture can move money, so only a capture (or refund) left without an answer is
``OutcomeUnknownError``; any failure before it is ``ProcessorUnavailableError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from services.payment.processors import (
    Charge,
    ChargeOutcome,
    RefundOrder,
    RefundOutcome,
)
from services.payment.processors.http_calls import refusal
from services.payment.processors.paypal_session import PayPalSession
from shared.money import Money

SANDBOX_BASE_URL = "https://api-m.sandbox.paypal.com"
DEFAULT_REQUEST_ID_WINDOW = timedelta(hours=6)
# An order that exists but was never captured: the capture step is still to run.
CAPTURABLE_ORDER_STATUSES = frozenset({"CREATED", "SAVED", "APPROVED"})
# Captures that took the customer's money, whatever happened to it afterwards.
SETTLED_CAPTURE_STATUSES = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
# A refund PayPal accepted; PENDING ones complete without further action from us.
ACCEPTED_REFUND_STATUSES = frozenset({"COMPLETED", "PENDING"})
WEBHOOK_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}


class PayPalProcessor:
    """The ``paypal`` processor: see the module docstring for the charge flow."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        base_url: str = SANDBOX_BASE_URL,
        timeout_seconds: float = 10.0,
        request_id_window: timedelta = DEFAULT_REQUEST_ID_WINDOW,
    ) -> None:
        self.session = PayPalSession(client_id, client_secret, base_url, timeout_seconds)
        self._request_id_window = request_id_window

    @property
    def idempotency_window(self) -> timedelta:
        """PayPal keeps a ``PayPal-Request-Id`` for 6 hours (up to 72 on request)."""
        return self._request_id_window

    @property
    def name(self) -> str:
        return "paypal"

    async def close(self) -> None:
        await self.session.close()

    async def charge(self, charge: Charge) -> ChargeOutcome:
        response = await self._create_order(charge)
        if response.status_code == 422:
            return ChargeOutcome(None, _issue(response))
        order = _json(response, can_move_money=False)
        status = order["status"]
        if status == "COMPLETED":
            return _captured(order) or ChargeOutcome(order["id"], "no_capture")
        if status not in CAPTURABLE_ORDER_STATUSES:
            return ChargeOutcome(order["id"], status.lower())
        return await self._capture(order["id"], charge)

    async def lookup(self, charge: Charge) -> ChargeOutcome | None:
        response = await self._create_order(charge)
        if response.status_code == 422:
            return ChargeOutcome(None, _issue(response))
        return _captured(_json(response, can_move_money=False))

    async def lookup_refund(self, refund: RefundOrder) -> RefundOutcome | None:
        """PayPal cannot find a refund by our id, but a POST repeating its
        ``PayPal-Request-Id`` answers with the refund PayPal made, or makes it if PayPal
        never received the first: for a reserved refund, both are what is wanted. So this
        is safe only within ``idempotency_window``, which reconciliation respects."""
        return await self.refund(refund)

    async def refund(self, refund: RefundOrder) -> RefundOutcome:
        body: dict[str, Any] = {"amount": _amount(refund.amount), "custom_id": refund.payment_id}
        if refund.reason:
            body["note_to_payer"] = refund.reason[:255]
        response = await self.session.call(
            "POST",
            f"/v2/payments/captures/{refund.processor_transaction_id}/refund",
            body,
            request_id=refund.refund_id,
            can_move_money=True,
        )
        if response.status_code == 422:
            return RefundOutcome(None, _issue(response))
        made = _json(response, can_move_money=True)
        if made["status"] in ACCEPTED_REFUND_STATUSES:
            return RefundOutcome(made["id"])
        return RefundOutcome(made.get("id"), made["status"].lower())

    async def _create_order(self, charge: Charge) -> httpx.Response:
        campaign = charge.campaign_id or "none"
        unit = {
            "reference_id": campaign,
            "description": f"Campaign {campaign}"[:127],
            "custom_id": charge.payment_id,
            # PayPal refuses a second payment with the same invoice id: one more guard
            # against paying one attempt twice.
            "invoice_id": charge.idempotency_key,
            "amount": _amount(charge.amount),
        }
        body = {"intent": "CAPTURE", "purchase_units": [unit]}
        return await self.session.call(
            "POST",
            "/v2/checkout/orders",
            body,
            request_id=charge.idempotency_key,
            can_move_money=False,
        )

    async def _capture(self, order_id: str, charge: Charge) -> ChargeOutcome:
        source = {"token": {"id": charge.payment_token, "type": "BILLING_AGREEMENT"}}
        response = await self.session.call(
            "POST",
            f"/v2/checkout/orders/{order_id}/capture",
            {"payment_source": source},
            request_id=f"{charge.idempotency_key}:capture",
            can_move_money=True,
        )
        if response.status_code == 422 and _issue(response) == "order_already_captured":
            shown = await self.session.call("GET", f"/v2/checkout/orders/{order_id}")
            order = _json(shown, can_move_money=True)
        elif response.status_code == 422:
            return ChargeOutcome(order_id, _issue(response))
        else:
            order = _json(response, can_move_money=True)
        return _captured(order) or ChargeOutcome(order_id, order["status"].lower())


async def verify_paypal_webhook(
    paypal: PayPalProcessor, headers: Mapping[str, str], raw_body: bytes, webhook_id: str
) -> bool:
    """True only when PayPal confirms that it sent this event (``verification_status``
    SUCCESS) to the webhook ``webhook_id``.

    The event goes back to PayPal byte for byte as it arrived: PayPal signs a CRC of the
    raw body, and parsing then re-serialising it can change the bytes and fail a genuine
    event. Raises ``ProcessorError`` when PayPal cannot answer, so the caller can reply
    with an error and let PayPal deliver the event again.
    """
    received = {name.lower(): value for name, value in headers.items()}
    if any(not received.get(header) for header in WEBHOOK_HEADERS.values()):
        return False
    try:
        json.loads(raw_body)
    except ValueError:
        return False
    fields = {field: received[header] for field, header in WEBHOOK_HEADERS.items()}
    fields["webhook_id"] = webhook_id
    envelope = json.dumps(fields)[:-1].encode() + b', "webhook_event": ' + raw_body + b"}"
    response = await paypal.session.call(
        "POST", "/v1/notifications/verify-webhook-signature", raw_json=envelope
    )
    return _json(response, can_move_money=False).get("verification_status") == "SUCCESS"


def _amount(money: Money) -> dict[str, str]:
    return {"currency_code": money.currency, "value": format(money.amount, "f")}


def _json(response: httpx.Response, *, can_move_money: bool) -> dict[str, Any]:
    if not response.is_success:
        raise refusal("paypal", response, can_move_money=can_move_money)
    found: dict[str, Any] = response.json()
    return found


def _issue(response: httpx.Response) -> str:
    """PayPal's reason for a 422, e.g. ``instrument_declined``."""
    error = response.json()
    details = error.get("details") or [{}]
    return str(details[0].get("issue") or error.get("name") or "unprocessable_entity").lower()


def _captured(order: Mapping[str, Any]) -> ChargeOutcome | None:
    """The outcome of the order's capture; None while nothing was captured."""
    if order.get("status") != "COMPLETED":
        return None
    units = order.get("purchase_units") or [{}]
    captures = (units[0].get("payments") or {}).get("captures") or []
    if not captures:
        return None
    capture = captures[0]
    status = capture["status"]
    if status in SETTLED_CAPTURE_STATUSES:
        return ChargeOutcome(capture["id"])
    if status == "PENDING":
        return ChargeOutcome(capture["id"], pending=True)
    return ChargeOutcome(capture["id"], status.lower())
