"""A dispatcher killed with SIGKILL mid-send, then restarted: every recipient gets exactly one
message, the sends cut off in flight are ``unknown`` and never sent again, the rest ``sent``."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shared.devstack.processes import ProcessGroup
from shared.events.topics import ENGAGEMENT_SENT
from shared.storage.mongo import connect, service_database
from tests.support.email_launch import people, seed_campaign, statuses, until_settled
from tests.support.infrastructure import free_port
from tests.support.kafka import EventLog, for_campaign
from tests.support.smtp_sink import smtp_sink

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

    from shared.storage.mongo import Document
    from tests.support.infrastructure import TestInfrastructure

RECIPIENTS = 300
ACCEPTED_BEFORE_THE_HOLD = 100
CONCURRENCY = 8
LEASE_SECONDS = 2
DISPATCHER = [sys.executable, "-m", "tests.support.email_dispatcher_process"]


@pytest.fixture
async def db(infra: TestInfrastructure) -> AsyncIterator[AsyncDatabase[Document]]:
    client = connect(infra.mongodb, app_name="test-email-resume")
    yield service_database(client, "launcher", infra.db_prefix)
    await client.close()


async def test_a_dispatcher_killed_mid_send_then_restarted_sends_everyone_once(
    infra: TestInfrastructure, db: AsyncDatabase[Document], events: EventLog, tmp_path: Path
) -> None:
    recipients = people(RECIPIENTS)
    campaign = await seed_campaign(db, recipients)
    processes = ProcessGroup(tmp_path / "logs")
    argv = [*DISPATCHER, "--lease-seconds", str(LEASE_SECONDS)]
    async with smtp_sink(tmp_path / "mail") as sink:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URL": infra.mongodb,
            "MONGODB_DB_PREFIX": infra.db_prefix,
            "LAUNCHER_SMTP_URL": sink.url,
            "LAUNCHER_SEND_CONCURRENCY": str(CONCURRENCY),
            "LAUNCHER_API_PORT": str(free_port()),
            "OUTBOX_POLL_SECONDS": "0.5",
            # The restarted process takes the killed one's outbox lease over sooner.
            "OUTBOX_LEASE_SECONDS": "3",
            "OUTBOX_LEASE_RENEW_SECONDS": "1",
            "LOG_FORMAT": "text",
        }
        # The first 100 messages are answered; every later one is kept but its 250 held, so
        # each of the dispatcher's connections ends up waiting in DATA.
        sink.sink.hold(after=ACCEPTED_BEFORE_THE_HOLD)
        processes.start("dispatcher", argv, env)
        try:

            async def every_connection_held_and_the_rest_recorded() -> bool:
                found = Counter(d["status"] for d in (await statuses(db, campaign)).values())
                held = sink.sink.held == CONCURRENCY
                return held and found["sent"] == ACCEPTED_BEFORE_THE_HOLD

            await until_true(every_connection_held_and_the_rest_recorded)
            processes.kill("dispatcher")
            interrupted = {kept.rcpt_tos[0] for kept in sink.messages()[ACCEPTED_BEFORE_THE_HOLD:]}
            sink.sink.release()
            processes.start("dispatcher", argv, env)
            stored = await until_settled(db, campaign, timeout=120)
            sent = await events.wait_for(
                ENGAGEMENT_SENT, for_campaign(campaign), count=RECIPIENTS - CONCURRENCY
            )
        finally:
            await asyncio.to_thread(processes.stop)  # the sink keeps answering meanwhile

        by_recipient = Counter(kept.rcpt_tos[0] for kept in sink.messages())

    emails = {person["customer_id"]: person["email"] for person in recipients}
    assert len(interrupted) == CONCURRENCY
    assert by_recipient == Counter(emails.values())  # everyone once, nobody twice
    unknown = {who for who, d in stored.items() if d["status"] == "unknown"}
    assert {emails[who] for who in unknown} == interrupted
    assert all(stored[who]["attempts"] == 1 for who in unknown)
    assert Counter(d["status"] for d in stored.values()) == {
        "sent": RECIPIENTS - CONCURRENCY,
        "unknown": CONCURRENCY,
    }
    sent_ids = {d["message_id"] for d in stored.values() if d["status"] == "sent"}
    assert {event["data"]["message_id"] for event in sent} == sent_ids


async def until_true(condition: Callable[[], Awaitable[bool]], timeout: float = 120) -> None:
    """A bound on the wait, never a timing assertion."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)
