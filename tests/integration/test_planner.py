"""The planner against the real broker and database."""

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.planner.app import build
from services.planner.settings import PlannerSettings
from shared.events.topics import (
    CAMPAIGN_PERFORMANCE,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REJECTED,
    CAMPAIGN_REQUESTED,
    CAMPAIGN_SEGMENTED,
    dead_letter_topic,
)
from shared.runtime import Service
from tests.support.factories import campaign_id, campaign_request, campaign_segmented
from tests.support.kafka import cloud_event, for_campaign
from tests.support.planning import given_audience
from tests.support.services import running, settings_for


async def test_requested_campaign_is_planned_once_even_when_requested_twice(
    infra, publisher, events
):
    cid = campaign_id()
    async with running(build, settings_for(PlannerSettings, infra)):
        await publisher.send(
            CAMPAIGN_REQUESTED,
            cloud_event(CAMPAIGN_REQUESTED, campaign_request(cid), subject=cid),
            key=cid,
        )
        await publisher.send(
            CAMPAIGN_REQUESTED,
            cloud_event(CAMPAIGN_REQUESTED, campaign_request(cid), subject=cid),
            key=cid,
        )
        [planned] = await events.wait_for(CAMPAIGN_PLANNED, for_campaign(cid))
        sentinel = campaign_id()
        await publisher.send(
            CAMPAIGN_REQUESTED,
            cloud_event(CAMPAIGN_REQUESTED, campaign_request(sentinel), subject=sentinel),
            key=sentinel,
        )
        await events.wait_for(CAMPAIGN_PLANNED, for_campaign(sentinel))
    assert len(events.matching(CAMPAIGN_PLANNED, for_campaign(cid))) == 1
    allocation = planned["data"]["allocation"].values()
    assert sum(Decimal(spend["amount"]) for spend in allocation) == Decimal("50000.00")
    assert {spend["currency"] for spend in allocation} == {"USD"}
    assert planned["correlationid"] == cid
    assert planned["causationid"] is not None


async def test_invalid_request_is_rejected_naming_the_field_and_dead_lettered(
    infra, publisher, events
):
    cid = campaign_id()
    bad = campaign_request(
        cid, budget={"amount": "-10", "currency": "USD"}, channels=["email", "fax"]
    )
    request = cloud_event(CAMPAIGN_REQUESTED, bad, subject=cid)
    async with running(build, settings_for(PlannerSettings, infra)):
        await publisher.send(CAMPAIGN_REQUESTED, request, key=cid)
        [rejected] = await events.wait_for(CAMPAIGN_REJECTED, for_campaign(cid))
        [letter] = await events.wait_for(
            dead_letter_topic(CAMPAIGN_REQUESTED), lambda e: e.get("key") == cid
        )
    fields = {error["field"] for error in rejected["data"]["errors"]}
    assert {"budget", "channels.1"} <= fields
    assert letter["attempts"] == 1
    assert {e["field"] for e in letter["error"]["errors"]} == fields
    assert events.matching(CAMPAIGN_PLANNED, for_campaign(cid)) == []


async def test_reported_performance_teaches_the_curves_used_for_the_next_plan(
    infra, publisher, events
):
    settings = settings_for(
        PlannerSettings,
        infra,
        mongodb_db_prefix=f"learn{uuid.uuid4().hex[:8]}_",
        planner_min_observations=1,
    )
    first, second = campaign_id(), campaign_id()
    async with running(build, settings) as service:
        await given_audience(service, reachable=10**6, expected_purchases=10**9)  # no bound
        await publisher.send(
            CAMPAIGN_REQUESTED,
            cloud_event(CAMPAIGN_REQUESTED, campaign_request(first), subject=first),
            key=first,
        )
        [planned] = await events.wait_for(CAMPAIGN_PLANNED, for_campaign(first))
        predicted = Decimal(planned["data"]["predicted_revenue"]["amount"])
        # The campaign earned twice what was predicted, in every channel alike.
        earned = {"amount": str(2 * predicted), "currency": "USD"}
        ended = datetime.fromisoformat(planned["data"]["schedule"]["ends_at"])
        performance = campaign_performance(first, gross_revenue=earned, as_of=ended.isoformat())
        await publisher.send(
            CAMPAIGN_PERFORMANCE,
            cloud_event(CAMPAIGN_PERFORMANCE, performance, subject=first),
            key=first,
        )
        await observations_recorded(service, first)
        await publisher.send(
            CAMPAIGN_REQUESTED,
            cloud_event(CAMPAIGN_REQUESTED, campaign_request(second), subject=second),
            key=second,
        )
        [replanned] = await events.wait_for(CAMPAIGN_PLANNED, for_campaign(second))
    assert replanned["data"]["allocation"] == planned["data"]["allocation"]
    learned = Decimal(replanned["data"]["predicted_revenue"]["amount"])
    assert abs(learned - 2 * predicted) <= Decimal("0.05")
    assert "learned from 1 past campaigns" in replanned["data"]["rationale"]


async def test_a_segmentation_bounds_what_the_next_plan_expects_of_email(infra, publisher, events):
    settings = settings_for(
        PlannerSettings, infra, mongodb_db_prefix=f"audience{uuid.uuid4().hex[:8]}_"
    )
    earlier, cid = campaign_id(), campaign_id()
    segments = [
        {
            "segment_id": "loyal",
            "name": "Loyal",
            "size": 500,
            "email_reachable": 321,
            "predicted_conversion_rate": 0.05,
        }
    ]
    segmented = campaign_segmented(earlier, segments=segments)
    async with running(build, settings) as service:
        await publisher.send(
            CAMPAIGN_SEGMENTED,
            cloud_event(CAMPAIGN_SEGMENTED, segmented, subject=earlier),
            key=earlier,
        )
        audiences = service.infra.db["audiences"]
        async with asyncio.timeout(30):
            while (await audiences.find_one({"_id": "latest", "reachable": 321})) is None:
                await asyncio.sleep(0.1)
        await publisher.send(
            CAMPAIGN_REQUESTED,
            cloud_event(CAMPAIGN_REQUESTED, campaign_request(cid), subject=cid),
            key=cid,
        )
        [planned] = await events.wait_for(CAMPAIGN_PLANNED, for_campaign(cid))

    data = planned["data"]
    assert "audience of 321 opted-in customers" in data["rationale"]
    # 321 x 5% = 16.05 purchases at most, at the request's 149.99.
    email_revenue = data["predicted_revenue_by_channel"]["email"]
    assert Decimal(email_revenue["amount"]) <= Decimal("16.05") * Decimal("149.99")


async def observations_recorded(service: Service, cid: str) -> None:
    """Wait until the planner has stored what the campaign's performance taught it."""
    observations = service.infra.db["observations"]
    async with asyncio.timeout(30):
        while await observations.count_documents({"campaign_id": cid}) == 0:
            await asyncio.sleep(0.1)


def campaign_performance(cid: str, **overrides: Any) -> dict[str, Any]:
    zero = {"amount": "0.00", "currency": "USD"}
    performance: dict[str, Any] = {
        "campaign_id": cid,
        "as_of": datetime.now(UTC).isoformat(),
        "gross_revenue": zero,
        "fees": zero,
        "net_revenue": zero,
        "payments_completed": 0,
        "payments_failed": 0,
        "success_rate": 0,
        "average_transaction": zero,
        "processor_mix": [],
        "reach": 0,
    }
    return performance | overrides
