"""Delivery guarantees from shared/, pinned against the real broker and database."""

from __future__ import annotations

import asyncio

import pytest

from shared.events.topics import CUSTOMER_UPSERTED, dead_letter_topic
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import OUTBOX, Transaction
from tests.support.kafka import cloud_event
from tests.support.probe_service import Probe, ProbeLedger, ProbeSettings, probe_service
from tests.support.services import running, settings_for


@pytest.fixture
def flaky_settings(infra):
    return settings_for(ProbeSettings, infra, handler_max_attempts=3)


async def test_failing_handler_is_retried_then_dead_lettered_and_later_messages_flow(
    infra, publisher, events, flaky_settings
):
    ledger = ProbeLedger()
    poison = cloud_event(CUSTOMER_UPSERTED, {"name": "poison", "fail_times": 99}, subject="k1")
    recovers = cloud_event(CUSTOMER_UPSERTED, {"name": "recovers", "fail_times": 2}, subject="k1")
    healthy = cloud_event(CUSTOMER_UPSERTED, {"name": "healthy"}, subject="k1")
    async with running(lambda s: probe_service(s, ledger), flaky_settings):
        for event in (poison, recovers, healthy):
            await publisher.send(CUSTOMER_UPSERTED, event, key="k1")
        [letter] = await events.wait_for(
            dead_letter_topic(CUSTOMER_UPSERTED), lambda e: poison["id"] in e.get("original", "")
        )
        for _ in range(200):
            if "healthy" in ledger.done:
                break
            await asyncio.sleep(0.1)
    assert ledger.attempts["poison"] == 3
    assert letter["attempts"] == 3
    assert letter["error"]["message"] == "simulated failure 3"
    assert letter["consumer_group"] == f"flaky.{CUSTOMER_UPSERTED}"
    assert ledger.attempts["recovers"] == 3
    assert ledger.done == ["recovers", "healthy"]


async def test_processed_offsets_are_committed_so_a_restart_reads_nothing_twice(
    infra, publisher, flaky_settings
):
    ledger = ProbeLedger()
    first = cloud_event(CUSTOMER_UPSERTED, {"name": "first-run"}, subject="k2")
    second = cloud_event(CUSTOMER_UPSERTED, {"name": "second-run"}, subject="k2")
    async with running(lambda s: probe_service(s, ledger), flaky_settings):
        await publisher.send(CUSTOMER_UPSERTED, first, key="k2")
        for _ in range(200):
            if "first-run" in ledger.done:
                break
            await asyncio.sleep(0.1)
    async with running(lambda s: probe_service(s, ledger), flaky_settings):
        await publisher.send(CUSTOMER_UPSERTED, second, key="k2")
        for _ in range(200):
            if "second-run" in ledger.done:
                break
            await asyncio.sleep(0.1)
    assert ledger.attempts["first-run"] == 1
    assert ledger.attempts["second-run"] == 1


async def test_redelivered_event_changes_nothing_and_emits_nothing(infra, flaky_settings):
    infra_ = Infrastructure.build("dedup", flaky_settings)
    await infra_.uow.ensure_indexes()
    counter = infra_.db["counters"]

    async def work(tx: Transaction) -> None:
        await counter.update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True, session=tx.session)
        await tx.emit(CUSTOMER_UPSERTED, Probe(name="x"), key="c")

    assert await infra_.uow.consume("event-1", work) is True
    assert await infra_.uow.consume("event-1", work) is False
    assert (await counter.find_one({"_id": "c"}))["n"] == 1
    assert await infra_.db[OUTBOX].count_documents({}) == 1
    await infra_.mongo.close()


async def test_aborted_transaction_leaves_no_state_and_no_outbox_row(infra, flaky_settings):
    infra_ = Infrastructure.build("abort", flaky_settings)
    await infra_.uow.ensure_indexes()

    async def work(tx: Transaction) -> None:
        await tx.db["things"].insert_one({"_id": "t"}, session=tx.session)
        await tx.emit(CUSTOMER_UPSERTED, Probe(name="never"), key="t")
        raise RuntimeError("handler bug after the writes")

    with pytest.raises(RuntimeError):
        await infra_.uow.consume("event-2", work)
    assert await infra_.db["things"].count_documents({}) == 0
    assert await infra_.db[OUTBOX].count_documents({}) == 0
    assert await infra_.uow.consume("event-2", lambda tx: asyncio.sleep(0)) is True
    await infra_.mongo.close()
