"""The unit of work against the real database: one transaction for the state change, its
processed-event mark and its outbox rows; events deduplicated on (source, id)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import BaseModel

from services.segmenter.app import build as build_segmenter
from services.segmenter.settings import SegmenterSettings
from shared.events.envelope import CloudEvent
from shared.events.topics import CUSTOMER_UPSERTED
from shared.storage.mongo import connect, service_database
from shared.storage.unit_of_work import (
    OUTBOX,
    AlreadyProcessedError,
    Emission,
    Transaction,
    UnitOfWork,
    WriteConflictError,
    retry_on_write_conflict,
)
from tests.support.factories import customer
from tests.support.kafka import Publisher, cloud_event
from tests.support.services import REPORTS_AUTH, caught_up, running, settings_for

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure


class Probe(BaseModel):
    name: str


@pytest.fixture(scope="module")
async def uow(infra: TestInfrastructure) -> AsyncIterator[UnitOfWork[Transaction]]:
    client = connect(infra.mongodb, app_name="test-unit-of-work")
    db = service_database(client, "unit_of_work", infra.db_prefix)
    work = UnitOfWork(client, db, source="/tests/unit-of-work", transaction=Transaction)
    await work.ensure_indexes()
    yield work
    await client.close()


def event(event_id: str, source: str = "/clients/tests") -> CloudEvent[Any]:
    return CloudEvent[Any](id=event_id, source=source, type="probe", data=Probe(name="x"))


async def test_redelivered_event_changes_nothing_and_emits_nothing(
    uow: UnitOfWork[Transaction],
) -> None:
    counter = uow.db["counters"]
    delivered = event("event-1")

    async def consume() -> None:
        async with uow.consuming(delivered) as tx:
            await counter.update_one(
                {"_id": "c"}, {"$inc": {"n": 1}}, upsert=True, session=tx.session
            )
            await tx.emit(CUSTOMER_UPSERTED, Probe(name="x"), key="c")

    await consume()
    with pytest.raises(AlreadyProcessedError):
        await consume()

    assert (await counter.find_one({"_id": "c"}) or {})["n"] == 1
    assert await uow.db[OUTBOX].count_documents({"key": "c"}) == 1


async def test_aborted_transaction_leaves_no_state_and_no_outbox_row(
    uow: UnitOfWork[Transaction],
) -> None:
    failing = event("event-2")

    async def consume() -> None:
        async with uow.consuming(failing) as tx:
            await tx.db["things"].insert_one({"_id": "t"}, session=tx.session)
            await tx.emit(CUSTOMER_UPSERTED, Probe(name="never"), key="t")
            raise RuntimeError("handler bug after the writes")

    with pytest.raises(RuntimeError):
        await consume()

    assert await uow.db["things"].count_documents({}) == 0
    assert await uow.db[OUTBOX].count_documents({"key": "t"}) == 0
    async with uow.consuming(failing):
        pass  # not marked by the aborted attempt: it can be applied now


async def test_write_conflict_is_named_and_the_loser_runs_again(
    uow: UnitOfWork[Transaction],
) -> None:
    """Two transactions increment one document while both are open. Whichever loses (the
    later writer on MongoDB, the later committer on the embedded server) raises
    ``WriteConflictError`` and is run again; both increments land."""
    documents = uow.db["contended"]
    await documents.replace_one({"_id": "d"}, {"n": 0}, upsert=True)
    first_wrote, second_done = asyncio.Event(), asyncio.Event()
    runs: list[str] = []
    conflicts: list[str] = []

    async def increment(tx: Transaction) -> None:
        await documents.update_one({"_id": "d"}, {"$inc": {"n": 1}}, session=tx.session)

    @retry_on_write_conflict
    async def first() -> None:
        runs.append("first")
        try:
            async with uow as tx:
                await increment(tx)
                if runs == ["first"]:
                    first_wrote.set()
                    await second_done.wait()
        except WriteConflictError:
            conflicts.append("first")
            raise

    @retry_on_write_conflict
    async def second() -> None:
        await first_wrote.wait()
        runs.append("second")
        try:
            async with uow as tx:
                await increment(tx)
        except WriteConflictError:
            conflicts.append("second")
            raise
        finally:
            second_done.set()

    await asyncio.gather(first(), second())

    assert conflicts, "the two transactions overlapped, so one lost"
    assert len(runs) == 2 + len(conflicts)
    assert (await documents.find_one({"_id": "d"}) or {})["n"] == 2


async def test_events_with_one_id_from_two_sources_are_both_applied(
    infra: TestInfrastructure, publisher: Publisher
) -> None:
    settings = settings_for(SegmenterSettings, infra, mongodb_db_prefix=f"{infra.db_prefix}dedupe_")
    first, second = customer(), customer()
    async with running(build_segmenter, settings) as service:
        # The group resumes where earlier tests' customer syncs left it: read those first,
        # and count only the customers of events sent from now on.
        await caught_up(service, CUSTOMER_UPSERTED, timeout=300)
        since = datetime.now(UTC)
        for source, record in (("/clients/crm-a", first), ("/clients/crm-b", second)):
            sent = cloud_event(CUSTOMER_UPSERTED, record, subject=record["customer_id"])
            sent |= {"id": "crm-event-1", "source": source}
            await publisher.send(CUSTOMER_UPSERTED, sent, key=record["customer_id"])
        url = f"http://127.0.0.1:{settings.segmenter_health_port}/v1/customers/count"
        async with httpx.AsyncClient(
            headers=REPORTS_AUTH, params={"updated_since": since.isoformat()}
        ) as http:
            assert await stored_customers(http, url, expected=2) == 2


async def stored_customers(http: httpx.AsyncClient, url: str, expected: int) -> int:
    """The segmenter's customer count once it reaches ``expected``; a bound, not a timing
    claim (a batch meeting a write conflict under load is retried with backoff)."""
    count = -1
    async with asyncio.timeout(120):
        while count != expected:
            count = (await http.get(url)).json()["customers"]
            if count != expected:
                await asyncio.sleep(0.1)
    return count


async def test_emit_many_queues_every_event_in_one_write_published_only_on_commit(
    uow: UnitOfWork[Transaction],
) -> None:
    keys = [f"many-{n}" for n in range(3)]
    emissions = [Emission(CUSTOMER_UPSERTED, Probe(name=key), key) for key in keys]

    async def aborted() -> None:
        async with uow as tx:
            await tx.emit_many(emissions)
            raise RuntimeError("aborted after the write")

    with pytest.raises(RuntimeError):
        await aborted()
    assert await uow.db[OUTBOX].count_documents({"key": {"$in": keys}}) == 0

    async with uow as tx:
        events = await tx.emit_many(emissions)

    rows = await uow.db[OUTBOX].find({"key": {"$in": keys}}).sort("_id", 1).to_list()
    assert [row["key"] for row in rows] == keys
    assert [row["event_id"] for row in rows] == [event.id for event in events]
    assert [event.correlationid for event in events] == keys
