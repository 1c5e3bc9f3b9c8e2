"""What each SMTP transaction's result does to its delivery, and which event says so."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.launcher.domain.deliveries import Delivery, DeliveryStatus
from services.launcher.email.outcomes import RetryPolicy, claimed, settle
from services.launcher.email.smtp import Outcome, SendResult
from services.launcher.storage.suppression import SuppressionReason
from shared.events.engagement import MessageBounced, MessageSent
from shared.events.topics import ENGAGEMENT_BOUNCED, ENGAGEMENT_SENT
from shared.retry import Backoff
from tests.support.email_launch import scheduled

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RETRY = RetryPolicy(backoff=Backoff(first=60, cap=3600), attempts=3)


def sending(tries_before: int = 0) -> Delivery:
    waiting = scheduled("spring", "customer-1", NOW).model_copy(update={"attempts": tries_before})
    return claimed(waiting, "<m1@shop.example.com>", NOW)


def test_an_accepted_message_is_sent_and_published_with_its_message_id() -> None:
    done = settle(sending(), SendResult(Outcome.ACCEPTED, "250 OK queued"), NOW, RETRY)
    assert done.delivery.status is DeliveryStatus.SENT
    assert done.delivery.attempts == 1
    assert done.delivery.last_reply == "250 OK queued"
    assert done.emission is not None
    assert done.emission.topic == ENGAGEMENT_SENT
    assert isinstance(done.emission.data, MessageSent)
    assert done.emission.data.message_id == "<m1@shop.example.com>"
    assert done.suppression is None


def test_a_refusal_for_good_bounces_suppresses_and_publishes_a_hard_bounce() -> None:
    done = settle(sending(), SendResult(Outcome.HARD_BOUNCE, "550 5.1.1 no such user"), NOW, RETRY)
    assert done.delivery.status is DeliveryStatus.BOUNCED
    assert done.emission is not None
    assert done.emission.topic == ENGAGEMENT_BOUNCED
    assert isinstance(done.emission.data, MessageBounced)
    assert (done.emission.data.kind, done.emission.data.reason[:3]) == ("hard", "550")
    assert done.suppression is not None
    assert done.suppression.reason is SuppressionReason.HARD_BOUNCE


def test_a_refusal_for_now_is_deferred_within_the_backoff_and_publishes_nothing() -> None:
    done = settle(sending(), SendResult(Outcome.SOFT_BOUNCE, "451 busy"), NOW, RETRY)
    assert done.delivery.status is DeliveryStatus.DEFERRED
    assert done.delivery.send_at is not None
    assert done.delivery.send_at >= NOW
    assert (done.delivery.send_at - NOW).total_seconds() <= 60
    assert (done.emission, done.suppression) == (None, None)


def test_the_last_refusal_for_now_is_final_a_soft_bounce_without_suppression() -> None:
    done = settle(sending(tries_before=2), SendResult(Outcome.SOFT_BOUNCE, "451 busy"), NOW, RETRY)
    assert done.delivery.status is DeliveryStatus.BOUNCED
    assert done.emission is not None
    assert isinstance(done.emission.data, MessageBounced)
    assert done.emission.data.kind == "soft"
    assert done.suppression is None


def test_a_message_the_relay_never_had_waits_again_without_counting_a_try() -> None:
    done = settle(
        sending(tries_before=1), SendResult(Outcome.NOT_HANDED_OVER, "refused"), NOW, RETRY
    )
    assert done.delivery.status is DeliveryStatus.DEFERRED
    assert done.delivery.attempts == 1
    assert (done.emission, done.suppression) == (None, None)


@pytest.mark.parametrize("tries_before", [0, 4])
def test_a_transaction_cut_off_mid_data_is_unknown_and_publishes_nothing(tries_before: int) -> None:
    result = SendResult(Outcome.UNKNOWN, "SMTPServerDisconnected")
    done = settle(sending(tries_before), result, NOW, RETRY)
    assert done.delivery.status is DeliveryStatus.UNKNOWN
    assert (done.emission, done.suppression) == (None, None)
