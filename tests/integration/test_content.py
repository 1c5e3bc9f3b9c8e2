"""The content service against the real broker and database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.content.app import build
from services.content.settings import ContentSettings
from shared.events.topics import CAMPAIGN_CONTENT_GENERATED, CAMPAIGN_PLANNED, CAMPAIGN_SEGMENTED
from tests.support.factories import campaign_id, campaign_planned, campaign_segmented
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.services import running, settings_for

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


def planned_event(cid: str) -> dict[str, Any]:
    return cloud_event(CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid)


def segmented_event(cid: str) -> dict[str, Any]:
    return cloud_event(CAMPAIGN_SEGMENTED, campaign_segmented(cid), subject=cid)


async def test_content_is_generated_once_the_plan_and_the_segments_have_arrived(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    planned, segmented = planned_event(cid), segmented_event(cid)
    settings = settings_for(ContentSettings, infra, content_landing_base_url="https://x.example")
    async with running(build, settings):
        await publisher.send(CAMPAIGN_PLANNED, planned, key=cid)
        await publisher.send(CAMPAIGN_SEGMENTED, segmented, key=cid)
        [generated] = await events.wait_for(CAMPAIGN_CONTENT_GENERATED, for_campaign(cid))
    content = generated["data"]["content"]
    assert len(content) == 2 * 3 * 3  # segments x channels x A/B/C
    assert {piece["variant_id"] for piece in content} >= {"at_risk-web-a", "at_risk-web-b"}
    assert all(piece["cta_url"].startswith("https://x.example/p/") for piece in content)
    assert all(f"utm_campaign={cid}" in piece["cta_url"] for piece in content)
    assert generated["correlationid"] == cid
    # Caused by whichever input arrived second: topics are consumed independently.
    assert generated["causationid"] in {planned["id"], segmented["id"]}


async def test_emails_carry_the_configured_footer_and_banned_claims_drop_their_pieces(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    settings = settings_for(
        ContentSettings,
        infra,
        content_sender_postal_address="Shop Ltd, 1 Main Street, Springfield, USA",
        content_banned_claims=["first access"],  # the high-value segment's value pitch
    )
    async with running(build, settings):
        await publisher.send(CAMPAIGN_PLANNED, planned_event(cid), key=cid)
        await publisher.send(CAMPAIGN_SEGMENTED, segmented_event(cid), key=cid)
        [generated] = await events.wait_for(CAMPAIGN_CONTENT_GENERATED, for_campaign(cid))
    content = generated["data"]["content"]
    variants = {piece["variant_id"] for piece in content}
    assert not variants & {"high_value-email-a", "high_value-social-a", "high_value-web-a"}
    assert len(variants) == 2 * 3 * 3 - 3
    emails = [piece for piece in content if piece["channel"] == "email"]
    assert emails
    for email in emails:
        assert "Unsubscribe: {unsubscribe_url}" in email["body"]
        assert "Shop Ltd, 1 Main Street, Springfield, USA" in email["body"]


async def test_content_is_generated_exactly_once_whatever_the_order_of_arrival(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    segments_first, plan_first, together = campaign_id(), campaign_id(), campaign_id()
    async with running(build, settings_for(ContentSettings, infra)):
        await publisher.send(
            CAMPAIGN_SEGMENTED, segmented_event(segments_first), key=segments_first
        )
        await events.wait_for(CAMPAIGN_SEGMENTED, for_campaign(segments_first))
        await publisher.send(CAMPAIGN_PLANNED, planned_event(segments_first), key=segments_first)

        await publisher.send(CAMPAIGN_PLANNED, planned_event(plan_first), key=plan_first)
        await events.wait_for(CAMPAIGN_PLANNED, for_campaign(plan_first))
        await publisher.send(CAMPAIGN_SEGMENTED, segmented_event(plan_first), key=plan_first)

        # Both consumers see their input at about the same time: a race on completion.
        await publisher.send(CAMPAIGN_PLANNED, planned_event(together), key=together)
        await publisher.send(CAMPAIGN_SEGMENTED, segmented_event(together), key=together)

        for cid in (segments_first, plan_first, together):
            await events.wait_for(CAMPAIGN_CONTENT_GENERATED, for_campaign(cid))
        # A later campaign on the same keys proves the earlier inputs are fully consumed.
        await publish_sentinel(publisher, events, keys=(segments_first, plan_first, together))
    for cid in (segments_first, plan_first, together):
        assert len(events.matching(CAMPAIGN_CONTENT_GENERATED, for_campaign(cid))) == 1


async def test_redelivered_segments_change_nothing_and_emit_nothing_new(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    segmented = segmented_event(cid)
    async with running(build, settings_for(ContentSettings, infra)) as service:
        await publisher.send(CAMPAIGN_PLANNED, planned_event(cid), key=cid)
        await publisher.send(CAMPAIGN_SEGMENTED, segmented, key=cid)
        await events.wait_for(CAMPAIGN_CONTENT_GENERATED, for_campaign(cid))
        await publisher.send(CAMPAIGN_SEGMENTED, segmented, key=cid)
        await publish_sentinel(publisher, events, keys=(cid,))
        stored = await service.infra.db["content"].count_documents({"_id": cid})
    assert len(events.matching(CAMPAIGN_CONTENT_GENERATED, for_campaign(cid))) == 1
    assert stored == 1


async def publish_sentinel(
    publisher: Publisher, events: EventLog, *, keys: tuple[str, ...]
) -> None:
    """Send a fresh campaign's inputs on each of ``keys``' partitions and wait for its content.

    Partitions are read in order, so once every sentinel is through, every event sent
    earlier on those keys has been handled.
    """
    sentinels = []
    for key in keys:
        sentinel = campaign_id()
        sentinels.append(sentinel)
        await publisher.send(CAMPAIGN_PLANNED, planned_event(sentinel), key=key)
        await publisher.send(CAMPAIGN_SEGMENTED, segmented_event(sentinel), key=key)
    for sentinel in sentinels:
        await events.wait_for(CAMPAIGN_CONTENT_GENERATED, for_campaign(sentinel))
