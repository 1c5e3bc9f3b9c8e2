"""Every service's /metrics, scraped while it works: the counters move with real work, and
the sampled gauges are there."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from services.launcher.settings import LauncherSettings
from services.payment.app import assemble
from services.planner.app import build as build_planner
from services.planner.settings import PlannerSettings
from shared.events.topics import CAMPAIGN_REQUESTED, dead_letter_topic
from shared.storage.mongo import connect, service_database, stored_now
from tests.support.email_launch import email_service, people, seed_campaign, until_settled
from tests.support.factories import campaign_id, campaign_request, payment_request
from tests.support.kafka import EventLog, Publisher, cloud_event
from tests.support.metrics import scrape
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    base_url,
    idempotency_key,
    payment_api,
    payment_settings,
)
from tests.support.services import caught_up, running, settings_for
from tests.support.smtp_sink import smtp_sink

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

PAYMENTS = "campaign_payments_total"
CHARGES = "campaign_processor_call_duration_seconds_count"


async def test_payment_made_through_the_api_is_counted_by_status_and_processor(
    infra: TestInfrastructure,
) -> None:
    settings = payment_settings(infra, "metrics", **WITHOUT_RISK_HOLDS)
    payment = assemble(settings)
    url = base_url(settings)
    async with payment_api(settings, payment.service) as api:
        before = await scrape(url)
        response = await api.post(
            "/v1/payments", json=payment_request(campaign_id()), headers=idempotency_key()
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "completed"
        await payment.reconciler.run_once(stored_now())
        after = await scrape(url)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved(PAYMENTS, status="pending", processor="stripe") == 1
    assert moved(PAYMENTS, status="completed", processor="stripe") == 1
    assert moved(PAYMENTS, status="failed") == 0
    assert moved(CHARGES, processor="stripe", operation="charge", outcome="answered") == 1
    assert moved("campaign_payment_request_duration_seconds_count") == 1
    assert after.matching("campaign_processor_breaker_open", processor="stripe")[0].value == 0
    assert after.value("campaign_reconciliation_last_round_timestamp_seconds") > 0
    assert after.matching("campaign_reconciliation_backlog_payments")
    for gauge in ("backlog_messages", "oldest_age_seconds", "parked_messages"):
        assert after.matching(f"campaign_outbox_{gauge}", service="payment"), gauge
    # The outbox relay publishes through the broker, whose FastStream middleware counts it.
    assert after.matching("faststream_published_messages_total", app_name="payment")


async def test_poison_message_moves_the_dead_letter_counter_of_its_consumer(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    settings = settings_for(PlannerSettings, infra)
    url = f"http://127.0.0.1:{settings.planner_health_port}"
    cid = campaign_id()
    poison = cloud_event(
        CAMPAIGN_REQUESTED,
        campaign_request(cid, budget={"amount": "-10", "currency": "USD"}),
        subject=cid,
    )
    async with running(build_planner, settings) as planner:
        # Whatever earlier tests left on the topic is handled before the count is taken.
        await caught_up(planner, CAMPAIGN_REQUESTED)
        before = await scrape(url)
        await publisher.send(CAMPAIGN_REQUESTED, poison, key=cid)
        await events.wait_for(dead_letter_topic(CAMPAIGN_REQUESTED), lambda e: e.get("key") == cid)
        await caught_up(planner, CAMPAIGN_REQUESTED)
        after = await scrape(url)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    letters = {"service": "planner", "topic": CAMPAIGN_REQUESTED}
    assert moved("campaign_dead_letters_total", **letters, reason="invalid") == 1
    assert moved("campaign_dead_letters_total", **letters, reason="handler") == 0
    handled = {"app_name": "planner", "handler": CAMPAIGN_REQUESTED}
    assert moved("faststream_received_messages_total", **handled) == 1
    assert moved("faststream_received_processed_messages_duration_seconds_count", **handled) == 1
    lag = after.matching("campaign_consumer_lag_messages", service="planner")
    assert CAMPAIGN_REQUESTED in {sample.labels["topic"] for sample in lag}
    assert all(sample.value >= 0 for sample in lag)
    assert after.matching("campaign_outbox_backlog_messages", service="planner")


async def test_emails_sent_are_counted_by_outcome(
    infra: TestInfrastructure, tmp_path: Path
) -> None:
    async with smtp_sink(tmp_path / "mail") as sink:
        settings = settings_for(
            LauncherSettings,
            infra,
            mongodb_db_prefix=f"metrics{uuid.uuid4().hex[:8]}_",
            launcher_smtp_url=sink.url,
            launcher_sender="Example Shop <offers@shop.example.com>",
            launcher_public_url="https://t.shop.example.com",
        )
        url = f"http://127.0.0.1:{settings.launcher_api_port}"
        client = connect(infra.mongodb, app_name="test-metrics")
        db = service_database(client, "launcher", settings.mongodb_db_prefix)
        try:
            async with running(lambda given: email_service(given)[0], settings):
                before = await scrape(url)
                await until_settled(db, await seed_campaign(db, people(2)))
                after = await scrape(url)
        finally:
            await client.close()

    sent = "campaign_messages_sent_total"
    accepted = after.value(sent, channel="email", outcome="accepted")
    assert accepted - before.value(sent, channel="email", outcome="accepted") == 2
    assert after.value(sent) - before.value(sent) == 2
