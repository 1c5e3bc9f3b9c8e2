"""The payment API over real HTTP, against the real broker and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from bson.decimal128 import Decimal128

from services.payment.domain.requests import CreatePayment
from services.payment.idempotency import request_hash
from services.payment.settings import PaymentSettings
from shared.events.topics import PAYMENT_COMPLETED, PAYMENT_FAILED, PAYMENT_INITIATED
from shared.settings import DEV_ONLY_PAYMENT_API_KEY
from tests.support.factories import campaign_id, payment_request, usd
from tests.support.kafka import Event, EventLog, for_campaign
from tests.support.payment_service import (
    RawDatabase,
    idempotency_key,
    payment_api,
    payment_settings,
    raw_database,
)

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure


@pytest.fixture(scope="module")
def settings(infra: TestInfrastructure) -> PaymentSettings:
    return payment_settings(infra, "api", payment_idempotency_wait_seconds=0.5)


@pytest.fixture(scope="module")
async def api(settings: PaymentSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with payment_api(settings) as client:
        yield client


@pytest.fixture(scope="module")
async def raw_db(settings: PaymentSettings) -> AsyncIterator[RawDatabase]:
    async with raw_database(settings) as db:
        yield db


async def kafka_key(bootstrap: str, event: Event) -> str:
    """The Kafka message key the event was published with."""
    consumer = AIOKafkaConsumer(
        event["type"], bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            async for record in consumer:
                if json.loads(record.value).get("id") == event["id"]:
                    return bytes(record.key).decode()
    finally:
        await consumer.stop()
    raise AssertionError(f"event {event['id']} not on {event['type']}")


async def test_card_payment_is_completed_with_stripe_fees_and_announced_keyed_by_campaign(
    api: httpx.AsyncClient, events: EventLog, infra: TestInfrastructure
) -> None:
    cid = campaign_id()
    response = await api.post("/v1/payments", json=payment_request(cid), headers=idempotency_key())

    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["id"].startswith("pay_")
    assert (payment["status"], payment["processor"]) == ("completed", "stripe")
    assert payment["processor_transaction_id"].startswith("stripe_")
    assert payment["amount"] == usd("149.99")
    assert (payment["fee"], payment["net"]) == (usd("4.65"), usd("145.34"))
    assert payment["campaign_id"] == cid
    assert payment["ip_address"] is None  # only GET returns it, decrypted
    assert 0 <= payment["risk"]["score"] <= 1
    fetched = (await api.get(f"/v1/payments/{payment['id']}")).json()
    assert fetched["ip_address"] == "127.0.0.1"
    assert fetched["user_agent"].startswith("python-httpx")

    [initiated] = await events.wait_for(PAYMENT_INITIATED, for_campaign(cid))
    [completed] = await events.wait_for(PAYMENT_COMPLETED, for_campaign(cid))
    assert initiated["data"]["payment_id"] == payment["id"]
    assert initiated["data"]["risk_level"] == "low"
    assert completed["data"] == {
        "payment_id": payment["id"],
        "campaign_id": cid,
        "customer_id": payment["customer_id"],
        "amount": usd("149.99"),
        "payment_method": "credit_card",
        "processor": "stripe",
        "click_id": payment["click_id"],
        "occurred_at": completed["data"]["occurred_at"],
        "processor_transaction_id": payment["processor_transaction_id"],
        "fee": usd("4.65"),
        "net": usd("145.34"),
    }
    for event in (initiated, completed):
        assert (event["correlationid"], event["subject"]) == (cid, cid)
        assert await kafka_key(infra.kafka, event) == cid


async def test_declined_card_answers_402_with_the_reason_and_emits_only_payment_failed(
    api: httpx.AsyncClient, events: EventLog
) -> None:
    cid = campaign_id()
    declined = payment_request(cid, payment_token="pm_card_chargeDeclined")
    response = await api.post("/v1/payments", json=declined, headers=idempotency_key())

    assert response.status_code == 402, response.text
    payment = response.json()
    assert (payment["status"], payment["failure_reason"]) == ("failed", "card_declined")
    assert (payment["fee"], payment["net"]) == (None, None)
    [failed] = await events.wait_for(PAYMENT_FAILED, for_campaign(cid))
    assert failed["data"]["payment_id"] == payment["id"]
    assert failed["data"]["failure_reason"] == "card_declined"
    # Same campaign, same partition: once a later payment's completion is seen, any
    # completion of the declined payment would have been seen before it.
    sentinel = await api.post("/v1/payments", json=payment_request(cid), headers=idempotency_key())
    [completed] = await events.wait_for(PAYMENT_COMPLETED, for_campaign(cid))
    assert completed["data"]["payment_id"] == sentinel.json()["id"]


@pytest.mark.parametrize(
    ("method", "token", "processor", "fee"),
    [
        ("credit_card", "pm_card_mastercard", "stripe", "4.65"),
        ("debit_card", "pm_card_visa_debit", "stripe", "4.65"),
        ("paypal", "paypal-sandbox-approval", "paypal", "5.72"),
        ("bitcoin", "bitcoin-sandbox-address", "crypto", "1.50"),
        ("ethereum", "ethereum-sandbox-address", "crypto", "1.50"),
    ],
)
async def test_each_payment_method_is_routed_to_its_processor(
    api: httpx.AsyncClient, method: str, token: str, processor: str, fee: str
) -> None:
    body = payment_request(payment_method=method, payment_token=token)
    response = await api.post("/v1/payments", json=body, headers=idempotency_key())

    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["processor"] == processor
    assert payment["processor_transaction_id"].startswith(f"{processor}_")
    assert payment["fee"] == usd(fee)


def _without(field: str) -> dict[str, Any]:
    body = payment_request()
    del body[field]
    return body


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        (_without("customer_id"), idempotency_key(), "customer_id"),
        (payment_request(amount=149.99), idempotency_key(), "amount.amount"),
        (payment_request(amount="149.999"), idempotency_key(), "amount"),
        (payment_request(amount="0"), idempotency_key(), "amount"),
        (payment_request(currency="XYZ"), idempotency_key(), "amount.currency"),
        (payment_request(payment_method="cash"), idempotency_key(), "payment_method"),
        (payment_request(), {}, "Idempotency-Key"),
        (payment_request(), {"Idempotency-Key": "k" * 256}, "Idempotency-Key"),
    ],
)
async def test_invalid_request_is_refused_naming_the_field_and_neither_stored_nor_emitted(
    api: httpx.AsyncClient,
    raw_db: RawDatabase,
    body: dict[str, Any],
    headers: dict[str, str],
    field: str,
) -> None:
    response = await api.post("/v1/payments", json=body, headers=headers)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert field in [e["field"] for e in error["errors"]]
    cid = body["campaign_id"]
    assert await raw_db["payments"].count_documents({"campaign_id": cid}) == 0
    assert await raw_db["outbox"].count_documents({"key": cid}) == 0


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", DEV_ONLY_PAYMENT_API_KEY])
async def test_request_without_the_api_key_is_refused_with_401(
    api: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=api.base_url, headers=headers) as client:
        post = await client.post("/v1/payments", json=payment_request(), headers=idempotency_key())
        get = await client.get("/v1/payments/pay_anything")

    for response in (post, get):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["type"] == "unauthorized"


async def test_retry_with_the_same_key_and_body_replays_the_answer_without_charging_again(
    api: httpx.AsyncClient, raw_db: RawDatabase
) -> None:
    cid = campaign_id()
    key = idempotency_key()
    body = payment_request(cid)
    first = await api.post("/v1/payments", json=body, headers=key)
    retry = await api.post("/v1/payments", json=body | {"amount": usd("149.990")}, headers=key)

    assert first.status_code == 201
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert await raw_db["payments"].count_documents({"campaign_id": cid}) == 1


async def test_declined_payment_retried_with_the_same_key_replays_402(
    api: httpx.AsyncClient, raw_db: RawDatabase
) -> None:
    cid = campaign_id()
    key = idempotency_key()
    body = payment_request(cid, payment_method="paypal", payment_token="sandbox_decline")
    first = await api.post("/v1/payments", json=body, headers=key)
    retry = await api.post("/v1/payments", json=body, headers=key)

    assert (first.status_code, retry.status_code) == (402, 402)
    assert retry.json() == first.json()
    assert await raw_db["payments"].count_documents({"campaign_id": cid}) == 1


async def test_same_key_with_a_different_body_is_a_409_conflict(
    api: httpx.AsyncClient, raw_db: RawDatabase
) -> None:
    cid = campaign_id()
    key = idempotency_key()
    body = payment_request(cid)
    await api.post("/v1/payments", json=body, headers=key)
    conflict = await api.post("/v1/payments", json=body | {"amount": usd("10.00")}, headers=key)

    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert error["type"] == "idempotency_key_reused"
    assert key["Idempotency-Key"] not in conflict.text
    assert await raw_db["payments"].count_documents({"campaign_id": cid}) == 1


async def test_same_key_while_the_first_request_is_in_flight_is_a_409_in_use(
    api: httpx.AsyncClient, raw_db: RawDatabase
) -> None:
    key = idempotency_key()
    body = payment_request()
    in_flight = {
        "_id": key["Idempotency-Key"],
        "request_hash": request_hash("POST /v1/payments", CreatePayment.model_validate(body)),
        "payment_id": "pay_in_flight",
        "status": "in_progress",
        "created_at": datetime.now(UTC),
    }
    await raw_db["idempotency_keys"].insert_one(in_flight)
    response = await api.post("/v1/payments", json=body, headers=key)

    assert response.status_code == 409
    assert response.json()["error"]["type"] == "idempotency_key_in_use"
    assert await raw_db["payments"].count_documents({"campaign_id": body["campaign_id"]}) == 0


async def test_stored_payment_is_returned_by_id_with_amounts_as_decimal128(
    api: httpx.AsyncClient, raw_db: RawDatabase
) -> None:
    created = await api.post("/v1/payments", json=payment_request(), headers=idempotency_key())
    payment = created.json()

    fetched = await api.get(f"/v1/payments/{payment['id']}")
    assert fetched.status_code == 200
    request_data = {"ip_address": "127.0.0.1", "user_agent": fetched.json()["user_agent"]}
    assert fetched.json() == payment | request_data
    stored = await raw_db["payments"].find_one({"_id": payment["id"]})
    assert stored is not None
    assert stored["id"] == payment["id"]
    assert stored["amount"] == Decimal128("149.99")
    fees = stored["metadata"]["processor_fees"]
    assert (fees["processor_fee"], fees["net_amount"]) == (Decimal128("4.65"), Decimal128("145.34"))


async def test_unknown_payment_id_is_a_404_not_repeating_it(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/payments/pay_does-not-exist")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no payment with this id"
    assert "pay_does-not-exist" not in response.text


async def test_service_is_ready_without_consumers_and_documents_its_api(
    api: httpx.AsyncClient,
) -> None:
    ready = await api.get("/health/ready")
    docs = await api.get("/docs")
    spec = (await api.get("/openapi.json")).json()

    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"mongodb": True, "kafka_partitions_assigned": True}
    assert docs.status_code == 200
    assert {"/v1/payments", "/v1/payments/{payment_id}"} <= spec["paths"].keys()
