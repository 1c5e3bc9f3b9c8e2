"""Delivery guarantees from shared/, pinned against the real broker and database."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from pydantic import BaseModel

from shared.events.envelope import CloudEvent
from shared.events.topics import CUSTOMER_UPSERTED, dead_letter_topic
from shared.runtime import Infrastructure, Service, health_app
from shared.settings import ServiceSettings
from tests.support.kafka import cloud_event
from tests.support.services import running, settings_for


class Probe(BaseModel):
    name: str
    fail_times: int = 0


def flaky_service(settings: ServiceSettings, attempts: Counter[str], done: list[str]) -> Service:
    """A service whose handler fails ``fail_times`` times per event before succeeding."""
    infra = Infrastructure.build("flaky", settings)

    @infra.subscriber(CUSTOMER_UPSERTED, description="test handler")
    async def handle(event: CloudEvent[Probe]) -> None:
        attempts[event.data.name] += 1
        if attempts[event.data.name] <= event.data.fail_times:
            raise RuntimeError(f"simulated failure {attempts[event.data.name]}")
        done.append(event.data.name)

    infra.finish()
    return Service(infra=infra, http_app=health_app(infra), http_port=settings.health_port)


class FlakySettings(ServiceSettings):
    health_port: int = 0


@pytest.fixture
def flaky_settings(infra):
    return settings_for(FlakySettings, infra, handler_max_attempts=3)


async def test_failing_handler_is_retried_then_dead_lettered_and_later_messages_flow(
    infra, publisher, events, flaky_settings
):
    attempts: Counter[str] = Counter()
    done: list[str] = []
    poison = cloud_event(CUSTOMER_UPSERTED, {"name": "poison", "fail_times": 99}, subject="k1")
    recovers = cloud_event(CUSTOMER_UPSERTED, {"name": "recovers", "fail_times": 2}, subject="k1")
    healthy = cloud_event(CUSTOMER_UPSERTED, {"name": "healthy"}, subject="k1")
    async with running(lambda s: flaky_service(s, attempts, done), flaky_settings):
        for event in (poison, recovers, healthy):
            await publisher.send(CUSTOMER_UPSERTED, event, key="k1")
        [letter] = await events.wait_for(
            dead_letter_topic(CUSTOMER_UPSERTED), lambda e: poison["id"] in e.get("original", "")
        )
        for _ in range(200):
            if "healthy" in done:
                break
            await asyncio.sleep(0.1)
    assert attempts["poison"] == 3
    assert letter["attempts"] == 3
    assert letter["error"]["message"] == "simulated failure 3"
    assert letter["consumer_group"] == f"flaky.{CUSTOMER_UPSERTED}"
    assert attempts["recovers"] == 3
    assert done == ["recovers", "healthy"]


async def test_processed_offsets_are_committed_so_a_restart_reads_nothing_twice(
    infra, publisher, flaky_settings
):
    attempts: Counter[str] = Counter()
    done: list[str] = []
    first = cloud_event(CUSTOMER_UPSERTED, {"name": "first-run"}, subject="k2")
    second = cloud_event(CUSTOMER_UPSERTED, {"name": "second-run"}, subject="k2")
    async with running(lambda s: flaky_service(s, attempts, done), flaky_settings):
        await publisher.send(CUSTOMER_UPSERTED, first, key="k2")
        for _ in range(200):
            if "first-run" in done:
                break
            await asyncio.sleep(0.1)
    async with running(lambda s: flaky_service(s, attempts, done), flaky_settings):
        await publisher.send(CUSTOMER_UPSERTED, second, key="k2")
        for _ in range(200):
            if "second-run" in done:
                break
            await asyncio.sleep(0.1)
    assert attempts["first-run"] == 1
    assert attempts["second-run"] == 1
