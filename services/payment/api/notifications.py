"""Processor notifications: which payment a verified webhook event is about, and settling
it once per event.

A notification is only a hint about which payment to look at: the payment's undecided
charge and pending refunds are settled from the processor's current state (``Settlement``),
never from the event, so a stale, repeated or out-of-order event changes nothing the
processor does not confirm, and a call still in flight is left to its owner. Events are
deduplicated by ``<processor>:<event id>`` and recorded once handled, so a delivery that
failed half way is handled again when the processor retries it; two copies handled at the
same moment are harmless, as each change is applied to the payment as it is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel

from services.payment.domain.payment import Payment
from services.payment.settlement import Settlement
from services.payment.storage.webhook_events import WebhookEvents
from shared.events.payments import PaymentStatus
from shared.logs import correlation_id
from shared.storage.mongo import stored_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    """A verified event, reduced to what finds the payment it is about."""

    processor: str
    event_id: str
    payment_id: str | None = None
    attempt_key: str | None = None
    reference: str | None = None  # the processor's id, as stored on the attempt


class WebhookReceipt(BaseModel):
    event_id: str
    result: Literal["processed", "duplicate", "ignored"]
    payment_id: str | None = None
    payment_status: PaymentStatus | None = None


class InvalidEventError(ValueError):
    """Not a verified event of the processor: answered 400, nothing stored."""


@dataclass(frozen=True)
class WebhookInbox:
    """Where verified events arrive: each settles the payment it names, once."""

    settlement: Settlement
    events: WebhookEvents

    async def receive(self, notification: Notification) -> WebhookReceipt:
        key = f"{notification.processor}:{notification.event_id}"
        if await self.events.seen(key):
            return WebhookReceipt(event_id=notification.event_id, result="duplicate")
        payment = await self._payment_of(notification)
        if payment is None or not self._settles(payment, notification.processor):
            receipt = WebhookReceipt(event_id=notification.event_id, result="ignored")
        else:
            correlation_id.set(payment.campaign_id)
            payment = await self.settlement.settle(
                payment,
                stored_now(),
                actor=f"webhook:{notification.processor}",
                wait=timedelta(0),
                resend=False,
            )
            receipt = WebhookReceipt(event_id=notification.event_id, result="processed")
        if payment is not None:
            receipt = receipt.model_copy(
                update={"payment_id": payment.id, "payment_status": payment.status}
            )
        await self.events.record(key, receipt.payment_id, stored_now())
        log.info(
            "%s webhook %s: %s, payment %s %s",
            notification.processor,
            notification.event_id,
            receipt.result,
            receipt.payment_id,
            receipt.payment_status,
        )
        return receipt

    async def _payment_of(self, notification: Notification) -> Payment | None:
        payments = self.settlement.payments
        payment_id = notification.payment_id or (notification.attempt_key or "").split(":")[0]
        if payment_id:
            return await payments.get(payment_id)
        if notification.reference:
            return await payments.by_processor_reference(notification.reference)
        return None

    @staticmethod
    def _settles(payment: Payment, processor: str) -> bool:
        """Only the processor of the payment's latest attempt speaks for it."""
        return bool(payment.attempts) and payment.processor == processor


def stripe_notification(event: Mapping[str, Any]) -> Notification:
    found = (event.get("data") or {}).get("object") or {}
    metadata = found.get("metadata") or {}
    is_intent = found.get("object") == "payment_intent"
    return Notification(
        "stripe",
        _event_id(event.get("id")),
        payment_id=metadata.get("payment_id"),
        attempt_key=metadata.get("attempt_key"),
        reference=found.get("id") if is_intent else found.get("payment_intent"),
    )


def paypal_notification(event: Mapping[str, Any]) -> Notification:
    resource = event.get("resource") or {}
    unit = (resource.get("purchase_units") or [{}])[0]  # an order, rather than a capture
    return Notification(
        "paypal",
        _event_id(event.get("id")),
        payment_id=resource.get("custom_id") or unit.get("custom_id"),
        attempt_key=resource.get("invoice_id") or unit.get("invoice_id"),
        reference=resource.get("id"),
    )


def crypto_notification(delivery: Mapping[str, Any]) -> Notification:
    event = delivery.get("event") or {}
    charge = event.get("data") or {}
    metadata = charge.get("metadata") or {}
    return Notification(
        "crypto",
        _event_id(event.get("id") or delivery.get("id")),
        payment_id=metadata.get("payment_id"),
        attempt_key=metadata.get("attempt_key"),
        reference=charge.get("code"),
    )


def _event_id(value: Any) -> str:
    if not isinstance(value, str | int) or not str(value):
        raise InvalidEventError("the event has no id")
    return str(value)


def parsed_event(raw_body: bytes) -> Mapping[str, Any]:
    try:
        event = json.loads(raw_body)
    except ValueError:
        raise InvalidEventError("the body is not JSON") from None
    if not isinstance(event, dict):
        raise InvalidEventError("the body is not a JSON object")
    return event
