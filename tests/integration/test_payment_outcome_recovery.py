"""A payment's outcome is written outside any transaction, its events kept on the payment
until the request puts them in the outbox: a process that dies in between loses nothing,
since reconciliation puts them there, and the key's answer is already stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from unittest import mock

import httpx
import pytest

from services.payment.app import PaymentService
from services.payment.settings import PaymentSettings
from shared.events.topics import PAYMENT_COMPLETED, PAYMENT_INITIATED
from tests.support.factories import campaign_id, payment_request
from tests.support.payment_service import (
    ROUNDS_RUN_BY_THE_TEST,
    WITHOUT_RISK_HOLDS,
    idempotency_key,
    payment_settings,
    raw_database,
)

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


class ProcessDiedError(Exception):
    """Where the process stopped: after the outcome write, before the outbox insert."""


@pytest.fixture(scope="module")
def settings(infra: TestInfrastructure) -> PaymentSettings:
    return payment_settings(
        infra,
        "outcome_recovery",
        **ROUNDS_RUN_BY_THE_TEST,
        **WITHOUT_RISK_HOLDS,
    )


async def outbox_topics(settings: PaymentSettings, campaign: str) -> list[str]:
    async with raw_database(settings) as db:
        rows = await db["outbox"].find({"key": campaign}).sort("_id", 1).to_list()
    return [row["topic"] for row in rows]


async def test_events_of_a_payment_whose_process_died_after_its_outcome_are_published(
    api: httpx.AsyncClient, payment: PaymentService, settings: PaymentSettings
) -> None:
    campaign, key = campaign_id(), idempotency_key()
    body = payment_request(campaign)
    died = mock.patch("services.payment.changes.insert_outbox_rows", side_effect=ProcessDiedError())
    with died:
        unanswered = await api.post("/v1/payments", json=body, headers=key)
    assert unanswered.status_code == 500, unanswered.text
    assert await outbox_topics(settings, campaign) == []

    await payment.reconciler.run_once(datetime.now(UTC) + timedelta(seconds=1))

    assert await outbox_topics(settings, campaign) == [PAYMENT_INITIATED, PAYMENT_COMPLETED]
    retried = await api.post("/v1/payments", json=body, headers=key)
    assert retried.status_code == 201, retried.text
    assert retried.headers.get("idempotent-replayed") == "true"
    assert retried.json()["status"] == "completed"


async def test_a_second_round_inserts_no_event_twice(
    api: httpx.AsyncClient, payment: PaymentService, settings: PaymentSettings
) -> None:
    campaign = campaign_id()
    response = await api.post(
        "/v1/payments", json=payment_request(campaign), headers=idempotency_key()
    )
    assert response.status_code == 201, response.text

    for _ in range(2):
        await payment.reconciler.run_once(datetime.now(UTC) + timedelta(seconds=1))

    assert await outbox_topics(settings, campaign) == [PAYMENT_INITIATED, PAYMENT_COMPLETED]
