"""campaignctl against the real broker: what it publishes is what the services expect."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from services.analytics.app import build as build_analytics
from services.analytics.settings import AnalyticsSettings
from shared.cli.customer_base import generate_customer_base
from shared.cli.customer_import import customer_lines
from shared.events.campaigns import CampaignRequested
from shared.events.customers import CustomerUpserted
from shared.events.topics import CAMPAIGN_PLANNED, CAMPAIGN_REQUESTED, CUSTOMER_UPSERTED
from shared.settings import DEV_ONLY_ANALYTICS_API_KEY
from tests.support.cli import campaignctl
from tests.support.factories import campaign_id, campaign_planned, campaign_request
from tests.support.kafka import cloud_event
from tests.support.services import running, settings_for


async def records_with_key_prefix(
    kafka: str, topic: str, prefix: str, count: int, timeout: float = 30
) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(timeout):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=500)
                found += [
                    record
                    for records in batches.values()
                    for record in records
                    if record.key and record.key.decode().startswith(prefix)
                ]
    finally:
        await consumer.stop()
    return found


async def test_import_publishes_one_customer_upserted_per_valid_line_keyed_by_customer(
    infra, publisher, tmp_path
):
    prefix = f"cli-{uuid.uuid4().hex[:8]}-"
    customers = [
        customer.model_copy(update={"customer_id": f"{prefix}{n}"})
        for n, customer in enumerate(generate_customer_base(40, seed=3))
    ]
    path = tmp_path / "customers.jsonl"
    path.write_text(customer_lines(customers) + '{"customer_id": "incomplete"}\n')

    result = await campaignctl(infra, "customers", "import", str(path), "--no-wait")

    assert result.exit_code == 1, result.output
    assert f"{path}:41: email" in result.stderr
    records = await records_with_key_prefix(infra.kafka, CUSTOMER_UPSERTED, prefix, 40)
    events = [json.loads(record.value) for record in records]
    assert sorted(r.key.decode() for r in records) == sorted(c.customer_id for c in customers)
    assert {e["type"] for e in events} == {CUSTOMER_UPSERTED}
    assert {e["source"] for e in events} == {"/clients/campaignctl"}
    published = {e["subject"]: CustomerUpserted.model_validate(e["data"]) for e in events}
    assert published == {c.customer_id: c for c in customers}


async def test_request_publishes_a_well_formed_campaign_requested(infra, publisher):
    cid = campaign_id("cli")
    expected = CampaignRequested.model_validate(campaign_request(cid))

    result = await campaignctl(
        infra,
        "request",
        "--campaign-id", cid,
        "--name", expected.name,
        "--budget", "50000.00",
        "--sku", expected.product.sku,
        "--product-name", expected.product.name,
        "--price", "149.99",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    [record] = await records_with_key_prefix(infra.kafka, CAMPAIGN_REQUESTED, cid, 1)
    event = json.loads(record.value)
    assert record.key.decode() == cid
    assert event["specversion"] == "1.0"
    assert event["type"] == CAMPAIGN_REQUESTED
    assert event["source"] == "/clients/campaignctl"
    assert event["subject"] == event["correlationid"] == cid
    assert "causationid" not in event
    assert CampaignRequested.model_validate(event["data"]) == expected


async def test_watch_prints_the_campaigns_events_and_no_others(infra, publisher, tmp_path):
    cid, other = campaign_id("watched"), campaign_id("other")
    for each in (cid, other):
        path = tmp_path / f"{each}.json"
        path.write_text(json.dumps(campaign_request(each)))
        assert (await campaignctl(infra, "request", "--file", str(path))).exit_code == 0

    result = await campaignctl(infra, "watch", cid, "--timeout", "5")

    assert result.exit_code == 0, result.output
    assert "campaign.requested" in result.stdout
    assert "Spring sale, budget 50,000.00 USD" in result.stdout
    assert result.stdout.count("campaign.requested") == 1


async def test_report_sends_the_analytics_key_it_is_given(infra, publisher):
    cid = campaign_id("cli")
    key = f"analytics-key-{uuid.uuid4().hex}"
    settings = settings_for(AnalyticsSettings, infra, analytics_api_key=key)
    planned = cloud_event(CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid)
    env = {"ANALYTICS_API_PORT": str(settings.analytics_api_port)}

    async with running(build_analytics, settings):
        await publisher.send(CAMPAIGN_PLANNED, planned, key=cid)
        async with asyncio.timeout(30):
            while (
                shown := await campaignctl(infra, "report", cid, **env, ANALYTICS_API_KEY=key)
            ).exit_code:
                assert "has no report" in shown.stderr, shown.output
                await asyncio.sleep(0.2)
        refused = await campaignctl(
            infra, "report", cid, **env, ANALYTICS_API_KEY=DEV_ONLY_ANALYTICS_API_KEY
        )

    assert "Spring sale" in shown.stdout
    assert refused.exit_code == 1
    assert "analytics refused the key (401): set ANALYTICS_API_KEY" in refused.stderr
