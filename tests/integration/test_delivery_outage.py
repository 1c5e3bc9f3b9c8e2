"""An infrastructure outage delays a valid event; it never dead-letters it.

The planner stands in for every service: its campaign.requested handler reads the database
before its transaction, so each attempt during an outage fails as soon as the driver gives
up selecting a server, as any handler's first read would.
"""

from __future__ import annotations

import logging

import pytest

from services.planner.app import build
from services.planner.settings import PlannerSettings
from shared.devstack.processes import host_port
from shared.events.topics import CAMPAIGN_PLANNED, CAMPAIGN_REQUESTED, dead_letter_topic
from tests.support.factories import campaign_id, campaign_request
from tests.support.kafka import EventLog, cloud_event, for_campaign
from tests.support.services import caught_up, consumer_of, running, settings_for, until
from tests.support.tcp_proxy import tcp_proxy

MAX_ATTEMPTS = 2


def letters_for(events: EventLog, cid: str) -> list[dict[str, object]]:
    return events.matching(dead_letter_topic(CAMPAIGN_REQUESTED), lambda e: e.get("key") == cid)


def failures_logged(caplog: pytest.LogCaptureFixture, cid: str) -> int:
    """Warnings the delivery policy logged while handling this campaign's request."""
    return sum(
        1
        for record in caplog.records
        if record.name.startswith("shared.messaging")
        and record.levelno >= logging.WARNING
        and getattr(record, "correlation_id", None) == cid
    )


async def test_request_arriving_during_a_database_outage_is_planned_once_when_it_ends(
    infra, publisher, events, caplog
):
    caplog.set_level(logging.WARNING, logger="shared.messaging")
    cid = campaign_id("outage")
    request = cloud_event(CAMPAIGN_REQUESTED, campaign_request(cid), subject=cid)
    async with tcp_proxy(*host_port(infra.mongodb, 27017)) as database:
        settings = settings_for(
            PlannerSettings,
            infra,
            mongodb_url=database.url_for(infra.mongodb),
            mongodb_server_selection_timeout_seconds=0.5,
            handler_max_attempts=MAX_ATTEMPTS,
        )
        async with running(build, settings) as planner:
            await caught_up(planner, CAMPAIGN_REQUESTED)
            database.cut()
            try:
                await publisher.send(CAMPAIGN_REQUESTED, request, key=cid)
                await until(
                    lambda: failures_logged(caplog, cid) > MAX_ATTEMPTS or letters_for(events, cid),
                    timeout=120,
                    what=f"more than {MAX_ATTEMPTS} failed attempts on {cid}",
                )
                assert letters_for(events, cid) == [], "dead-lettered for a database outage"
                paused_during = consumer_of(planner, CAMPAIGN_REQUESTED).paused()
            finally:
                database.restore()
            await events.wait_for(CAMPAIGN_PLANNED, for_campaign(cid))
            await caught_up(planner, CAMPAIGN_REQUESTED)
            paused_after = consumer_of(planner, CAMPAIGN_REQUESTED).paused()
    assert [tp.topic for tp in paused_during] == [CAMPAIGN_REQUESTED]
    assert paused_after == set()
    assert database.refused > 0
    assert len(events.matching(CAMPAIGN_PLANNED, for_campaign(cid))) == 1
    assert letters_for(events, cid) == []
