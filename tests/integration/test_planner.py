"""The planner against the real broker and database."""

from decimal import Decimal

from services.planner.app import build
from services.planner.settings import PlannerSettings
from shared.events.topics import (
    CAMPAIGN_PLANNED,
    CAMPAIGN_REJECTED,
    CAMPAIGN_REQUESTED,
    dead_letter_topic,
)
from tests.support.factories import campaign_id, campaign_request
from tests.support.kafka import cloud_event, for_campaign
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
    allocation = {k: Decimal(v) for k, v in planned["data"]["allocation"].items()}
    assert sum(allocation.values()) == Decimal("50000.00")
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
