"""Processor webhooks: ``POST /v1/webhooks/stripe``, ``/paypal`` and ``/crypto``.

The processors authenticate with their signatures, not the API key: Stripe's
``Stripe-Signature`` (300 seconds' tolerance, checked by the SDK), PayPal's own check of
the transmission, and an HMAC-SHA256 of the raw body for crypto. What a verified event
does is in ``notifications``: it names a payment, which is settled from the processor.

Answers: 200 once handled, for a repeat of a handled event, and for an event about no
payment of ours, so the processor stops sending it; 400 when the signature does not
verify, with nothing stored; 503 when this deployment has no webhook secret for the
processor, or PayPal cannot verify now. 503 rather than 404, because processors deliver
again after any non-2xx answer for days: events sent before the secret is configured are
not lost, and reconciliation settles the payments meanwhile. Neither bodies nor
signatures are logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.payment.api.errors import ErrorBody, error_response
from services.payment.api.notifications import (
    InvalidEventError,
    WebhookInbox,
    WebhookReceipt,
    crypto_notification,
    parsed_event,
    paypal_notification,
    stripe_notification,
)
from services.payment.processors import ProcessorError
from services.payment.processors.crypto import verify_crypto_webhook
from services.payment.processors.paypal import PayPalProcessor, verify_paypal_webhook
from services.payment.processors.stripe import WebhookVerificationError, verify_stripe_webhook

log = logging.getLogger(__name__)

# Stripe and PayPal deliver an event again for up to three days; a week outlasts both.
WEBHOOK_EVENTS_KEPT = timedelta(days=7)
STRIPE_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class WebhookSecrets:
    """What verifies each processor's webhooks; None where this deployment has none."""

    stripe_secret: str | None = None
    paypal_webhook_id: str | None = None
    paypal: PayPalProcessor | None = None  # PayPal verifies its own signatures
    crypto_secret: str | None = None


def _not_configured(processor: str, setting: str) -> JSONResponse:
    log.error("%s webhook refused: %s is not set", processor, setting)
    message = f"{processor} webhooks are not configured here; set {setting}"
    return error_response(503, "webhook_not_configured", message)


class SignatureError(InvalidEventError):
    """The signature does not prove that the processor sent this body."""


def _invalid(processor: str, error: ValueError) -> JSONResponse:
    log.warning("%s webhook refused: %s", processor, error)
    signed = isinstance(error, SignatureError | WebhookVerificationError)
    type_ = "invalid_signature" if signed else "invalid_event"
    return error_response(400, type_, f"{processor} webhook refused: {error}")


def webhook_router(inbox: WebhookInbox, secrets: WebhookSecrets) -> APIRouter:
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
    responses: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "The signature does not verify."},
        503: {"model": ErrorBody, "description": "Not configured here, or PayPal is down."},
    }

    @router.post("/stripe", response_model=WebhookReceipt, responses=responses)
    async def stripe_webhook(request: Request) -> WebhookReceipt | JSONResponse:
        """A Stripe event, signed with the endpoint's secret (``Stripe-Signature``)."""
        if secrets.stripe_secret is None:
            return _not_configured("stripe", "STRIPE_WEBHOOK_SECRET")
        signature = request.headers.get("stripe-signature", "")
        try:
            event = verify_stripe_webhook(
                await request.body(), signature, secrets.stripe_secret, STRIPE_TOLERANCE_SECONDS
            )
            notification = stripe_notification(event)
        except (WebhookVerificationError, InvalidEventError) as error:
            return _invalid("stripe", error)
        return await inbox.receive(notification)

    @router.post("/paypal", response_model=WebhookReceipt, responses=responses)
    async def paypal_webhook(request: Request) -> WebhookReceipt | JSONResponse:
        """A PayPal event, with the transmission headers PayPal verifies."""
        if secrets.paypal is None or secrets.paypal_webhook_id is None:
            settings = "PAYPAL_WEBHOOK_ID, PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET"
            return _not_configured("paypal", settings)
        raw_body = await request.body()
        try:
            verified = await verify_paypal_webhook(
                secrets.paypal, request.headers, raw_body, secrets.paypal_webhook_id
            )
        except ProcessorError as error:
            log.warning("paypal webhook: PayPal could not verify it now: %s", error.code)
            return error_response(503, "verification_unavailable", "PayPal did not answer")
        try:
            if not verified:
                raise SignatureError("PayPal did not confirm sending this event")
            notification = paypal_notification(parsed_event(raw_body))
        except InvalidEventError as error:
            return _invalid("paypal", error)
        return await inbox.receive(notification)

    @router.post("/crypto", response_model=WebhookReceipt, responses=responses)
    async def crypto_webhook(request: Request) -> WebhookReceipt | JSONResponse:
        """A crypto gateway event, with the HMAC-SHA256 of its body in X-CC-Webhook-Signature."""
        if secrets.crypto_secret is None:
            return _not_configured("crypto", "CRYPTO_WEBHOOK_SECRET")
        raw_body = await request.body()
        signature = request.headers.get("x-cc-webhook-signature", "")
        try:
            if not verify_crypto_webhook(raw_body, signature, secrets.crypto_secret):
                raise SignatureError("X-CC-Webhook-Signature does not match the body")
            notification = crypto_notification(parsed_event(raw_body))
        except InvalidEventError as error:
            return _invalid("crypto", error)
        return await inbox.receive(notification)

    return router
