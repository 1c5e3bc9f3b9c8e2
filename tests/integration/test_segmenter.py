"""The segmenter against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pymongo import AsyncMongoClient, monitoring

from services.segmenter.app import build
from services.segmenter.domain import AUDIENCE_CHUNK
from services.segmenter.repository import Customers
from services.segmenter.settings import SegmenterSettings
from shared.events.customers import CustomerUpserted
from shared.events.topics import (
    CAMPAIGN_AUDIENCE,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
    CUSTOMER_UPSERTED,
    REVENUE_RECORDED,
)
from shared.runtime import Service
from shared.storage.mongo import service_database
from shared.storage.unit_of_work import PROCESSED_EVENTS, processed_event_key
from tests.support.factories import campaign_id, campaign_launched, campaign_planned, customer
from tests.support.kafka import Event, EventLog, Publisher, cloud_event, for_campaign
from tests.support.services import REPORTS_AUTH, running, settings_for

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def own_database(infra: TestInfrastructure, **overrides: Any) -> SegmenterSettings:
    """A database of this test's own. Its base still holds every customer published on the
    shared topic earlier in the session, besides the test's own."""
    prefix = f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_"
    return settings_for(SegmenterSettings, infra, mongodb_db_prefix=prefix, **overrides)


async def send_customer(
    publisher: Publisher, record: dict[str, Any], **envelope: Any
) -> dict[str, Any]:
    key = record["customer_id"]
    event = cloud_event(CUSTOMER_UPSERTED, record, subject=key, **envelope)
    await publisher.send(CUSTOMER_UPSERTED, event, key=key)
    return event


async def until_customer_count(service: Service, expected: int) -> None:
    url = f"http://127.0.0.1:{service.http_port}/v1/customers/count"
    async with httpx.AsyncClient(headers=REPORTS_AUTH) as client:
        async with asyncio.timeout(30):
            while (await client.get(url)).json()["customers"] < expected:
                await asyncio.sleep(0.1)


async def until_processed(service: Service, event: Event) -> None:
    processed = service.infra.db[PROCESSED_EVENTS]
    key = processed_event_key(event["source"], event["id"])
    async with asyncio.timeout(30):
        while await processed.find_one({"_id": key}) is None:
            await asyncio.sleep(0.1)


async def test_planned_campaign_is_segmented_from_the_imported_customers(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    base = [
        customer(customer_id="loyal-1", total_spent={"amount": "900.00", "currency": "USD"}),
        customer(customer_id="loyal-2", total_spent={"amount": "100.00", "currency": "USD"}),
        customer(customer_id="lapsed", last_purchase_at=days_ago(200), email_opt_in=False),
        customer(
            customer_id="prospect",
            last_purchase_at=None,
            orders_count=0,
            total_spent={"amount": "0.00", "currency": "USD"},
            last_engaged_at=None,
        ),
    ]
    cid = campaign_id()
    # The named rules, not k-means, however many customers earlier tests published: the
    # rules place each planted customer in a known segment (clustering has its own tests).
    rules_only = own_database(infra, segmenter_min_customers_for_clustering=10_000_000)
    async with running(build, rules_only) as service:
        sent = [await send_customer(publisher, record) for record in base]
        for event in sent:
            await until_processed(service, event)
        planned = cloud_event(CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid)
        await publisher.send(CAMPAIGN_PLANNED, planned, key=cid)
        [segmented] = await events.wait_for(CAMPAIGN_SEGMENTED, for_campaign(cid))
        stored = await service.infra.db["segmentations"].find_one({"_id": cid})
        stored_chunks = await service.infra.db["audiences"].find({"campaign_id": cid}).to_list()
        chunks = await events.wait_for(
            CAMPAIGN_AUDIENCE,
            for_campaign(cid),
            count=-(-segmented["data"]["total_customers"] // AUDIENCE_CHUNK),
        )

    # Other tests in the session publish customers too, so the base is at least these four.
    segments = {s["segment_id"]: s for s in segmented["data"]["segments"]}
    total = segmented["data"]["total_customers"]
    assert total >= len(base)
    assert sum(s["size"] for s in segments.values()) == total
    # Each segment's predicted rate is its prior updated by the outcomes of every campaign
    # segmented before in the session, so only its range is fixed here; the model itself
    # is pinned by the unit tests.
    assert all(0 < s["predicted_conversion_rate"] < 1 for s in segments.values())
    assert segmented["causationid"] == planned["id"]
    assert segmented["correlationid"] == cid
    assert stored is not None
    assert stored["audience_chunks"] == len(stored_chunks)
    assert [s["size"] for s in stored["segments"]] == [s["size"] for s in segments.values()]
    members: dict[str, list[str]] = {}
    for chunk in stored_chunks:
        for customer_id, segment_id in chunk["members"]:
            members.setdefault(segment_id, []).append(customer_id)
    assert {s: len(ids) for s, ids in members.items()} == {
        s: v["size"] for s, v in segments.items()
    }
    assert "loyal-1" in members["high_value"]
    assert "loyal-2" in members["occasional"]
    assert "lapsed" in members["at_risk"]
    assert "prospect" in members["new_prospects"]
    # The launcher learns the same membership from campaign.audience, in numbered chunks.
    assert sorted(c["data"]["chunk"] for c in chunks) == list(range(len(chunks)))
    assert {c["data"]["chunks"] for c in chunks} == {len(chunks)}
    announced = {(m["customer_id"], m["segment_id"]) for c in chunks for m in c["data"]["members"]}
    assert announced == {(i, s) for s, ids in members.items() for i in ids}
    assert {c["causationid"] for c in chunks} == {planned["id"]}


async def test_older_customer_update_arriving_late_does_not_regress_the_customer(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    newer = customer(customer_id="ana", orders_count=7)
    older = customer(customer_id="ana", orders_count=2)
    async with running(build, own_database(infra)) as service:
        now = datetime.now(UTC)
        await send_customer(publisher, newer, time=now.isoformat())
        late = await send_customer(publisher, older, time=(now - timedelta(hours=1)).isoformat())
        await until_processed(service, late)
        stored = await service.infra.db["customers"].find_one({"_id": "ana"})
    assert stored is not None
    assert stored["orders_count"] == 7


async def test_redelivered_planned_event_segments_once_and_emits_once(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid, sentinel = campaign_id(), campaign_id()
    planned = cloud_event(CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid)
    async with running(build, own_database(infra)) as service:
        await send_customer(publisher, customer())
        await until_customer_count(service, 1)
        await publisher.send(CAMPAIGN_PLANNED, planned, key=cid)
        await publisher.send(CAMPAIGN_PLANNED, planned, key=cid)
        # Same key, so the sentinel is read after both copies.
        await publisher.send(
            CAMPAIGN_PLANNED,
            cloud_event(CAMPAIGN_PLANNED, campaign_planned(sentinel), subject=sentinel),
            key=cid,
        )
        await events.wait_for(CAMPAIGN_SEGMENTED, for_campaign(sentinel))
        segmentations = await service.infra.db["segmentations"].count_documents({"_id": cid})
    assert len(events.matching(CAMPAIGN_SEGMENTED, for_campaign(cid))) == 1
    assert segmentations == 1


def revenue_recorded(cid: str, segment_id: str) -> dict[str, Any]:
    usd = {"currency": "USD"}
    return {
        "campaign_id": cid,
        "payment_id": f"pay_{uuid.uuid4()}",
        "customer_id": "prospect-1",
        "processor": "stripe",
        "payment_method": "credit_card",
        "gross": usd | {"amount": "149.99"},
        "fee": usd | {"amount": "4.65"},
        "net": usd | {"amount": "145.34"},
        "recorded_at": datetime.now(UTC).isoformat(),
        "attribution": {"segment_id": segment_id, "channel": "email", "variant_id": None},
    }


async def segment_a_campaign(publisher: Publisher, events: EventLog) -> tuple[str, dict[str, Any]]:
    """Plan a new campaign; its id and its segments by id."""
    cid = campaign_id()
    planned = cloud_event(CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid)
    await publisher.send(CAMPAIGN_PLANNED, planned, key=cid)
    [segmented] = await events.wait_for(CAMPAIGN_SEGMENTED, for_campaign(cid))
    return cid, {s["segment_id"]: s for s in segmented["data"]["segments"]}


async def test_sales_of_a_launched_campaign_update_the_next_prediction_once(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    prospects = [
        customer(
            customer_id=f"prospect-{i}",
            last_purchase_at=None,
            orders_count=0,
            total_spent={"amount": "0.00", "currency": "USD"},
            last_engaged_at=None,
        )
        for i in range(3)
    ]
    async with running(build, own_database(infra)) as service:
        for record in prospects:
            await send_customer(publisher, record)
        await until_customer_count(service, len(prospects))
        cid, first = await segment_a_campaign(publisher, events)
        # The sale arrives before the launch, and is delivered twice; the sentinel (same key,
        # a campaign never segmented here) is read after both copies.
        sale = cloud_event(REVENUE_RECORDED, revenue_recorded(cid, "new_prospects"), subject=cid)
        other = campaign_id()
        sentinel = cloud_event(
            REVENUE_RECORDED, revenue_recorded(other, "new_prospects"), subject=other
        )
        launch = cloud_event(CAMPAIGN_LAUNCHED, campaign_launched(cid), subject=cid)
        for event, topic in (
            (sale, REVENUE_RECORDED),
            (sale, REVENUE_RECORDED),
            (sentinel, REVENUE_RECORDED),
            (launch, CAMPAIGN_LAUNCHED),
        ):
            await publisher.send(topic, event, key=cid)
        await until_processed(service, sentinel)
        await until_processed(service, launch)
        _, second = await segment_a_campaign(publisher, events)

    prior, after = first["new_prospects"]["predicted_conversion_rate"], second["new_prospects"]
    # Beta-Binomial: 20 pseudo-customers at the prior, plus 3 reached of whom 1 bought.
    assert after["predicted_conversion_rate"] == pytest.approx((20 * prior + 1) / 23, abs=2e-4)
    interval = after["predicted_conversion_interval"]
    assert interval["low"] <= after["predicted_conversion_rate"] <= interval["high"]
    assert after["description"]


class Commands(monitoring.CommandListener):
    """The names of the commands a client sent, and the reads (find and getMore)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.reads: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)
        if event.command_name in ("find", "getMore"):
            self.reads.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_counting_and_reading_the_base_runs_no_aggregation_and_reads_in_chunks(
    infra: TestInfrastructure,
) -> None:
    # A whole-collection aggregation (which count_documents is) must hold every customer at
    # once: past 50,000 the local stand-in refuses it, and so does a server's in-memory
    # stage budget. The count and the feature read must stay a count and a cursor.
    listener = Commands()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        infra.mongodb, tz_aware=True, event_listeners=[listener]
    )
    db = service_database(client, "segmenter", f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_")
    customers = Customers(db, batch_size=2)
    now = datetime.now(UTC)
    try:
        await customers.keep_newest(
            (CustomerUpserted.model_validate(customer(f"c-{n}")), now) for n in range(5)
        )
        listener.names.clear()
        listener.reads.clear()
        assert await customers.count() == 5
        chunks = [chunk async for chunk in customers.chunks(now)]
    finally:
        await client.close()
    assert "aggregate" not in listener.names
    # Read in chunks of the configured size, in customer-id order, never all at once.
    assert [chunk.customer_ids.tolist() for chunk in chunks] == [
        ["c-0", "c-1"],
        ["c-2", "c-3"],
        ["c-4"],
    ]
    assert {command["batchSize"] for command in listener.reads} == {2}
