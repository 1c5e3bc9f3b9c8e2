"""Who consumes what: each consumer group's members, as the broker lists them, and the
partitions each member was last assigned, as its service logged them; and every record a
topic holds up to its end.

The embedded broker (tansu) answers DescribeGroups with the members' ids but neither their
client ids nor their assignments, so the assignments come from the services' own log lines
(FastStream's ``Consumer <member id> assigned to partitions: (...)``). A member id starts
with its client id, which is the replica's instance id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from shared.messaging.topic_reading import records_up_to_now

ASSIGNED = re.compile(r"Consumer (\S+) assigned to partitions: (.*)$")
TOPIC_PARTITION = re.compile(r"topic='([^']+)', partition=(\d+)")


async def members(bootstrap: str, groups: Iterable[str]) -> dict[str, list[str]]:
    """Each of ``groups`` with its members' ids."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # One group a request: the embedded broker drops the connection when asked for more.
        # (Nor does it list a group before the group commits an offset: name them.)
        responses = [r for g in groups for r in await admin.describe_consumer_groups([g])]
    finally:
        await admin.close()
    return {
        group["group"]: [member["member_id"] for member in group["members"]]
        for response in responses
        for group in response.to_object()["groups"]
    }


def logged_assignments(log: Path) -> dict[str, set[tuple[str, int]]]:
    """Each consumer's (member id's) partitions, as its latest rebalance left them."""
    latest: dict[str, set[tuple[str, int]]] = {}
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if found := ASSIGNED.search(line):
                latest[found[1]] = {(t, int(p)) for t, p in TOPIC_PARTITION.findall(found[2])}
    return latest


async def everything_on(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record ``topic`` holds now, decoded: whatever was published before the call is in
    the answer."""
    return [json.loads(r.value) for r in await records_up_to_now(bootstrap, [topic])]
