"""The launcher against the real broker and database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.launcher.app import build
from services.launcher.settings import LauncherSettings
from shared.events.topics import (
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
)
from tests.support.factories import (
    campaign_content_generated,
    campaign_id,
    campaign_planned,
    campaign_segmented,
)
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.services import running, settings_for

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

INPUTS = {
    CAMPAIGN_PLANNED: campaign_planned,
    CAMPAIGN_SEGMENTED: campaign_segmented,
    CAMPAIGN_CONTENT_GENERATED: campaign_content_generated,
}


def input_event(topic: str, cid: str) -> dict[str, Any]:
    return cloud_event(topic, INPUTS[topic](cid), subject=cid)


async def send_inputs(
    publisher: Publisher, cid: str, topics: tuple[str, ...], key: str = ""
) -> None:
    for topic in topics:
        await publisher.send(topic, input_event(topic, cid), key=key or cid)


async def test_campaign_launches_with_its_reach_once_everything_has_arrived(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    sent = {topic: input_event(topic, cid) for topic in INPUTS}
    async with running(build, settings_for(LauncherSettings, infra)):
        for topic, event in sent.items():
            await publisher.send(topic, event, key=cid)
        [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid))
    # email: 800 + 500 opted in; social 17,500 / 9 CPM; web 12,500 / 6 CPM (floored).
    assert launched["data"]["reach"] == {"email": 1300, "social": 1_944_444, "web": 2_083_333}
    assert launched["data"]["total_reach"] == 1300 + 1_944_444 + 2_083_333
    assert launched["correlationid"] == cid
    # Caused by whichever input completed the campaign: topics are consumed independently.
    assert launched["causationid"] in {event["id"] for event in sent.values()}


async def test_campaign_launches_exactly_once_whatever_the_order_of_arrival(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    orders = {
        campaign_id(): (CAMPAIGN_CONTENT_GENERATED, CAMPAIGN_SEGMENTED, CAMPAIGN_PLANNED),
        campaign_id(): (CAMPAIGN_SEGMENTED, CAMPAIGN_PLANNED, CAMPAIGN_CONTENT_GENERATED),
    }
    together = campaign_id()
    async with running(build, settings_for(LauncherSettings, infra)):
        for cid, topics in orders.items():
            for topic in topics:
                await send_inputs(publisher, cid, (topic,))
                await events.wait_for(topic, for_campaign(cid))
        # All three consumers see their input at about the same time: a race on completion.
        await send_inputs(publisher, together, tuple(INPUTS))
        for cid in (*orders, together):
            await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid))
        await launch_sentinel(publisher, events, keys=(*orders, together))
    for cid in (*orders, together):
        assert len(events.matching(CAMPAIGN_LAUNCHED, for_campaign(cid))) == 1


async def test_redelivered_inputs_change_nothing_and_emit_nothing_new(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    sent = {topic: input_event(topic, cid) for topic in INPUTS}
    async with running(build, settings_for(LauncherSettings, infra)) as service:
        for topic, event in sent.items():
            await publisher.send(topic, event, key=cid)
        [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid))
        for topic, event in sent.items():
            await publisher.send(topic, event, key=cid)
        await launch_sentinel(publisher, events, keys=(cid,))
        stored = await service.infra.db["launches"].find({"_id": cid}).to_list()
    assert len(events.matching(CAMPAIGN_LAUNCHED, for_campaign(cid))) == 1
    assert len(stored) == 1
    assert stored[0]["total_reach"] == launched["data"]["total_reach"]


async def launch_sentinel(publisher: Publisher, events: EventLog, *, keys: tuple[str, ...]) -> None:
    """Launch a fresh campaign on each of ``keys``' partitions and wait for it.

    Partitions are read in order, so once every sentinel has launched, every event sent
    earlier on those keys has been handled.
    """
    sentinels = [campaign_id() for _ in keys]
    for sentinel, key in zip(sentinels, keys, strict=True):
        await send_inputs(publisher, sentinel, tuple(INPUTS), key=key)
    for sentinel in sentinels:
        await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(sentinel))
