"""Payment events into analytics in batches: one revenue.recorded per payment, in the order
the payments were read, whatever the redeliveries; a poison event dead-lettered alone.

Events are published before analytics starts, so that its first fetch reads them in one
batch; what is asserted holds whatever the batches.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from pymongo import monitoring

from services.analytics.app import build
from services.analytics.settings import AnalyticsSettings
from shared.events.topics import (
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    REVENUE_RECORDED,
    dead_letter_topic,
)
from shared.runtime import Service
from shared.storage.unit_of_work import PROCESSED_EVENTS, processed_event_key
from tests.support.factories import campaign_id, money, payment_completed, payment_failed
from tests.support.kafka import Event, EventLog, Publisher, cloud_event, for_campaign
from tests.support.services import running, settings_for

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


def own_database(infra: TestInfrastructure) -> AnalyticsSettings:
    prefix = f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_"
    return settings_for(AnalyticsSettings, infra, mongodb_db_prefix=prefix)


class PaymentWrites(monitoring.CommandListener):
    """Counts the writes one database receives to what a payment changes."""

    COLLECTIONS = frozenset(
        {"processed_events", "revenue", "payments", "journeys", "campaign_totals", "outbox"}
    )

    def __init__(self, database: str) -> None:
        self.database = database
        self.writes = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database and event.command_name in {"insert", "update"}:
            self.writes += event.command.get(event.command_name) in self.COLLECTIONS

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def send(publisher: Publisher, topic: str, data: dict[str, Any], cid: str) -> Event:
    event = cloud_event(topic, data, subject=cid)
    await publisher.send(topic, event, key=cid)
    return event


async def until_processed(service: Service, *sent: Event) -> None:
    processed = service.infra.db[PROCESSED_EVENTS]
    keys = [processed_event_key(event["source"], event["id"]) for event in sent]
    async with asyncio.timeout(60):
        while await processed.count_documents({"_id": {"$in": keys}}) < len(keys):
            await asyncio.sleep(0.1)


def revenue_of(events: EventLog, cid: str) -> list[str]:
    return [e["data"]["payment_id"] for e in events.matching(REVENUE_RECORDED, for_campaign(cid))]


async def test_batch_records_each_payment_once_in_the_order_read(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    first, second, third = (payment_completed(cid) for _ in range(3))
    declined = payment_failed(cid)
    delivered = await send(publisher, PAYMENT_COMPLETED, first, cid)
    await publisher.send(PAYMENT_COMPLETED, delivered, key=cid)  # redelivered, same event id
    await send(publisher, PAYMENT_COMPLETED, first, cid)  # re-published, new event id
    await send(publisher, PAYMENT_COMPLETED, second, cid)
    await send(publisher, PAYMENT_FAILED, declined, cid)
    await send(publisher, PAYMENT_FAILED, declined, cid)  # re-published failure
    last = await send(publisher, PAYMENT_COMPLETED, third, cid)

    async with running(build, own_database(infra)) as service:
        await events.wait_for(
            REVENUE_RECORDED, lambda e: e["data"]["payment_id"] == third["payment_id"]
        )
        # A later batch: the second payment redelivered, and one more.
        again = await send(publisher, PAYMENT_COMPLETED, second, cid)
        fourth = payment_completed(cid)
        await send(publisher, PAYMENT_COMPLETED, fourth, cid)
        await events.wait_for(
            REVENUE_RECORDED, lambda e: e["data"]["payment_id"] == fourth["payment_id"]
        )
        await until_processed(service, last, again)
        totals = await service.infra.db["campaign_totals"].find_one({"_id": cid})
        lines = await service.infra.db["payments"].count_documents({"campaign_id": cid})

    payments = [first, second, third, fourth]
    assert revenue_of(events, cid) == [p["payment_id"] for p in payments]
    assert totals is not None
    assert (totals["payments_completed"], totals["payments_failed"]) == (4, 1)
    assert money(str(totals["currencies"]["USD"]["gross"])) == money("599.96")
    assert lines == 5
    [revenue] = events.matching(
        REVENUE_RECORDED, lambda e: e["data"]["payment_id"] == first["payment_id"]
    )
    assert (revenue["correlationid"], revenue["causationid"]) == (cid, delivered["id"])


async def test_poison_payment_in_a_batch_is_dead_lettered_alone_and_the_rest_recorded(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    before, after = payment_completed(cid), payment_completed(cid)
    # Schema-valid, so it enters the batch; analytics refuses a fee in another currency.
    poison = payment_completed(cid) | {"fee": money("4.65", "EUR")}
    await send(publisher, PAYMENT_COMPLETED, before, cid)
    poisoned = await send(publisher, PAYMENT_COMPLETED, poison, cid)
    await send(publisher, PAYMENT_COMPLETED, after, cid)

    async with running(build, own_database(infra)):
        [letter] = await events.wait_for(
            dead_letter_topic(PAYMENT_COMPLETED),
            lambda e: poisoned["id"] in e.get("original", ""),
        )
        await events.wait_for(
            REVENUE_RECORDED, lambda e: e["data"]["payment_id"] == after["payment_id"]
        )

    assert revenue_of(events, cid) == [before["payment_id"], after["payment_id"]]
    assert letter["error"]["type"] == "UnprocessableEventError"
    assert [e["field"] for e in letter["error"]["errors"]] == ["fee"]


async def test_a_batch_of_payments_is_written_in_bulk(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    payments = [payment_completed(cid) for _ in range(20)]
    sent = [await send(publisher, PAYMENT_COMPLETED, payment, cid) for payment in payments]
    settings = own_database(infra)
    listener = PaymentWrites(f"{settings.mongodb_db_prefix}analytics")
    monitoring.register(listener)  # for the clients built from now on: the service's

    async with running(build, settings) as service:
        await until_processed(service, *sent)
        await events.wait_for(
            REVENUE_RECORDED, lambda e: e["data"]["payment_id"] == payments[-1]["payment_id"]
        )
    listener.database = ""  # registered for good: inert from now on

    # Written one payment at a time, each payment writes these six collections: 120 writes.
    assert listener.writes <= len(payments)
