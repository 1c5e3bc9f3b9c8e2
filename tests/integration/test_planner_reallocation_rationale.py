"""A reallocation's rationale by the real OpenAI SDK against a local server playing the API:
the model may quote only the decision's numbers, or the offline rationale stands."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.planner.app import build
from services.planner.engines.rationale import (
    RationaleWriter,
    ReallocationFacts,
    offline_rationale,
    reallocation_facts,
)
from services.planner.reallocation import ReallocationRules
from services.planner.replanning import replan
from services.planner.response_curves import ResponseCurve
from services.planner.settings import PlannerSettings
from shared.ai.costs import DEFAULT_PRICES, PriceTable
from shared.ai.openai_model import OpenAiModel
from shared.events.campaigns import CampaignPlanned
from shared.events.common import Channel
from shared.events.optimisation import CampaignEvaluated
from shared.events.topics import (
    CAMPAIGN_EVALUATED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REALLOCATED,
    CAMPAIGN_REQUESTED,
)
from shared.money import Money
from tests.support.factories import campaign_id, campaign_planned, campaign_request
from tests.support.fake_llm import FakeLlm, answer, fake_llm_server
from tests.support.kafka import cloud_event, for_campaign
from tests.support.planning import (
    EARNINGS,
    amounts,
    campaign_evaluated,
    decisions_of,
    first_fifth_spent,
)
from tests.support.services import running, settings_for

RULES = ReallocationRules(max_shift=Decimal("0.2"), min_share=Decimal("0.1"))
INVENTED = {"rationale": "Social returns 4.7x what web does, so it should take 35% more."}
PLAN_PROPOSAL = {
    "allocation": [
        {"channel": "email", "amount": "20000.00"},
        {"channel": "social", "amount": "17500.00"},
        {"channel": "web", "amount": "12500.00"},
    ],
    "rationale": "Email converts best, so it leads; social and web widen reach.",
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlm]:
    with fake_llm_server() as server:
        yield server


def writer(fake: FakeLlm) -> RationaleWriter:
    model = OpenAiModel(
        api_key="test-key", model="gpt-4.1", base_url=fake.openai_base_url, timeout_seconds=10
    )
    return RationaleWriter(model, PriceTable(DEFAULT_PRICES), budget_seconds=30)


def decided_facts() -> ReallocationFacts:
    plan = CampaignPlanned.model_validate(campaign_planned("c-rationale"))
    spent = first_fifth_spent({c.value: m.amount for c, m in plan.allocation.items()})
    evaluated = CampaignEvaluated.model_validate(
        campaign_evaluated(plan.campaign_id, 2, spent, EARNINGS)["data"]
    )
    curves = {
        Channel.EMAIL: ResponseCurve(purchases_ceiling=667, saturation_spend=20000),
        Channel.SOCIAL: ResponseCurve(purchases_ceiling=3000, saturation_spend=40000),
        Channel.WEB: ResponseCurve(purchases_ceiling=100, saturation_spend=30000),
    }
    replanning = replan(plan, plan.allocation, evaluated, curves, RULES)
    net = {f.channel: f.net for f in evaluated.channels}
    return reallocation_facts(plan.name, evaluated.cycle, replanning, net, RULES)


async def test_a_rationale_quoting_an_invented_number_is_refused_and_the_offline_one_stands(fake):
    facts = decided_facts()
    fake.script(answer(INVENTED), answer(INVENTED))
    decision = await writer(fake).write(facts)
    assert len(fake.requests) == 2  # re-asked once with the violations, then offline
    reask = fake.requests[1]["messages"][-1]["content"]
    assert "the rationale quotes 4.7, which the decision does not hold" in reask
    assert decision.engine == "offline-fallback"
    assert decision.output == offline_rationale(facts)
    assert "the rationale quotes 35%, which the decision does not hold" in decision.violations
    assert decision.fallback_reason is not None
    assert "guardrail violations" in decision.fallback_reason


async def test_a_rationale_quoting_only_the_decisions_numbers_is_kept(fake):
    facts = decided_facts()
    social_net = facts.net[Channel.SOCIAL].amount
    text = (
        f"Social earned {social_net:,} net on {facts.spent[Channel.SOCIAL].amount:,} spent, far "
        f"ahead of web, so {facts.moved.amount:,} moved to it: the most the 20% shift limit "
        "allows this cycle, while web keeps at least 10% of what is left."
    )
    fake.script(answer({"rationale": text}))
    decision = await writer(fake).write(facts)
    assert decision.engine == "openai:gpt-4.1"
    assert decision.violations == []
    assert decision.output.rationale == text
    [sent] = fake.requests
    assert sent["response_format"]["json_schema"]["name"] == "ReallocationRationale"
    assert str(facts.moved.amount) in sent["messages"][1]["content"]


def by_step(body: dict[str, Any]) -> Any:
    """A valid plan for a planning request, an invented number for a rationale request."""
    schema = body["response_format"]["json_schema"]["name"]
    return answer(PLAN_PROPOSAL if schema == "PlanProposal" else INVENTED)


async def test_the_service_publishes_the_offline_rationale_and_logs_the_refused_one(
    infra, publisher, events, fake
):
    cid = campaign_id()
    fake.script()
    fake.respond_with(by_step)
    settings = settings_for(
        PlannerSettings,
        infra,
        mongodb_db_prefix=f"rationale{uuid.uuid4().hex[:8]}_",
        planner_engine="openai",
        openai_api_key="test-key",
        openai_base_url=fake.openai_base_url,
    )
    async with running(build, settings) as service:
        request = cloud_event(CAMPAIGN_REQUESTED, campaign_request(cid), subject=cid)
        await publisher.send(CAMPAIGN_REQUESTED, request, key=cid)
        [planned] = await events.wait_for(CAMPAIGN_PLANNED, for_campaign(cid))
        spent = first_fifth_spent(amounts(planned["data"]["allocation"]))
        await publisher.send(
            CAMPAIGN_EVALUATED, campaign_evaluated(cid, 0, spent, EARNINGS), key=cid
        )
        [reallocated] = await events.wait_for(CAMPAIGN_REALLOCATED, for_campaign(cid))
        decisions = await decisions_of(service, cid)

    data = reallocated["data"]
    assert data["engine"] == "offline-fallback"
    assert data["rationale"].startswith("Cycle 0: ")
    assert Decimal(data["ai_cost"]) > 0  # the refused answers were paid for
    [rationale] = [d for d in decisions if d["step"] == "reallocation-rationale"]
    assert rationale["engine"] == "offline-fallback"
    assert rationale["model"] == "gpt-4.1"
    assert "the rationale quotes 4.7, which the decision does not hold" in rationale["violations"]
    assert rationale["output"]["rationale"] == data["rationale"]
    assert Money.model_validate(data["remaining"]).is_positive()
    assert datetime.fromisoformat(data["as_of"]) <= datetime.now(UTC)
