"""One burst, one fault per round: the payments of a round start, the fault lands once a
third of them were answered, then refunds, then the count once everything settled."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from shared.devstack.processes import SERVICES
from shared.events.topics import (
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REQUESTED,
    CUSTOMER_UPSERTED,
)
from tests.faults import injections
from tests.faults.burst import Round, Storefront
from tests.faults.injections import Fault, Injected
from tests.faults.stack import FaultStack, fault_stack
from tests.faults.tally import PoisonCheck, Row, all_arrived, check_poison, count_round, letters
from tests.support.factories import campaign_id, campaign_request, customer
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign

FAULTS: dict[str, Fault] = {
    **{f"SIGKILL {name}": injections.kill(name) for name in SERVICES},
    f"SIGSTOP analytics {injections.FROZEN_SECONDS:.0f} s": injections.freeze("analytics"),
    "database restarted": injections.restart_database,
    f"database +{injections.DATABASE_DELAY_SECONDS * 1000:.0f} ms": injections.slow_database,
    f"processor down {injections.PROCESSOR_OUTAGE_SECONDS:.0f} s": injections.processor_outage,
    "redelivery": injections.redeliver,
    "poison": injections.publish_poison,
}
NEED_A_FILE = frozenset({"database restarted"})
REFUND_SHARE = 0.25
ARRIVED_WITHIN = 180.0
# After everything arrived: time for a duplicate publication to surface before counting.
QUIET_SECONDS = 2.0
CUSTOMERS = 20


@dataclass(frozen=True)
class Report:
    rows: list[Row]
    poison: PoisonCheck
    campaign_planned: int
    campaign_launched: int

    @property
    def holds(self) -> bool:
        return all(r.holds for r in self.rows) and self.poison.holds and self.campaign_planned == 1


def run(payments: int, faults: Sequence[str], workdir: Path) -> Report:
    """The database restart on a stack of its own whose database is the SQLite engine (one
    transaction at a time, so several times slower); every other fault on one in memory."""
    size = max(3, payments // len(faults))
    in_memory = [f for f in faults if f not in NEED_A_FILE]
    on_file = [f for f in faults if f in NEED_A_FILE]
    reports = []
    for chosen, persistent in ((in_memory, False), (on_file, True)):
        if chosen:
            directory = workdir / ("sqlite" if persistent else "memory")
            with fault_stack(directory, persistent=persistent) as stack:
                reports.append(asyncio.run(_run(stack, size, chosen)))
    return Report(
        [row for report in reports for row in report.rows],
        PoisonCheck(
            sum(r.poison.published for r in reports),
            [m for r in reports for m in r.poison.missing],
            [s for r in reports for s in r.poison.strangers],
        ),
        min(r.campaign_planned for r in reports),
        min(r.campaign_launched for r in reports),
    )


async def _run(stack: FaultStack, size: int, faults: Sequence[str]) -> Report:
    rng = random.Random(20261201)
    log = EventLog(stack.kafka)
    await log.start()
    cid = campaign_id("faults")
    storefront = Storefront(stack.payment_url(), cid, rng)
    injected = Injected()
    try:
        await request_campaign(stack, cid)
        rows = []
        for name in faults:
            rows.append(await play(name, FAULTS[name], size, stack, storefront, log, injected))
            print(f"  {name}: {rows[-1]}", flush=True)
        poison = await poison_once_dead_lettered(log, injected, stack.kafka)
    finally:
        await storefront.close()
        await log.stop()
    in_campaign = for_campaign(cid)
    return Report(
        rows,
        poison,
        len({e["id"] for e in log.matching(CAMPAIGN_PLANNED, in_campaign)}),
        len({e["id"] for e in log.matching(CAMPAIGN_LAUNCHED, in_campaign)}),
    )


async def play(
    name: str,
    fault: Fault,
    size: int,
    stack: FaultStack,
    storefront: Storefront,
    log: EventLog,
    injected: Injected,
) -> Row:
    played = Round()
    letters_before = len(letters(log))
    paying = asyncio.create_task(storefront.pay(size, played))
    while played.answered < size // 3 and not paying.done():
        played.answered_changed.clear()
        await played.answered_changed.wait()
    await fault(stack, injected)
    restored = time.monotonic()
    await paying
    await storefront.refund(REFUND_SHARE, played)
    await storefront.settle(played)
    async with asyncio.timeout(ARRIVED_WITHIN):
        while not all_arrived(log, played):
            await asyncio.sleep(0.2)
    seconds = time.monotonic() - restored
    await asyncio.sleep(QUIET_SECONDS)
    return count_round(name, played, log, injected, letters_before, seconds)


async def request_campaign(stack: FaultStack, cid: str) -> None:
    """A live campaign: customers to send to, and a request to send at once."""
    publisher = Publisher(stack.kafka)
    await publisher.start()
    try:
        for _ in range(CUSTOMERS):
            record = customer()
            event = cloud_event(CUSTOMER_UPSERTED, record, subject=record["customer_id"])
            await publisher.send(CUSTOMER_UPSERTED, event, key=record["customer_id"])
        request = campaign_request(cid, send_in_local_windows=False)
        event = cloud_event(CAMPAIGN_REQUESTED, request, subject=cid)
        await publisher.send(CAMPAIGN_REQUESTED, event, key=cid)
    finally:
        await publisher.stop()


async def poison_once_dead_lettered(
    log: EventLog, injected: Injected, bootstrap: str
) -> PoisonCheck:
    """The poison check once it holds, or as it stands after ``ARRIVED_WITHIN``."""
    consumed = await consumed_topics(bootstrap)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ARRIVED_WITHIN):
            while not check_poison(log, injected, consumed).holds:
                await asyncio.sleep(0.5)
    return check_poison(log, injected, consumed)


async def consumed_topics(bootstrap: str) -> set[str]:
    """Topics some consumer group reads: groups are named ``<service>.<topic>``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = await admin.list_consumer_groups()
    finally:
        await admin.close()
    return {group_id.split(".", 1)[1] for group_id, *_ in groups if "." in group_id}
