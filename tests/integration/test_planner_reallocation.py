"""The planner re-plans a running campaign's remaining budget: real broker and database."""

from __future__ import annotations

import uuid
from decimal import Decimal

from services.planner.app import build
from services.planner.settings import PlannerSettings
from shared.events.topics import (
    CAMPAIGN_EVALUATED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REALLOCATED,
    CAMPAIGN_REQUESTED,
)
from tests.support.factories import campaign_id, campaign_request
from tests.support.kafka import cloud_event, for_campaign
from tests.support.planning import (
    EARNINGS,
    amounts,
    campaign_evaluated,
    decisions_of,
    first_fifth_spent,
    of_cycle,
)
from tests.support.services import running, settings_for

MAX_SHIFT, MIN_SHARE = Decimal("0.20"), Decimal("0.10")


async def test_a_channel_earning_far_more_gains_budget_within_the_guardrails_once_per_cycle(
    infra, publisher, events
):
    cid = campaign_id()
    settings = settings_for(
        PlannerSettings,
        infra,
        mongodb_db_prefix=f"realloc{uuid.uuid4().hex[:8]}_",
        planner_max_shift=MAX_SHIFT,
        planner_min_share=MIN_SHARE,
    )
    async with running(build, settings) as service:
        request = campaign_request(cid)
        await publisher.send(
            CAMPAIGN_REQUESTED, cloud_event(CAMPAIGN_REQUESTED, request, subject=cid), key=cid
        )
        [planned] = await events.wait_for(CAMPAIGN_PLANNED, for_campaign(cid))
        plan = amounts(planned["data"]["allocation"])
        spent = first_fifth_spent(plan)
        evaluated = campaign_evaluated(cid, 0, spent, EARNINGS)
        await publisher.send(CAMPAIGN_EVALUATED, evaluated, key=cid)
        [reallocated] = await events.wait_for(CAMPAIGN_REALLOCATED, of_cycle(cid, 0))
        # The same cycle again: redelivered as it was, and evaluated afresh under a new id.
        await publisher.send(CAMPAIGN_EVALUATED, evaluated, key=cid)
        await publisher.send(
            CAMPAIGN_EVALUATED, campaign_evaluated(cid, 0, spent, EARNINGS), key=cid
        )
        # The next cycle, behind them on the campaign's partition, shows they were consumed.
        later = spent | {"social": spent["social"] + 1}
        await publisher.send(
            CAMPAIGN_EVALUATED, campaign_evaluated(cid, 1, later, EARNINGS), key=cid
        )
        await events.wait_for(CAMPAIGN_REALLOCATED, of_cycle(cid, 1))
        decisions = await decisions_of(service, cid)

    assert len(events.matching(CAMPAIGN_REALLOCATED, of_cycle(cid, 0))) == 1
    data = reallocated["data"]
    budget = Decimal(request["budget"]["amount"])
    remaining = Decimal(data["remaining"]["amount"])
    assert remaining == budget - sum(spent.values())
    assert amounts(data["previous"]) == plan
    assert amounts(data["spent"]) == spent
    new = amounts(data["allocation"])
    left_before = {c: plan[c] - spent[c] for c in ("social", "web")}
    left_after = {c: new[c] - spent[c] for c in ("social", "web")}
    live_left = sum(left_before.values())
    assert sum(left_after.values()) == live_left
    assert new["email"] == plan["email"]  # a fixed cost: not a lever
    assert sum(new.values()) - sum(spent.values()) == remaining
    assert sum(new.values()) <= budget
    moved = sum(max(left_after[c] - left_before[c], Decimal(0)) for c in left_before)
    assert 0 < moved <= MAX_SHIFT * live_left <= MAX_SHIFT * remaining
    assert all(left >= MIN_SHARE * live_left for left in left_after.values())
    assert left_after["social"] > left_before["social"]
    assert data["engine"] == "offline"
    assert data["reasons"]
    assert data["rationale"].startswith("Cycle 0: ")

    assert decisions[0]["step"] == "plan"
    decisions = decisions[1:]
    steps = [(d["step"], d["engine"], d["output"].get("cycle")) for d in decisions]
    assert steps[:2] == [("reallocate", "rules", 0), ("reallocation-rationale", "offline", None)]
    assert [s for s in steps if s[0] == "reallocate"] == [
        ("reallocate", "rules", 0),
        ("reallocate", "rules", 1),
    ]
    assert decisions[0]["summary"].startswith("cycle 0: moved ")
    assert decisions[1]["output"]["rationale"] == data["rationale"]
