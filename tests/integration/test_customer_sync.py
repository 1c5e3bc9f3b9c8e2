"""customer.upserted into the segmenter's base and the launcher's projection, in batches.

Events are published before the service starts, so that its first fetch reads them in one
batch; what is asserted holds whatever the batches, the newest version of each customer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.launcher.app import build as build_launcher
from services.launcher.settings import LauncherSettings
from services.segmenter.app import build as build_segmenter
from services.segmenter.settings import SegmenterSettings
from shared.events.topics import CUSTOMER_UPSERTED, dead_letter_topic
from shared.runtime import Service
from shared.settings import ServiceSettings
from shared.storage.unit_of_work import PROCESSED_EVENTS, processed_event_key
from tests.support.factories import customer
from tests.support.kafka import Event, EventLog, Publisher, cloud_event
from tests.support.services import running, settings_for

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


def own_database[S: ServiceSettings](cls: type[S], infra: TestInfrastructure) -> S:
    return settings_for(cls, infra, mongodb_db_prefix=f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_")


async def send(publisher: Publisher, record: dict[str, Any], at: datetime) -> Event:
    key = record["customer_id"]
    event = cloud_event(CUSTOMER_UPSERTED, record, subject=key, time=at.isoformat())
    await publisher.send(CUSTOMER_UPSERTED, event, key=key)
    return event


async def until_processed(service: Service, *sent: Event) -> None:
    processed = service.infra.db[PROCESSED_EVENTS]
    keys = [processed_event_key(event["source"], event["id"]) for event in sent]
    async with asyncio.timeout(30):
        while await processed.count_documents({"_id": {"$in": keys}}) < len(keys):
            await asyncio.sleep(0.1)


async def first_names_stored(service: Service, *customer_ids: str) -> dict[str, str]:
    cursor = service.infra.db["customers"].find({"_id": {"$in": list(customer_ids)}})
    return {d["_id"]: d["first_name"] async for d in cursor}


async def newest_is_kept_within_and_across_batches_and_redeliveries(
    build: Callable[[Any], Service], settings: ServiceSettings, publisher: Publisher
) -> dict[str, str]:
    """Two versions of two customers in one batch, newest last and newest first; then, in
    a later batch, an older version redelivered and one never seen. What is stored of each."""
    tag = uuid.uuid4().hex[:6]
    ana, bob = f"ana-{tag}", f"bob-{tag}"
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    ana_old = await send(publisher, customer(ana, first_name="old"), now - hour)
    await send(publisher, customer(ana, first_name="new"), now)
    bob_new = await send(publisher, customer(bob, first_name="new"), now)
    bob_old = await send(publisher, customer(bob, first_name="old"), now - hour)
    async with running(build, settings) as service:
        await until_processed(service, ana_old, bob_old)
        await publisher.send(CUSTOMER_UPSERTED, ana_old, key=ana)  # redelivered
        await publisher.send(CUSTOMER_UPSERTED, bob_new, key=bob)  # redelivered, still newest
        oldest = await send(publisher, customer(ana, first_name="older"), now - 2 * hour)
        # Same key, same partition: processed after the redeliveries before it.
        await until_processed(service, oldest)
        return await first_names_stored(service, ana, bob)


async def test_segmenter_keeps_the_newest_version_of_each_customer(
    infra: TestInfrastructure, publisher: Publisher
) -> None:
    settings = own_database(SegmenterSettings, infra)
    stored = await newest_is_kept_within_and_across_batches_and_redeliveries(
        build_segmenter, settings, publisher
    )
    assert list(stored.values()) == ["new", "new"]


async def test_launcher_projection_keeps_the_newest_version_of_each_customer(
    infra: TestInfrastructure, publisher: Publisher
) -> None:
    settings = own_database(LauncherSettings, infra)
    stored = await newest_is_kept_within_and_across_batches_and_redeliveries(
        build_launcher, settings, publisher
    )
    assert list(stored.values()) == ["new", "new"]


async def test_an_invalid_customer_in_a_batch_is_dead_lettered_alone_and_the_rest_are_stored(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    before = await send(publisher, customer(f"before-{tag}"), now)
    invalid = await send(publisher, customer(f"invalid-{tag}", email="not-an-address"), now)
    after = await send(publisher, customer(f"after-{tag}"), now)
    async with running(build_segmenter, own_database(SegmenterSettings, infra)) as service:
        [letter] = await events.wait_for(
            dead_letter_topic(CUSTOMER_UPSERTED),
            lambda e: (
                invalid["id"] in e.get("original", "")
                and e["consumer_group"] == f"segmenter.{CUSTOMER_UPSERTED}"
            ),
        )
        await until_processed(service, before, after)
        ids = (f"before-{tag}", f"invalid-{tag}", f"after-{tag}")
        stored = await first_names_stored(service, *ids)
    assert set(stored) == {ids[0], ids[2]}
    assert letter["error"]["type"] == "ValidationError"
    assert [e["field"] for e in letter["error"]["errors"]] == ["email"]
    assert letter["attempts"] == 1
