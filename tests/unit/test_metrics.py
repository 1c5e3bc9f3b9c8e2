"""Consumer lag as sampled at scrape time (per assigned partition, gone once the partition
moves to another replica), and the status each payment event is counted under."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from services.payment.metrics import status_reached
from shared.events.payments import (
    PaymentCompleted,
    PaymentFailed,
    PaymentInitiated,
    PaymentRefunded,
    PaymentReviewRequired,
    PaymentStatus,
)
from shared.metrics import ConsumerLag
from tests.support.factories import (
    payment_completed,
    payment_failed,
    payment_initiated,
    payment_refunded,
    payment_review_required,
)

TOPIC = "lag.sampling"


@dataclass
class FakeConsumer:
    """What the sampler reads of an ``AIOKafkaConsumer``: its assignment and offsets."""

    highwaters: dict[TopicPartition, int | None]
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    def assignment(self) -> set[TopicPartition]:
        return set(self.highwaters)

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.highwaters[partition]

    async def position(self, partition: TopicPartition) -> int:
        return self.positions[partition]


@dataclass
class FakeSubscriber:
    consumer: FakeConsumer | None


@dataclass
class FakeBroker:
    subscribers: list[FakeSubscriber]


def lag(partition: int) -> float | None:
    labels = {"service": "sampling", "topic": TOPIC, "partition": str(partition)}
    return REGISTRY.get_sample_value("campaign_consumer_lag_messages", labels)


async def test_lag_is_highwater_minus_position_and_forgotten_once_the_partition_moves() -> None:
    first, second = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    consumer = FakeConsumer({first: 10, second: 7}, {first: 4, second: 7})
    broker: Any = FakeBroker([FakeSubscriber(consumer), FakeSubscriber(None)])
    sample = ConsumerLag("sampling", broker)

    await sample()
    assert (lag(0), lag(1)) == (6, 0)

    consumer.highwaters = {first: 12}  # partition 1 went to another replica
    await sample()
    assert (lag(0), lag(1)) == (8, None)


async def test_a_partition_not_fetched_yet_has_no_lag_rather_than_a_wrong_one() -> None:
    partition = TopicPartition(TOPIC, 2)
    broker: Any = FakeBroker([FakeSubscriber(FakeConsumer({partition: None}))])
    await ConsumerLag("sampling", broker)()
    assert lag(2) is None


def test_each_payment_event_names_the_status_it_counts_for() -> None:
    completed = payment_completed()
    assert [
        status_reached(PaymentInitiated.model_validate(payment_initiated())),
        status_reached(PaymentReviewRequired.model_validate(payment_review_required())),
        status_reached(PaymentCompleted.model_validate(completed)),
        status_reached(PaymentFailed.model_validate(payment_failed())),
        status_reached(PaymentRefunded.model_validate(payment_refunded(completed, "49.99"))),
        status_reached(PaymentRefunded.model_validate(payment_refunded(completed, "149.99"))),
    ] == [
        PaymentStatus.PENDING,
        PaymentStatus.REVIEW,
        PaymentStatus.COMPLETED,
        PaymentStatus.FAILED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    ]
