"""Two replicas of every service, each a process, the payment API behind one balancer.

Payments go in through the balancer; analytics records their revenue. The replicas of each
service split every consumer group's partitions, one outbox relay publishes per database,
and every payment gives one payment.completed and one revenue.recorded. Then one replica
of each service is SIGKILLed: the survivor takes all its partitions, and the next payments
complete as the first did.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pymongo import AsyncMongoClient

from shared.devstack.processes import SERVICES
from shared.devstack.stack import HTTP_PORTS, LocalStack, StackAddresses
from shared.events.topics import PAYMENT_COMPLETED, REVENUE_RECORDED
from shared.messaging.outbox import PENDING
from shared.messaging.outbox_lease import LEASE_ID, OUTBOX_LEASE
from shared.settings import DEV_ONLY_PAYMENT_API_KEY
from tests.support.consumer_groups import everything_on, logged_assignments, members
from tests.support.factories import campaign_id, payment_request
from tests.support.infrastructure import free_port

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

PAYMENTS = 12  # per round; two rounds, one each side of the kill
PARTITIONS = 3  # each topic's (KAFKA_TOPIC_PARTITIONS' default)
CONSUMERS = ("planner", "segmenter", "content", "launcher", "analytics")
AUTH = {"Authorization": f"Bearer {DEV_ONLY_PAYMENT_API_KEY}"}
WITHIN = 90.0


async def test_replicas_split_the_work_do_it_once_and_take_over_a_killed_ones_share(
    infra: TestInfrastructure, tmp_path: Path
) -> None:
    prefix = f"{infra.db_prefix}replicas_{uuid.uuid4().hex[:6]}_"
    stack = LocalStack(StackAddresses.from_env(stack_env(infra, prefix)), tmp_path, replicas=2)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb)
    cid = campaign_id("replicas")
    try:
        stack.start_services()
        await asyncio.to_thread(stack.wait_ready, SERVICES, 120)
        await until(lambda: split_between(infra.kafka, tmp_path, ["1", "2"]), "the split")
        # A connection a request: the balancer deals connections out in turn.
        async with httpx.AsyncClient(
            base_url=stack.addresses.http_url("payment"),
            headers=AUTH,
            timeout=30,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as http:
            first = await pay(http, cid)
            await until(lambda: recorded(infra.kafka, first), "the first round's revenue")
            # A relay killed between publishing a batch and marking it leaves the rows to its
            # standby, which publishes them again: the outbox is at least once, consumers drop
            # such a copy by its event id, and the fault suite counts copies. The kill waits
            # until nothing is in flight, so that any copy here is a defect.
            await until(lambda: outboxes_drained(mongo, prefix), "the first round's outboxes")
            leases = await relay_owners(mongo, prefix)
            served = served_by(tmp_path, first)

            for service in SERVICES:
                stack.kill_replica(f"{service}-1")
            await until(lambda: split_between(infra.kafka, tmp_path, ["2"]), "the takeover")
            second = await pay(http, cid)
            await until(lambda: recorded(infra.kafka, first + second), "all the revenue")
        await until(lambda: outboxes_drained(mongo, prefix), "the outboxes drained")
        completed = await copies(infra.kafka, PAYMENT_COMPLETED, first + second)
        revenue = await copies(infra.kafka, REVENUE_RECORDED, first + second)
    finally:
        stack.stop()
        await mongo.close()

    assert all(served.values()), f"the balancer should spread the payments: {served}"
    # One takeover ever (token 1), by one of the service's replicas: one relay per database.
    assert all(
        token == 1 and owner.startswith(f"{service}-") for service, (owner, token) in leases.items()
    ), leases
    assert completed == dict.fromkeys(first + second, 1), "payment.completed once a payment"
    assert revenue == dict.fromkeys(first + second, 1), "revenue.recorded once a payment"


def stack_env(infra: TestInfrastructure, prefix: str) -> dict[str, str]:
    ports = {variable: str(free_port()) for variable, _ in HTTP_PORTS.values()}
    return ports | {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongodb,
        "MONGODB_DB_PREFIX": prefix,
        "LOG_FORMAT": "text",
        "HEALTH_HOST": "127.0.0.1",
        # Its storefront names click ids no launcher made: no click to wait for.
        "ANALYTICS_CLICK_GRACE_SECONDS": "0",
        # A killed relay's standby takes over within seconds.
        "OUTBOX_LEASE_SECONDS": "6",
        "OUTBOX_LEASE_RENEW_SECONDS": "1",
    }


async def until(condition: Callable[[], Awaitable[object]], what: str) -> None:
    """Poll ``condition`` until it is truthy; past the deadline, fail with its last answer."""
    answer: object = None
    try:
        async with asyncio.timeout(WITHIN):
            while not (answer := await condition()):
                await asyncio.sleep(0.5)  # a poll's pace, not a wait for anything in particular
    except TimeoutError:
        raise AssertionError(f"{what}: not within {WITHIN:.0f}s; last seen {answer!r}") from None


class Unsplit(dict[str, Any]):
    """A falsy answer that still shows what the groups looked like."""

    def __bool__(self) -> bool:
        return False


async def split_between(bootstrap: str, logs: Path, replicas: list[str]) -> dict[str, Any]:
    """Every consumer group of every consumer service has one member from each of
    ``replicas`` (instance ids ``<service>-<n>``), each holding partitions, all of them
    held; else an ``Unsplit`` of how the groups stand."""
    found: dict[str, Any] = {}
    split = True
    for service in CONSUMERS:
        # Every replica's log, a killed one's too: the groups are those any of them joined.
        assigned: dict[str, set[tuple[str, int]]] = {}
        for log in logs.glob(f"{service}-[0-9]*.log"):
            assigned |= logged_assignments(log)
        topics = {topic for held in assigned.values() for topic, _ in held}
        names = [f"{service}-{n}" for n in replicas]
        groups = await members(bootstrap, [f"{service}.{topic}" for topic in sorted(topics)])
        for group, ids in groups.items():
            # A member id is its client id (the replica's instance id), a dash and a uuid.
            owners = {m: next((n for n in names if m.startswith(f"{n}-")), m) for m in ids}
            held = {owners[m]: sorted(p for _, p in assigned.get(m, ())) for m in ids}
            found[group] = held
            every = {p for partitions in held.values() for p in partitions}
            split &= sorted(held) == names and all(held.values()) and len(every) == PARTITIONS
        split &= bool(groups)
    return found if split else Unsplit(found)


async def pay(http: httpx.AsyncClient, cid: str) -> list[str]:
    ids = []
    for _ in range(PAYMENTS):
        answer = await http.post(
            "/v1/payments",
            json=payment_request(cid, amount="25.00"),
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def served_by(logs: Path, payment_ids: list[str]) -> dict[str, int]:
    """How many of ``payment_ids`` each payment replica logged as its own."""
    texts = {r: (logs / f"{r}.log").read_text() for r in ("payment-1", "payment-2")}
    return {r: sum(f"payment {pid} " in text for pid in payment_ids) for r, text in texts.items()}


async def recorded(bootstrap: str, payment_ids: list[str]) -> bool:
    found = await copies(bootstrap, REVENUE_RECORDED, payment_ids)
    return set(found) == set(payment_ids)


async def copies(bootstrap: str, topic: str, payment_ids: list[str]) -> dict[str, int]:
    """How many records on ``topic`` name each of ``payment_ids``."""
    wanted = set(payment_ids)
    events = await everything_on(bootstrap, topic)
    named = (e["data"].get("payment_id") for e in events)
    return dict(Counter(payment_id for payment_id in named if payment_id in wanted))


async def relay_owners(
    mongo: AsyncMongoClient[dict[str, Any]], prefix: str
) -> dict[str, tuple[str, int]]:
    """Each database's outbox lease: its holder and how many takeovers it has seen."""
    owners = {}
    for service in SERVICES:
        lease = await mongo[f"{prefix}{service}"][OUTBOX_LEASE].find_one({"_id": LEASE_ID})
        owners[service] = (str(lease and lease["owner"]), int(lease["token"]) if lease else 0)
    return owners


async def outboxes_drained(mongo: AsyncMongoClient[dict[str, Any]], prefix: str) -> bool:
    for service in ("payment", "analytics"):
        if await mongo[f"{prefix}{service}"]["outbox"].count_documents(PENDING):
            return False
    return True
