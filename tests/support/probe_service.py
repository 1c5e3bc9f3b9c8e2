"""A service whose handler fails on demand, for pinning the delivery guarantees."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel

from shared.events.envelope import CloudEvent
from shared.events.topics import CUSTOMER_UPSERTED
from shared.runtime import Infrastructure, Service, health_app
from shared.settings import ServiceSettings
from shared.storage.unit_of_work import Transaction

log = logging.getLogger(__name__)


class Probe(BaseModel):
    name: str
    fail_times: int = 0


class ProbeSettings(ServiceSettings):
    health_port: int = 0


@dataclass
class ProbeLedger:
    """What the handler saw: attempts per probe, the probes done in order, and the probes
    whose handler is broken (it raises on them until the test fixes it by removing them);
    for a batch consumer, the probes of each batch it was handed."""

    attempts: Counter[str] = field(default_factory=Counter)
    done: list[str] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    batches: list[list[str]] = field(default_factory=list)


def probe_service(
    settings: ServiceSettings, ledger: ProbeLedger, topic: str = CUSTOMER_UPSERTED
) -> Service:
    """Fails ``fail_times`` times per probe, or for as long as it is ``broken``, then succeeds."""
    infra = Infrastructure.build("flaky", settings)

    @infra.subscriber(topic, description="test handler")
    async def handle(event: CloudEvent[Probe]) -> None:
        name = event.data.name
        ledger.attempts[name] += 1
        log.info("probe %s, attempt %d", name, ledger.attempts[name])
        if name in ledger.broken or ledger.attempts[name] <= event.data.fail_times:
            raise RuntimeError(f"simulated failure {ledger.attempts[name]}")
        ledger.done.append(name)

    infra.finish()
    return Service(infra=infra, http_app=health_app(infra), http_port=settings.health_port)


def batch_probe_service(settings: ServiceSettings, ledger: ProbeLedger, topic: str) -> Service:
    """``probe_service`` consuming in batches: a batch fails when any of its probes does,
    and stores each probe it applies in the ``probes`` collection, in its transaction."""
    infra = Infrastructure.build("flaky-batch", settings)

    async def apply(tx: Transaction, events: list[CloudEvent[Probe]]) -> None:
        names = [event.data.name for event in events]
        ledger.batches.append(names)
        ledger.attempts.update(names)
        for event in events:
            name = event.data.name
            if name in ledger.broken or ledger.attempts[name] <= event.data.fail_times:
                raise RuntimeError(f"simulated failure {ledger.attempts[name]}")
        await tx.db["probes"].insert_many([{"name": n} for n in names], session=tx.session)
        ledger.done.extend(names)

    infra.batch_subscriber(topic, Probe, infra.uow, apply, description="test batch handler")
    infra.finish()
    return Service(infra=infra, http_app=health_app(infra), http_port=settings.health_port)
