"""The OpenAI and Anthropic paths: the real SDKs against a local server playing each API."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Literal

import pytest
from pydantic import BaseModel, Field, SecretStr

from shared.ai.anthropic_model import AnthropicModel
from shared.ai.costs import DEFAULT_PRICES, PriceTable
from shared.ai.openai_model import OpenAiModel
from shared.ai.provider import Prompt, StructuredModel
from shared.ai.runner import AiStep, Decision, run_step
from shared.ai.settings import AiSettings, build_model, choose_engine
from tests.support.fake_llm import FakeLlm, answer, fake_llm_server, http_error, slow

BANNED = ("guaranteed", "risk-free")


class Customer(BaseModel):
    customer_id: str
    email: str
    name: str


class HeadlineRequest(BaseModel):
    product: str
    channel: Literal["email", "social", "web"]
    customers: list[Customer]


class Headline(BaseModel):
    headline: str = Field(max_length=80)
    channel: Literal["email", "social", "web"]


def headline_prompt(request: HeadlineRequest) -> Prompt:
    """Facts and aggregates only: the customers are counted, never named."""
    return Prompt(
        system="Write one campaign headline of at most 40 characters. Never promise results.",
        user=f"Product: {request.product}. Channel: {request.channel}. "
        f"Audience: {len(request.customers)} customers.",
        template_version="headline-v1",
    )


def offline_headline(request: HeadlineRequest) -> Headline:
    return Headline(headline=f"Meet {request.product}"[:40], channel=request.channel)


def headline_rules(output: Headline) -> list[str]:
    found = [f"banned claim {word!r}" for word in BANNED if word in output.headline.lower()]
    if len(output.headline) > 40:
        found.append(f"headline: {len(output.headline)} characters, at most 40")
    return found


HEADLINE = AiStep(
    name="headline",
    output=Headline,
    template_version="headline-v1",
    prompt=headline_prompt,
    offline=offline_headline,
    check=headline_rules,
)

REQUEST = HeadlineRequest(
    product="Trail Runner 2",
    channel="email",
    customers=[
        Customer(customer_id="cust-7731", email="ada@example.com", name="Ada Lovelace"),
        Customer(customer_id="cust-9120", email="grace@example.org", name="Grace Hopper"),
    ],
)
GOOD = {"headline": "Run further in Trail Runner 2", "channel": "email"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlm]:
    with fake_llm_server() as server:
        yield server


def openai(fake: FakeLlm, timeout: float = 10) -> OpenAiModel:
    return OpenAiModel(
        api_key="test-key", model="gpt-4.1", base_url=fake.openai_base_url, timeout_seconds=timeout
    )


def anthropic(fake: FakeLlm) -> AnthropicModel:
    return AnthropicModel(
        api_key="test-key",
        model="claude-sonnet-4-6",
        base_url=fake.anthropic_base_url,
        timeout_seconds=10,
    )


async def decide(model: StructuredModel | None, budget: float = 30) -> Decision[Headline]:
    return await run_step(
        HEADLINE,
        REQUEST,
        model=model,
        prices=PriceTable(DEFAULT_PRICES),
        budget_seconds=budget,
    )


async def test_valid_openai_output_is_used_and_labelled_with_the_model(fake):
    fake.script(answer(GOOD))
    decision = await decide(openai(fake))
    assert decision.engine == "openai:gpt-4.1"
    assert decision.output == Headline.model_validate(GOOD)
    assert decision.attempts == 1
    assert decision.fallback_reason is None
    assert decision.template_version == "headline-v1"


async def test_openai_request_carries_the_model_and_the_output_schema(fake):
    fake.script(answer(GOOD))
    await decide(openai(fake))
    [sent] = fake.requests
    assert sent["model"] == "gpt-4.1"
    assert sent["response_format"]["type"] == "json_schema"
    schema = sent["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {"headline", "channel"}
    assert sent["messages"][0] == {"role": "system", "content": headline_prompt(REQUEST).system}


async def test_invalid_output_is_reasked_with_the_error_then_replaced_offline(fake):
    fake.script(answer("not json at all"), answer({"headline": "x"}), answer({"channel": "fax"}))
    decision = await decide(openai(fake))
    assert len(fake.requests) == 3
    for reask in fake.requests[1:]:
        assert "did not match the schema" in reask["messages"][-1]["content"]
    assert "channel" in fake.requests[2]["messages"][-1]["content"]
    assert decision.engine == "offline-fallback"
    assert decision.output == offline_headline(REQUEST)
    assert decision.fallback_reason is not None
    assert "invalid output after 2 re-asks" in decision.fallback_reason


async def test_server_errors_are_retried_twice_by_the_sdk_then_fall_back(fake):
    fake.script(http_error(500), http_error(500), http_error(503))
    decision = await decide(openai(fake))
    assert len(fake.requests) == 3
    assert decision.engine == "offline-fallback"
    assert decision.fallback_reason is not None
    assert "InternalServerError" in decision.fallback_reason


async def test_a_slow_model_falls_back_when_the_budget_runs_out(fake):
    fake.script(slow(5, GOOD))
    decision = await decide(openai(fake), budget=0.5)
    assert decision.engine == "offline-fallback"
    assert decision.fallback_reason == "no acceptable answer within the 0.5s budget"
    assert decision.output == offline_headline(REQUEST)


async def test_usage_becomes_cost_from_the_price_table(fake):
    fake.script(answer(GOOD, input_tokens=1000, output_tokens=500))
    decision = await decide(openai(fake))
    assert (decision.usage.input_tokens, decision.usage.output_tokens) == (1000, 500)
    assert decision.cost == Decimal("0.006")  # 1000 x $2/M + 500 x $8/M


async def test_refused_attempts_are_paid_for_too(fake):
    fake.script(
        answer("{}", input_tokens=1000, output_tokens=0),
        answer(GOOD, input_tokens=1000, output_tokens=500),
    )
    decision = await decide(openai(fake))
    assert decision.engine == "openai:gpt-4.1"
    assert decision.cost == Decimal("0.008")


async def test_guardrail_violation_is_reasked_once_listing_the_violations(fake):
    bad = {"headline": "Guaranteed results, risk-free!", "channel": "email"}
    fake.script(answer(bad), answer(GOOD))
    decision = await decide(openai(fake))
    assert len(fake.requests) == 2
    reask = fake.requests[1]["messages"][-1]["content"]
    assert "banned claim 'guaranteed'" in reask
    assert "banned claim 'risk-free'" in reask
    assert decision.engine == "openai:gpt-4.1"
    assert decision.violations == ["banned claim 'guaranteed'", "banned claim 'risk-free'"]


async def test_repeated_guardrail_violation_is_replaced_by_the_offline_output(fake):
    bad = {"headline": "Guaranteed to win", "channel": "email"}
    fake.script(answer(bad), answer(bad))
    decision = await decide(openai(fake))
    assert len(fake.requests) == 2
    assert decision.engine == "offline-fallback"
    assert decision.output == offline_headline(REQUEST)
    assert decision.fallback_reason == "guardrail violations: banned claim 'guaranteed'"


async def test_valid_anthropic_tool_answer_is_used_and_labelled_with_the_model(fake):
    fake.script(answer(GOOD, input_tokens=2000, output_tokens=100))
    decision = await decide(anthropic(fake))
    assert decision.engine == "anthropic:claude-sonnet-4-6"
    assert decision.output == Headline.model_validate(GOOD)
    assert decision.cost == Decimal("0.0075")  # 2000 x $3/M + 100 x $15/M


async def test_anthropic_request_forces_a_tool_whose_input_schema_is_the_output_model(fake):
    fake.script(answer(GOOD))
    await decide(anthropic(fake))
    [sent] = fake.requests
    assert sent["model"] == "claude-sonnet-4-6"
    [tool] = sent["tools"]
    assert tool["input_schema"] == Headline.model_json_schema()
    assert sent["tool_choice"] == {"type": "tool", "name": tool["name"]}
    [system] = sent["system"]
    assert system["cache_control"] == {"type": "ephemeral"}


async def test_invalid_anthropic_answer_is_reasked_then_replaced_offline(fake):
    fake.script(answer({"headline": 3}), answer({}), answer({"channel": "fax"}))
    decision = await decide(anthropic(fake))
    assert len(fake.requests) == 3
    assert "did not match the schema" in fake.requests[1]["messages"][-1]["content"]
    assert decision.engine == "offline-fallback"


async def test_anthropic_server_errors_fall_back_after_two_sdk_retries(fake):
    fake.script(http_error(500), http_error(529), http_error(500))
    decision = await decide(anthropic(fake))
    assert len(fake.requests) == 3
    assert decision.engine == "offline-fallback"


@pytest.mark.parametrize("provider", [openai, anthropic])
async def test_requests_carry_no_customer_email_name_or_id(fake, provider):
    fake.script(answer({"headline": "Guaranteed", "channel": "email"}), answer(GOOD))
    await decide(provider(fake))
    sent = fake.sent_text()
    assert len(fake.requests) == 2
    for customer in REQUEST.customers:
        for personal in (customer.email, customer.name, customer.customer_id):
            assert personal not in sent


async def test_without_a_model_the_offline_engine_answers():
    decision = await decide(None)
    assert decision.engine == "offline"
    assert decision.attempts == 0
    assert decision.cost == Decimal(0)


def test_a_provider_without_its_key_falls_back_to_offline_naming_the_variable():
    settings = AiSettings(openai_api_key=None, anthropic_api_key=SecretStr("k"))
    assert choose_engine("openai", settings) == ("offline", "OPENAI_API_KEY is not set")
    assert choose_engine("anthropic", settings) == ("anthropic", None)
    assert build_model("offline", settings) is None
    model = build_model("anthropic", settings)
    assert model is not None
    assert model.engine == "anthropic:claude-sonnet-4-6"


def test_unknown_model_costs_nothing():
    from shared.ai.provider import Usage

    assert PriceTable({}).cost("some-new-model", Usage(1000, 1000)) == Decimal(0)
