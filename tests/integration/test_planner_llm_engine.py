"""The planner's LLM engine with the real OpenAI SDK against a local server playing the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.planner.app import build, planning_policy
from services.planner.engines.llm import LlmPlanner
from services.planner.settings import PlannerSettings
from shared.ai.costs import DEFAULT_PRICES, PriceTable
from shared.ai.openai_model import OpenAiModel
from shared.events.campaigns import CampaignRequested
from shared.events.common import Channel
from shared.events.topics import CAMPAIGN_PLANNED, CAMPAIGN_REQUESTED
from shared.money import Money, sum_money
from shared.runtime import Service
from tests.support.factories import campaign_id, campaign_request
from tests.support.fake_llm import FakeLlm, answer, fake_llm_server
from tests.support.kafka import cloud_event, for_campaign
from tests.support.planning import given_audience
from tests.support.services import REPORTS_AUTH, running, settings_for

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REQUEST = CampaignRequested.model_validate(campaign_request(campaign_id()))
PROPOSAL = {
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


def planner(fake: FakeLlm | None) -> LlmPlanner:
    model = (
        OpenAiModel(
            api_key="test-key",
            model="gpt-4.1",
            base_url=fake.openai_base_url,
            timeout_seconds=10,
        )
        if fake
        else None
    )
    policy = planning_policy(PlannerSettings())
    return LlmPlanner(policy, model, PriceTable(DEFAULT_PRICES), budget_seconds=30)


async def test_a_valid_proposal_becomes_the_plan_with_a_forecast_from_the_curves(fake):
    fake.script(answer(PROPOSAL))
    plan, decision = await planner(fake).plan(REQUEST, NOW)
    offline, _ = await planner(None).plan(REQUEST, NOW)
    assert plan.engine == decision.engine == "openai:gpt-4.1"
    assert plan.allocation == {
        Channel.EMAIL: Money.of("20000.00", "USD"),
        Channel.SOCIAL: Money.of("17500.00", "USD"),
        Channel.WEB: Money.of("12500.00", "USD"),
    }
    assert plan.rationale == PROPOSAL["rationale"]
    assert plan.predicted_revenue != offline.predicted_revenue  # recomputed, not copied
    [sent] = fake.requests
    assert sent["response_format"]["json_schema"]["name"] == "PlanProposal"
    assert "50000.00" in sent["messages"][1]["content"]


async def test_a_split_off_budget_is_reasked_with_the_violation_then_planned_offline(fake):
    wrong = PROPOSAL | {
        "allocation": [
            {"channel": "email", "amount": "30000.00"},
            {"channel": "social", "amount": "30000.00"},
            {"channel": "web", "amount": "100.00"},
        ]
    }
    fake.script(answer(wrong), answer(wrong))
    plan, decision = await planner(fake).plan(REQUEST, NOW)
    offline, _ = await planner(None).plan(REQUEST, NOW)
    assert len(fake.requests) == 2
    assert "allocation sums to 60100.00 USD" in fake.requests[1]["messages"][-1]["content"]
    assert plan.engine == decision.engine == "offline-fallback"
    assert plan.allocation == offline.allocation
    assert decision.fallback_reason is not None


async def test_without_a_model_the_offline_plan_is_labelled_offline():
    plan, decision = await planner(None).plan(REQUEST, NOW)
    assert plan.engine == decision.engine == "offline"
    assert sum_money(list(plan.allocation.values()), "USD") == REQUEST.budget


async def decisions_of(service: Service, cid: str) -> list[dict[str, Any]]:
    port = service.http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=REPORTS_AUTH) as http:
        response = await http.get(f"/v1/campaigns/{cid}/decisions")
    decisions: list[dict[str, Any]] = response.json()["decisions"]
    return decisions


async def test_the_planner_service_plans_with_the_model_and_logs_the_decision_and_its_cost(
    infra, publisher, events, fake
):
    cid = campaign_id()
    request = campaign_request(cid)
    # Every request gets this answer: a service started mid-session also reads earlier
    # tests' campaigns from the topic, and must not use up a single scripted reply.
    reply = answer(PROPOSAL, input_tokens=1000, output_tokens=200)
    fake.script()
    fake.respond_with(lambda _body: reply)
    settings = settings_for(
        PlannerSettings,
        infra,
        planner_engine="openai",
        openai_api_key="test-key",
        openai_base_url=fake.openai_base_url,
    )
    async with running(build, settings) as service:
        await publisher.send(
            CAMPAIGN_REQUESTED, cloud_event(CAMPAIGN_REQUESTED, request, subject=cid), key=cid
        )
        [planned] = await events.wait_for(CAMPAIGN_PLANNED, for_campaign(cid))
        [decision] = await decisions_of(service, cid)
    # gpt-4.1 list price: 1000 x $2 + 200 x $8 per million tokens.
    assert planned["data"]["engine"] == "openai:gpt-4.1"
    assert Decimal(planned["data"]["ai_cost"]) == Decimal("0.0036")
    assert planned["data"]["allocation"]["email"] == {"amount": "20000.00", "currency": "USD"}
    assert decision["engine"] == "openai:gpt-4.1"
    assert Decimal(decision["cost_usd"]) == Decimal("0.0036")
    assert decision["output"]["rationale"] == PROPOSAL["rationale"]
    assert (decision["input_tokens"], decision["output_tokens"]) == (1000, 200)


async def test_the_same_request_planned_offline_again_reproduces_the_same_decision(
    infra, publisher, events
):
    cid = campaign_id("replay")
    request = campaign_request(cid)
    found = []
    for count, run in enumerate(("first", "second"), start=1):
        # A fresh database each run: the second planner has never seen the campaign.
        prefix = f"{infra.db_prefix}replay_{run}_"
        async with running(
            build, settings_for(PlannerSettings, infra, mongodb_db_prefix=prefix)
        ) as service:
            # The same known audience both times: it is one of the plan's inputs.
            await given_audience(service, reachable=2000, expected_purchases=150.0)
            await publisher.send(
                CAMPAIGN_REQUESTED, cloud_event(CAMPAIGN_REQUESTED, request, subject=cid), key=cid
            )
            await events.wait_for(CAMPAIGN_PLANNED, for_campaign(cid), count=count)
            found.append(await decisions_of(service, cid))
    [first], [second] = found
    assert first["engine"] == second["engine"] == "offline"
    assert first["input_hash"] == second["input_hash"]
    assert first["output"] == second["output"]
