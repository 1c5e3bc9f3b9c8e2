"""Stripe through the official SDK: one PaymentIntent per attempt, created and confirmed at once.

The attempt's idempotency key goes to Stripe as its ``Idempotency-Key`` and into the
intent's metadata as ``attempt_key``: Stripe replays its stored answer for a repeated key,
and ``lookup`` finds the intent by searching that metadata. Stripe's search is eventually
consistent (usually under a minute, up to an hour in an outage) and not offered to
merchants in India, so reconciliation should not ask right after a timeout, nor read
"not found" soon after as "never charged".

Webhooks (``POST /v1/webhooks/stripe``) are checked with ``verify_stripe_webhook``.
Neither the API key, the webhook secret nor card data ever reach a log.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import stripe

from services.payment.processors import (
    Charge,
    ChargeOutcome,
    ProcessorUnavailableError,
    RefundOrder,
    RefundOutcome,
)
from services.payment.processors.stripe_failures import (
    DeliveryTrackingClient,
    technical_error,
    tracked_delivery,
)
from shared.money import Money, minor_unit

log = logging.getLogger(__name__)

# Stripe keeps an idempotency key's answer for at least 24 hours.
STRIPE_IDEMPOTENCY_WINDOW = timedelta(hours=24)
# Intent states with no money taken and nothing more to wait for, as decline reasons.
_UNFINISHED = {"requires_action": "authentication_required", "canceled": "canceled"}


class WebhookVerificationError(ValueError):
    """The body is not a Stripe event signed with our webhook secret within the tolerance."""


def minor_units(money: Money) -> int:
    """Stripe's integer amount: cents for USD, yen for JPY (a zero-decimal currency)."""
    units = money.amount / minor_unit(money.currency)
    if units != units.to_integral_value():
        raise ValueError(f"{money} is not a whole number of minor units")
    return int(units)


def _decline_reason(code: str | None, decline_code: str | None) -> str:
    # Stripe's generic decline says no more than its error code; naming it ``card_declined``
    # keeps the reasons the same as the sandbox's.
    if decline_code and decline_code != "generic_decline":
        return decline_code
    return code or "declined"


def _outcome(intent: stripe.PaymentIntent) -> ChargeOutcome:
    if intent.status == "succeeded":
        return ChargeOutcome(intent.id)
    if intent.status in ("processing", "requires_capture"):
        return ChargeOutcome(intent.id, pending=True)
    if intent.status in _UNFINISHED:
        return ChargeOutcome(intent.id, _UNFINISHED[intent.status])
    failure = intent.last_payment_error
    if failure is None:
        return ChargeOutcome(intent.id, intent.status)
    return ChargeOutcome(intent.id, _decline_reason(failure.code, failure.decline_code))


def _card_declined(error: stripe.CardError) -> ChargeOutcome:
    details = error.error
    intent = getattr(details, "payment_intent", None)
    decline_code = getattr(details, "decline_code", None)
    return ChargeOutcome(intent.id if intent else None, _decline_reason(error.code, decline_code))


def _charge_metadata(charge: Charge) -> dict[str, str]:
    tags = {
        "payment_id": charge.payment_id,
        "attempt_key": charge.idempotency_key,
        "campaign_id": charge.campaign_id,
        "customer_id": charge.customer_id,
    }
    return {key: value for key, value in tags.items() if value}


def _refused_charge(charge: Charge, error: stripe.InvalidRequestError) -> ChargeOutcome:
    # An unknown or unusable payment method is the customer's instrument, not an outage.
    if error.param == "payment_method" or (error.code or "").startswith("payment_method"):
        return ChargeOutcome(None, "invalid_payment_method")
    log.error("Stripe refused the request for %s: %s", charge.payment_id, error.code)
    raise ProcessorUnavailableError(error.code or "invalid_request", "Stripe refused the request")


def _refund_outcome(made: stripe.Refund) -> RefundOutcome:
    if made.status in ("failed", "canceled"):
        return RefundOutcome(made.id, made.failure_reason or made.status)
    return RefundOutcome(made.id)


def _search_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class StripeProcessor:
    """The ``stripe`` processor. Declines are outcomes; see the port for what errors mean."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        timeout_seconds: float = 20.0,
        max_network_retries: int = 2,
    ) -> None:
        self._http = DeliveryTrackingClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url} if base_url else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    @property
    def name(self) -> str:
        return "stripe"

    async def charge(self, charge: Charge) -> ChargeOutcome:
        with tracked_delivery() as delivery:
            try:
                intent = await self._client.v1.payment_intents.create_async(
                    {
                        "amount": minor_units(charge.amount),
                        "currency": charge.amount.currency.lower(),
                        "payment_method": charge.payment_token,
                        "confirm": True,
                        # Confirmed server-side: no customer is present to follow a redirect.
                        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                        "metadata": _charge_metadata(charge),
                    },
                    {"idempotency_key": charge.idempotency_key},
                )
            except stripe.CardError as error:
                return _card_declined(error)
            except stripe.InvalidRequestError as error:
                return _refused_charge(charge, error)
            except stripe.StripeError as error:
                raise technical_error(error, delivery, can_move_money=True) from None
        return _outcome(intent)

    async def lookup(self, charge: Charge) -> ChargeOutcome | None:
        query = f"metadata['attempt_key']:{_search_literal(charge.idempotency_key)}"
        with tracked_delivery() as delivery:
            try:
                found = await self._client.v1.payment_intents.search_async({"query": query})
            except stripe.StripeError as error:
                raise technical_error(error, delivery, can_move_money=False) from None
        return _outcome(found.data[0]) if found.data else None

    @property
    def idempotency_window(self) -> timedelta:
        return STRIPE_IDEMPOTENCY_WINDOW

    async def refund(self, refund: RefundOrder) -> RefundOutcome:
        metadata = {"refund_id": refund.refund_id, "payment_id": refund.payment_id}
        if refund.reason:
            metadata["reason"] = refund.reason
        with tracked_delivery() as delivery:
            try:
                made = await self._client.v1.refunds.create_async(
                    {
                        "payment_intent": refund.processor_transaction_id,
                        "amount": minor_units(refund.amount),
                        "metadata": metadata,
                    },
                    {"idempotency_key": refund.refund_id},
                )
            except stripe.InvalidRequestError as error:
                # Stripe's own refusal (already refunded, more than was taken): a decision.
                return RefundOutcome(None, error.code or "invalid_request")
            except stripe.StripeError as error:
                raise technical_error(error, delivery, can_move_money=True) from None
        return _refund_outcome(made)

    async def lookup_refund(self, refund: RefundOrder) -> RefundOutcome | None:
        """Stripe has no search for refunds: the payment's refunds are listed (a payment
        has few) and matched on the ``refund_id`` in their metadata."""
        with tracked_delivery() as delivery:
            try:
                listed = await self._client.v1.refunds.list_async(
                    {"payment_intent": refund.processor_transaction_id, "limit": 100}
                )
            except stripe.StripeError as error:
                raise technical_error(error, delivery, can_move_money=False) from None
        for made in listed.data:
            tags: dict[str, str] = made.metadata.to_dict() if made.metadata else {}
            if tags.get("refund_id") == refund.refund_id:
                return _refund_outcome(made)
        return None

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]


def verify_stripe_webhook(
    payload: bytes, signature_header: str, secret: str, tolerance_seconds: int = 300
) -> dict[str, Any]:
    """The event Stripe sent, once its ``Stripe-Signature`` proves it came from Stripe,
    signed no more than ``tolerance_seconds`` ago (which stops replays of old events)."""
    try:
        event = stripe.Webhook.construct_event(
            payload, signature_header, secret, tolerance=tolerance_seconds
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookVerificationError(f"Stripe-Signature rejected: {error.user_message}") from None
    except ValueError:
        raise WebhookVerificationError("the webhook body is not a Stripe event") from None
    verified: dict[str, Any] = event.to_dict()
    return verified
