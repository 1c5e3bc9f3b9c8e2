"""What a transaction's result does to its delivery, and which event says so.

- accepted: ``sent`` with its Message-ID, and ``engagement.sent``;
- refused for good (5xx): ``bounced``, the customer suppressed (``hard_bounce``), and
  ``engagement.bounced`` (hard);
- refused for now (4xx): ``deferred``, tried again after the shared backoff; the refusal
  that makes ``attempts`` tries is final: ``bounced`` and ``engagement.bounced`` (soft).
  A deferral publishes nothing: events say how a delivery ended, not each try;
- not handed over (the relay could not be reached): waiting again soon, the try not
  counted, since the relay never had the message;
- unknown: ``unknown``, never sent again, and no event: nobody knows whether it arrived.

Sent nothing after all (suppressed or opted out since targeting, no address, no content):
``skipped`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.launcher.domain.deliveries import Delivery, DeliveryStatus, SkipReason
from services.launcher.email.smtp import Outcome, SendResult
from services.launcher.storage.suppression import Suppression, SuppressionReason
from shared.events.common import Channel
from shared.events.engagement import MessageBounced, MessageSent
from shared.events.topics import ENGAGEMENT_BOUNCED, ENGAGEMENT_SENT
from shared.retry import Backoff
from shared.storage.unit_of_work import Emission

# Waits of up to 1, 2, 4 and 8 minutes between five tries: a receiving server's "try
# later" is mostly throttling, which eases within minutes.
DEFAULT_BACKOFF = Backoff(first=60.0, cap=3600.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How a delivery refused for now is tried again: ``attempts`` tries in all."""

    backoff: Backoff = DEFAULT_BACKOFF
    attempts: int = 5


@dataclass(frozen=True)
class Settled:
    outcome: Outcome
    delivery: Delivery
    emission: Emission | None = None
    suppression: Suppression | None = None


def claimed(delivery: Delivery, message_id: str, at: datetime) -> Delivery:
    """The delivery as its claim leaves it: ``sending``, one more try, its Message-ID."""
    return delivery.model_copy(
        update={
            "status": DeliveryStatus.SENDING,
            "attempts": delivery.attempts + 1,
            "message_id": message_id,
            "updated_at": at,
        }
    )


def settle(sending: Delivery, result: SendResult, at: datetime, retry: RetryPolicy) -> Settled:
    """``sending`` (as ``claimed`` left it) after ``result``."""
    change: dict[str, object] = {"last_reply": result.reply, "updated_at": at}
    match result.outcome:
        case Outcome.ACCEPTED:
            sent = _changed(sending, DeliveryStatus.SENT, change)
            event = Emission(ENGAGEMENT_SENT, _sent(sent, at), sent.campaign_id)
            return Settled(result.outcome, sent, event)
        case Outcome.HARD_BOUNCE:
            return _bounced(sending, "hard", result, at, change)
        case Outcome.SOFT_BOUNCE if sending.attempts >= retry.attempts:
            return _bounced(sending, "soft", result, at, change)
        case Outcome.SOFT_BOUNCE:
            later = at + timedelta(seconds=retry.backoff.delay(sending.attempts))
            deferred = _changed(sending, DeliveryStatus.DEFERRED, change, send_at=later)
            return Settled(result.outcome, deferred)
        case Outcome.NOT_HANDED_OVER:
            later = at + timedelta(seconds=retry.backoff.delay(1))
            untried = sending.attempts - 1
            waiting = _changed(
                sending, DeliveryStatus.DEFERRED, change, send_at=later, attempts=untried
            )
            return Settled(result.outcome, waiting)
        case Outcome.UNKNOWN:
            return Settled(result.outcome, _changed(sending, DeliveryStatus.UNKNOWN, change))


def skipped(delivery: Delivery, reason: SkipReason, at: datetime) -> Delivery:
    return delivery.model_copy(
        update={"status": DeliveryStatus.SKIPPED, "skip_reason": reason, "updated_at": at}
    )


def _bounced(
    sending: Delivery,
    kind: Literal["hard", "soft"],
    result: SendResult,
    at: datetime,
    change: dict[str, object],
) -> Settled:
    bounced = _changed(sending, DeliveryStatus.BOUNCED, change)
    event = MessageBounced(
        campaign_id=bounced.campaign_id,
        customer_id=bounced.customer_id,
        channel=Channel.EMAIL,
        kind=kind,
        reason=result.reply,
        at=at,
    )
    suppression = (
        Suppression(bounced.customer_id, SuppressionReason.HARD_BOUNCE, at, bounced.campaign_id)
        if kind == "hard"
        else None
    )
    emission = Emission(ENGAGEMENT_BOUNCED, event, bounced.campaign_id)
    return Settled(result.outcome, bounced, emission, suppression)


def _sent(sent: Delivery, at: datetime) -> MessageSent:
    return MessageSent(
        campaign_id=sent.campaign_id,
        segment_id=sent.segment_id,
        channel=Channel.EMAIL,
        variant_id=sent.variant_id or "",
        at=at,
        customer_id=sent.customer_id,
        message_id=sent.message_id or "",
    )


def _changed(
    delivery: Delivery, status: DeliveryStatus, change: dict[str, object], **more: object
) -> Delivery:
    return delivery.model_copy(update={"status": status, **change, **more})
