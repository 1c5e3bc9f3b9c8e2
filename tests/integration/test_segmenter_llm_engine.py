"""The segmenter's naming engine with the real Anthropic and OpenAI SDKs against a local
server playing their APIs, and the segmenter service naming with it end to end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.segmenter.app import build
from services.segmenter.engines.llm import SegmentNamer
from services.segmenter.settings import SegmenterSettings
from shared.ai.anthropic_model import AnthropicModel
from shared.ai.costs import DEFAULT_PRICES, PriceTable
from shared.ai.openai_model import OpenAiModel
from shared.ai.provider import StructuredModel
from shared.events.topics import CAMPAIGN_PLANNED, CAMPAIGN_SEGMENTED, CUSTOMER_UPSERTED
from tests.support.factories import campaign_id, campaign_planned, customer
from tests.support.fake_llm import FakeLlm, answer, fake_llm_server, http_error, slow
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.segmentations import (
    CUSTOMER_IDS,
    CUSTOMERS,
    naming,
    planned_campaign,
    small_segmentation,
    wording,
)
from tests.support.services import REPORTS_AUTH, running, settings_for

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

PROVIDERS = ("anthropic", "openai")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlm]:
    with fake_llm_server() as server:
        yield server


def model_for(provider: str, fake: FakeLlm) -> StructuredModel:
    if provider == "anthropic":
        return AnthropicModel(
            api_key="test-key",
            model="claude-sonnet-4-6",
            base_url=fake.anthropic_base_url,
            timeout_seconds=10,
        )
    return OpenAiModel(
        api_key="test-key", model="gpt-4.1", base_url=fake.openai_base_url, timeout_seconds=10
    )


def namer(model: StructuredModel | None, budget_seconds: float = 30) -> SegmentNamer:
    return SegmentNamer(model, PriceTable(DEFAULT_PRICES), budget_seconds=budget_seconds)


def last_user_message(request: dict[str, Any]) -> str:
    content: str = request["messages"][-1]["content"]
    return content


def numbers(segmentation: Any) -> list[tuple[Any, ...]]:
    return [
        (
            m.segment_id,
            m.size,
            m.email_reachable,
            m.predicted_conversion_rate,
            m.predicted_conversion_interval,
        )
        for m in segmentation.segments
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_valid_naming_words_the_segments_and_leaves_every_number(fake, provider):
    fake.script(answer(naming()))
    computed = small_segmentation()
    named, decision = await namer(model_for(provider, fake)).name(
        computed, planned_campaign(), CUSTOMER_IDS
    )
    assert decision.engine == model_for(provider, fake).engine
    assert decision.fallback_reason is None
    assert [m.name for m in named.segments] == [
        wording(m.segment_id)["name"] for m in computed.segments
    ]
    assert named.segments[0].strategy == wording("high_value")["strategy"]
    assert numbers(named) == numbers(computed)
    assert len(fake.requests) == 1


async def test_the_anthropic_request_forces_the_naming_tool_and_caches_the_instructions(fake):
    fake.script(answer(naming()))
    await namer(model_for("anthropic", fake)).name(
        small_segmentation(), planned_campaign(), CUSTOMER_IDS
    )
    [sent] = fake.requests
    assert sent["model"] == "claude-sonnet-4-6"
    assert sent["tool_choice"] == {"type": "tool", "name": sent["tools"][0]["name"]}
    assert sent["tools"][0]["input_schema"]["title"] == "SegmentNaming"
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "high_value" in last_user_message(sent)


async def test_the_openai_request_carries_the_model_and_the_naming_schema(fake):
    fake.script(answer(naming()))
    await namer(model_for("openai", fake)).name(
        small_segmentation(), planned_campaign(), CUSTOMER_IDS
    )
    [sent] = fake.requests
    assert sent["model"] == "gpt-4.1"
    assert sent["response_format"]["json_schema"]["name"] == "SegmentNaming"
    assert sent["messages"][0]["role"] == "system"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_customer_id_leaves_the_segmenter(fake, provider):
    fake.script(answer(naming()))
    await namer(model_for(provider, fake)).name(
        small_segmentation(), planned_campaign(), CUSTOMER_IDS
    )
    sent = fake.sent_text()
    assert "Noise-cancelling headphones" in sent
    assert not [c[0] for c in CUSTOMERS if c[0] in sent]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_answer_off_the_schema_is_reasked_then_named_offline(fake, provider):
    off_schema = {"segments": [{"segment_id": "high_value"}]}
    fake.script(answer(off_schema), answer(off_schema), answer(off_schema))
    computed = small_segmentation()
    named, decision = await namer(model_for(provider, fake)).name(
        computed, planned_campaign(), CUSTOMER_IDS
    )
    assert len(fake.requests) == 3
    assert "did not match the schema" in last_user_message(fake.requests[1])
    assert decision.engine == "offline-fallback"
    assert decision.fallback_reason is not None
    assert "invalid output after 2 re-asks" in decision.fallback_reason
    assert [m.name for m in named.segments] == [m.name for m in computed.segments]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_unknown_segment_id_is_reasked_once_with_the_violation_then_offline(
    fake, provider
):
    unknown = naming("high_value", "occasional", "at_risk", "vip_whales")
    fake.script(answer(unknown), answer(unknown))
    computed = small_segmentation()
    named, decision = await namer(model_for(provider, fake)).name(
        computed, planned_campaign(), CUSTOMER_IDS
    )
    assert len(fake.requests) == 2
    reask = last_user_message(fake.requests[1])
    assert "vip_whales is not a given segment id" in reask
    assert "new_prospects is not named" in reask
    assert decision.engine == "offline-fallback"
    assert "vip_whales is not a given segment id" in decision.violations
    assert [m.name for m in named.segments] == [m.name for m in computed.segments]
    assert all(m.strategy is None for m in named.segments)


async def test_a_banned_claim_is_reasked_and_a_corrected_naming_is_used(fake):
    claiming = naming()
    claiming["segments"][0]["description"] = "Risk-free buyers who always come back."
    fake.script(answer(claiming), answer(naming()))
    named, decision = await namer(model_for("anthropic", fake)).name(
        small_segmentation(), planned_campaign(), CUSTOMER_IDS
    )
    assert len(fake.requests) == 2
    assert "makes the banned claim 'Risk-free'" in last_user_message(fake.requests[1])
    assert decision.engine == "anthropic:claude-sonnet-4-6"
    assert decision.violations == ["high_value: description makes the banned claim 'Risk-free'"]
    assert named.segments[0].description == wording("high_value")["description"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_provider_error_names_the_segments_offline(fake, provider):
    fake.script(http_error(500), http_error(500), http_error(500))  # the SDK retries twice
    computed = small_segmentation()
    named, decision = await namer(model_for(provider, fake)).name(
        computed, planned_campaign(), CUSTOMER_IDS
    )
    assert decision.engine == "offline-fallback"
    assert decision.fallback_reason is not None
    assert "InternalServerError" in decision.fallback_reason
    assert [m.name for m in named.segments] == [m.name for m in computed.segments]


async def test_a_reply_slower_than_the_budget_names_the_segments_offline(fake):
    fake.script(slow(3, naming()))
    _, decision = await namer(model_for("anthropic", fake), budget_seconds=0.3).name(
        small_segmentation(), planned_campaign(), CUSTOMER_IDS
    )
    assert decision.engine == "offline-fallback"
    assert decision.fallback_reason == "no acceptable answer within the 0.3s budget"


async def test_tokens_spent_on_every_attempt_become_the_cost(fake):
    unknown = naming("high_value", "occasional", "at_risk", "vip_whales")
    fake.script(
        answer(unknown, input_tokens=1000, output_tokens=500),
        answer(naming(), input_tokens=2000, output_tokens=100),
    )
    _, decision = await namer(model_for("anthropic", fake)).name(
        small_segmentation(), planned_campaign(), CUSTOMER_IDS
    )
    # claude-sonnet-4-6: 3.00 USD per million input tokens, 15.00 per million output tokens.
    assert (decision.usage.input_tokens, decision.usage.output_tokens) == (3000, 600)
    assert decision.cost == Decimal("0.018")
    assert decision.attempts == 2


async def test_an_empty_customer_base_is_named_without_a_call(fake):
    fake.script(answer(naming()))
    computed = small_segmentation()
    empty = type(computed)(total_customers=0, segments=[])
    named, decision = await namer(model_for("anthropic", fake)).name(
        empty, planned_campaign(), CUSTOMER_IDS
    )
    assert (named.segments, decision.engine, fake.requests) == ([], "offline", [])


# The service, naming through the Anthropic SDK against the fake.

PRIVATE = {"email": "zephyrine.q.private@example.org", "first_name": "Zephyrine"}


def service_customers(tag: str) -> list[dict[str, Any]]:
    """One high-value buyer, one lapsed buyer, one prospect, with personal data to keep in."""
    usd_zero = {"amount": "0.00", "currency": "USD"}
    return [
        customer(customer_id=f"svc-loyal-{tag}", **PRIVATE),
        customer(
            customer_id=f"svc-lapsed-{tag}", last_purchase_at="2025-01-01T00:00:00+00:00", **PRIVATE
        ),
        customer(
            customer_id=f"svc-prospect-{tag}",
            last_purchase_at=None,
            orders_count=0,
            total_spent=usd_zero,
            last_engaged_at=None,
            **PRIVATE,
        ),
    ]


async def test_the_segmenter_names_segments_with_the_model_and_logs_the_decision(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog, fake: FakeLlm
) -> None:
    tag = uuid.uuid4().hex[:8]
    base = service_customers(tag)
    settings = settings_for(
        SegmenterSettings,
        infra,
        mongodb_db_prefix=f"{infra.db_prefix}{tag}_",  # a base of this test's customers only
        segmenter_engine="anthropic",
        anthropic_api_key="test-key",
        anthropic_base_url=fake.anthropic_base_url,
    )
    # Every request gets this answer: a service started mid-session also reads earlier
    # tests' campaigns from the topic, and must not use up a single scripted reply.
    reply = answer(naming("high_value", "at_risk", "new_prospects"), input_tokens=900)
    fake.script()
    fake.respond_with(lambda _body: reply)
    cid = campaign_id()
    async with running(build, settings) as service:
        for record in base:
            key = record["customer_id"]
            await publisher.send(
                CUSTOMER_UPSERTED, cloud_event(CUSTOMER_UPSERTED, record, subject=key), key=key
            )
        await until_customers(service.http_port, len(base))
        planned = cloud_event(CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid)
        await publisher.send(CAMPAIGN_PLANNED, planned, key=cid)
        [segmented] = await events.wait_for(CAMPAIGN_SEGMENTED, for_campaign(cid))
        async with httpx.AsyncClient(headers=REPORTS_AUTH) as client:
            url = f"http://127.0.0.1:{service.http_port}/v1/campaigns/{cid}/decisions"
            listed = (await client.get(url)).json()

    data = segmented["data"]
    assert data["engine"] == "anthropic:claude-sonnet-4-6"
    assert Decimal(data["ai_cost"]) > 0
    assert {s["name"] for s in data["segments"]} == {
        wording(i)["name"] for i in ("high_value", "at_risk", "new_prospects")
    }
    assert sum(s["size"] for s in data["segments"]) == data["total_customers"] == len(base)
    [decision] = listed["decisions"]
    assert decision["step"] == "name_segments"
    assert decision["engine"] == "anthropic:claude-sonnet-4-6"
    assert Decimal(decision["cost_usd"]) == Decimal(data["ai_cost"])
    sent = fake.sent_text()
    assert "high_value" in sent
    assert PRIVATE["email"] not in sent
    assert PRIVATE["first_name"] not in sent
    assert not [r["customer_id"] for r in base if r["customer_id"] in sent]


async def until_customers(port: int, expected: int) -> None:
    async with httpx.AsyncClient(headers=REPORTS_AUTH) as client, asyncio.timeout(30):
        url = f"http://127.0.0.1:{port}/v1/customers/count"
        while (await client.get(url)).json()["customers"] < expected:
            await asyncio.sleep(0.1)
