"""The payment events are thin: what the payment service keeps about a payment (its
attempts, history, revision, flags, risk signals, the request's address and agent, the
processor token) never becomes part of a public contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from services.payment.domain.payment import Payment
from services.payment.storage.transaction import TOPICS
from shared.events.payments import PaymentEvent

INTERNAL = frozenset(
    {
        "attempts",
        "status_history",
        "revision",
        "flags",
        "metadata",
        "risk_reasons",
        "ip_address",
        "user_agent",
        "payment_token",
        "refunds",
        "processor_fees",
    }
)


def property_names(schema: dict[str, Any]) -> Iterator[str]:
    """Every property name anywhere in a JSON schema, definitions included."""
    for name, value in schema.get("properties", {}).items():
        yield name
        if isinstance(value, dict):
            yield from property_names(value)
    for definition in schema.get("$defs", {}).values():
        yield from property_names(definition)


@pytest.mark.parametrize(
    "event", sorted(TOPICS, key=lambda e: e.__name__), ids=lambda e: e.__name__
)
def test_no_payment_event_carries_what_the_service_keeps_to_itself(
    event: type[PaymentEvent],
) -> None:
    fields = set(property_names(event.model_json_schema()))

    assert not fields & INTERNAL, f"{event.__name__} publishes {sorted(fields & INTERNAL)}"


def test_every_payment_event_is_published_on_its_topic_and_is_not_the_stored_record() -> None:
    assert {topic for topic in TOPICS.values()} == {
        "payment.initiated",
        "payment.review_required",
        "payment.completed",
        "payment.failed",
        "payment.refunded",
    }
    assert all(not issubclass(event, Payment) for event in TOPICS)
    assert all(issubclass(event, PaymentEvent) and issubclass(event, BaseModel) for event in TOPICS)
