"""A service killed mid-stream and restarted loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pymongo import AsyncMongoClient

from shared.devstack.processes import ProcessGroup
from shared.events.topics import CAMPAIGN_PLANNED, CAMPAIGN_REQUESTED
from tests.support.factories import campaign_id, campaign_request
from tests.support.infrastructure import free_port
from tests.support.kafka import cloud_event

REQUESTS = 40


async def test_planner_killed_mid_stream_then_restarted_plans_every_campaign_once(
    infra, publisher, events, tmp_path: Path
):
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongodb,
        "MONGODB_DB_PREFIX": infra.db_prefix + "crash_",
        "PLANNER_HEALTH_PORT": str(free_port()),
        "LOG_FORMAT": "text",
    }
    processes = ProcessGroup(tmp_path)
    ids = [campaign_id("crash") for _ in range(REQUESTS)]
    planned_for = lambda e: e["data"].get("campaign_id") in ids  # noqa: E731
    try:
        processes.start_service("planner", env)
        for cid in ids:
            request = cloud_event(CAMPAIGN_REQUESTED, campaign_request(cid), subject=cid)
            await publisher.send(CAMPAIGN_REQUESTED, request, key=cid)
        await events.wait_for(CAMPAIGN_PLANNED, planned_for, count=3, timeout=60)
        processes.kill("planner")
        killed_after = len(events.matching(CAMPAIGN_PLANNED, planned_for))

        processes.start_service("planner", env)
        await events.wait_for(CAMPAIGN_PLANNED, planned_for, count=REQUESTS, timeout=120)
        await asyncio.sleep(2)  # let any duplicate publication surface before counting
        exit_codes = processes.stop(["planner"])
    finally:
        processes.stop()

    assert killed_after < REQUESTS, "the kill should land mid-stream"
    planned = events.matching(CAMPAIGN_PLANNED, planned_for)
    event_ids_by_campaign: dict[str, set[str]] = {}
    for event in planned:
        event_ids_by_campaign.setdefault(event["data"]["campaign_id"], set()).add(event["id"])
    assert set(event_ids_by_campaign) == set(ids)
    assert all(len(v) == 1 for v in event_ids_by_campaign.values())
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb)
    stored = await client[f"{infra.db_prefix}crash_planner"]["plans"].count_documents({})
    await client.close()
    assert stored == REQUESTS
    assert exit_codes == {"planner": 0}, "SIGTERM should shut down cleanly"
