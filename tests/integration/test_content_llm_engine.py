"""The content service's LLM engine with the real OpenAI and Anthropic SDKs against a local
server playing their APIs; then the service itself on the real broker and database."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.content.app import build
from services.content.domain import Sender, generate_content
from services.content.engines.llm import LlmWriter
from services.content.settings import ContentSettings
from shared.ai.anthropic_model import AnthropicModel
from shared.ai.costs import DEFAULT_PRICES, PriceTable
from shared.ai.openai_model import OpenAiModel
from shared.ai.provider import StructuredModel
from shared.events.campaigns import CampaignPlanned, CampaignSegmented
from shared.events.topics import CAMPAIGN_CONTENT_GENERATED, CAMPAIGN_PLANNED, CAMPAIGN_SEGMENTED
from shared.guardrails import DEFAULT_BANNED_CLAIMS
from shared.runtime import Service
from tests.support.factories import campaign_id, campaign_planned, campaign_segmented
from tests.support.fake_llm import FakeLlm, answer, fake_llm_server, http_error, slow
from tests.support.kafka import cloud_event, for_campaign
from tests.support.services import REPORTS_AUTH, running, settings_for

ADDRESS = "Example Shop, 1 Test Street, Springfield, USA"
SENDER = Sender(
    landing_base_url="https://shop.example.com",
    postal_address=ADDRESS,
    banned_claims=DEFAULT_BANNED_CLAIMS,
)
CID = campaign_id("copy")
PLANNED = CampaignPlanned.model_validate(campaign_planned(CID))
SEGMENTED = CampaignSegmented.model_validate(campaign_segmented(CID))
# What a careless segmenter might attach to its event: it must never reach a provider.
CUSTOMER = {"customer_id": "cust-7731", "email": "ada@example.com", "first_name": "Adelaide"}


def pitches(segment: str) -> dict[str, dict[str, str]]:
    return {
        "value": {
            "headline": f"Quiet, for {segment} ears",
            "line": f"Hear only what you choose: {segment} picks, 149.99 USD.",
            "preheader": "Silence, on demand.",
            "call_to_action": "Find your quiet",
        },
        "urgency": {
            "headline": "Quiet until Mar 15",
            "line": "Noise-cancelling headphones at 149.99 USD until Mar 15.",
            "preheader": "The price holds until Mar 15.",
            "call_to_action": "Get them now",
        },
        "social_proof": {
            "headline": "The commuters' choice",
            "line": "Commuters like you are switching to these headphones.",
            "preheader": "Why commuters switch.",
            "call_to_action": "See why",
        },
    }


def draft(**changes: dict[str, str]) -> dict[str, Any]:
    """A valid draft for both segments; ``changes`` maps 'segment.dimension' to new fields."""
    segments = [{"segment_id": s.segment_id, **pitches(s.segment_id)} for s in SEGMENTED.segments]
    for path, fields in changes.items():
        segment_id, dimension = path.split(".")
        entry = next(e for e in segments if e["segment_id"] == segment_id)
        entry[dimension] = entry[dimension] | fields
    return {"segments": segments}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlm]:
    with fake_llm_server() as server:
        yield server


def openai(fake: FakeLlm) -> OpenAiModel:
    return OpenAiModel(
        api_key="test-key", model="gpt-4.1", base_url=fake.openai_base_url, timeout_seconds=10
    )


def anthropic(fake: FakeLlm) -> AnthropicModel:
    return AnthropicModel(
        api_key="test-key",
        model="claude-sonnet-4-6",
        base_url=fake.anthropic_base_url,
        timeout_seconds=10,
    )


def writer(model: StructuredModel | None, budget: float = 30) -> LlmWriter:
    return LlmWriter(SENDER, model, PriceTable(DEFAULT_PRICES), budget_seconds=budget)


async def test_the_models_copy_is_framed_with_the_footer_and_tracking_links(fake):
    fake.script(answer(draft()))
    content, decision = await writer(openai(fake)).write(PLANNED, SEGMENTED)
    assert content.engine == decision.engine == "openai:gpt-4.1"
    assert len(content.content) == 2 * 3 * 3  # segments x channels x A/B/C
    by_id = {piece.variant_id: piece for piece in content.content}
    email = by_id["high_value-email-a"]
    assert email.subject == "Quiet, for high_value ears: Noise-cancelling headphones"
    assert email.body.startswith("Hi {first_name},\n\nHear only what you choose: high_value")
    assert "Unsubscribe: {unsubscribe_url}" in email.body
    assert ADDRESS in email.body
    assert by_id["at_risk-web-b"].headline == "Quiet until Mar 15"
    assert by_id["at_risk-social-c"].body == pitches("at_risk")["social_proof"]["line"]
    assert [by_id[f"at_risk-social-{x}"].dimension for x in "abc"] == [
        "value",
        "urgency",
        "social_proof",
    ]
    assert parse_qs(urlsplit(by_id["at_risk-social-c"].cta_url).query) == {
        "utm_source": ["social"],
        "utm_medium": ["paid_social"],
        "utm_campaign": [CID],
        "utm_content": ["at_risk-social-c"],
        "seg": ["at_risk"],
    }


async def test_the_request_carries_the_model_the_schema_the_rules_and_the_segments(fake):
    fake.script(answer(draft()))
    await writer(openai(fake)).write(PLANNED, SEGMENTED)
    [sent] = fake.requests
    assert sent["model"] == "gpt-4.1"
    assert sent["response_format"]["json_schema"]["name"] == "CopyDraft"
    system, user = (message["content"] for message in sent["messages"])
    assert '"risk-free"' in system
    assert "at most 40 characters" in system
    for fact in ("Noise-cancelling headphones", "149.99 USD", "Mar 15", "High-value customers"):
        assert fact in user


@pytest.mark.parametrize("provider", [openai, anthropic])
async def test_requests_carry_no_customer_email_name_or_id(fake, provider):
    raw = campaign_segmented(CID)
    raw["segments"][0] |= {"members": [CUSTOMER], "top_customer": CUSTOMER["email"]}
    leaky = CampaignSegmented.model_validate(raw | {"customers": [CUSTOMER]})
    fake.script(answer(draft(**{"at_risk.value": {"line": "Guaranteed quiet."}})), answer(draft()))
    await writer(provider(fake)).write(PLANNED, leaky)
    assert len(fake.requests) == 2  # the re-ask too
    sent = fake.sent_text()
    assert "High-value customers" in sent
    for personal in CUSTOMER.values():
        assert personal not in sent


async def test_anthropic_copy_is_used_and_its_usage_priced(fake):
    fake.script(answer(draft(), input_tokens=2000, output_tokens=100))
    content, decision = await writer(anthropic(fake)).write(PLANNED, SEGMENTED)
    assert content.engine == "anthropic:claude-sonnet-4-6"
    assert content.ai_cost == decision.cost == Decimal("0.0075")  # 2000 x $3/M + 100 x $15/M
    assert content.content[0].body.startswith("Hi {first_name},\n\nHear only what you choose")
    [sent] = fake.requests
    assert sent["tools"][0]["input_schema"]["title"] == "CopyDraft"


async def test_usage_becomes_the_contents_ai_cost(fake):
    fake.script(answer(draft(), input_tokens=1000, output_tokens=500))
    content, decision = await writer(openai(fake)).write(PLANNED, SEGMENTED)
    assert (decision.usage.input_tokens, decision.usage.output_tokens) == (1000, 500)
    assert content.ai_cost == decision.cost == Decimal("0.006")  # 1000 x $2/M + 500 x $8/M


def offline_content() -> list[Any]:
    return generate_content(PLANNED, SEGMENTED, SENDER).content


async def test_schema_invalid_copy_is_reasked_then_written_offline(fake):
    no_urgency = draft()
    del no_urgency["segments"][0]["urgency"]
    fake.script(answer("not json"), answer({"segments": "all of them"}), answer(no_urgency))
    content, decision = await writer(openai(fake)).write(PLANNED, SEGMENTED)
    assert len(fake.requests) == 3
    assert "did not match the schema" in fake.requests[1]["messages"][-1]["content"]
    assert content.engine == decision.engine == "offline-fallback"
    assert content.content == offline_content()
    assert decision.fallback_reason is not None
    assert "invalid output after 2 re-asks" in decision.fallback_reason


async def test_a_banned_claim_is_reasked_once_with_the_violations_then_written_offline(fake):
    claim = draft(**{"high_value.urgency": {"line": "Guaranteed silence, 149.99 USD."}})
    fake.script(answer(claim), answer(claim))
    content, decision = await writer(openai(fake)).write(PLANNED, SEGMENTED)
    assert len(fake.requests) == 2
    reask = fake.requests[1]["messages"][-1]["content"]
    assert "high_value-email-b: body makes the banned claim 'Guaranteed'" in reask
    assert "high_value-social-b: body makes the banned claim 'Guaranteed'" in reask
    assert content.engine == decision.engine == "offline-fallback"
    assert decision.fallback_reason is not None
    assert decision.fallback_reason.startswith("guardrail violations: ")
    assert content.content == offline_content()


async def test_an_over_length_subject_is_reasked_then_written_offline(fake):
    headline = "Finally, the quiet you have waited for all year long, now right there in your ears"
    long_subject = draft(**{"at_risk.value": {"headline": headline}})
    fake.script(answer(long_subject), answer(long_subject))
    content, decision = await writer(openai(fake)).write(PLANNED, SEGMENTED)
    assert len(fake.requests) == 2
    reask = fake.requests[1]["messages"][-1]["content"]
    assert f"at_risk-email-a: subject is {len(headline)} characters" in reask
    assert "the email limit is 78" in reask
    assert content.engine == "offline-fallback"
    assert content.content == offline_content()
    assert any("at_risk-email-a: subject" in v for v in decision.violations)


async def test_a_segment_left_out_is_reasked_and_the_corrected_copy_used(fake):
    partial = draft()
    partial["segments"] = partial["segments"][:1]
    fake.script(answer(partial), answer(draft()))
    content, decision = await writer(openai(fake)).write(PLANNED, SEGMENTED)
    assert "segment 'at_risk' has no pitches" in fake.requests[1]["messages"][-1]["content"]
    assert content.engine == "openai:gpt-4.1"
    assert {piece.segment_id for piece in content.content} == {"high_value", "at_risk"}
    assert decision.attempts == 2


async def test_server_errors_fall_back_to_the_offline_library(fake):
    fake.script(http_error(500), http_error(500), http_error(500))
    content, decision = await writer(openai(fake)).write(PLANNED, SEGMENTED)
    assert content.engine == "offline-fallback"
    assert decision.fallback_reason is not None
    assert "InternalServerError" in decision.fallback_reason
    assert content.content == offline_content()


async def test_a_slow_model_falls_back_when_the_budget_runs_out(fake):
    fake.script(slow(5, draft()))
    content, decision = await writer(openai(fake), budget=0.5).write(PLANNED, SEGMENTED)
    assert content.engine == "offline-fallback"
    assert decision.fallback_reason == "no acceptable answer within the 0.5s budget"
    assert content.content == offline_content()


async def test_the_same_inputs_written_offline_again_give_the_same_decision(fake):
    _, first = await writer(None).write(PLANNED, SEGMENTED)
    _, second = await writer(None).write(
        PLANNED.model_copy(deep=True), CampaignSegmented.model_validate(campaign_segmented(CID))
    )
    fake.script(answer(draft()))
    _, by_model = await writer(openai(fake)).write(PLANNED, SEGMENTED)
    assert first.engine == second.engine == "offline"
    assert first.input_hash == second.input_hash == by_model.input_hash
    assert first.output == second.output
    assert first.violations == []


async def decisions_of(service: Service, cid: str) -> list[dict[str, Any]]:
    base_url = f"http://127.0.0.1:{service.http_port}"
    async with httpx.AsyncClient(base_url=base_url, headers=REPORTS_AUTH) as http:
        response = await http.get(f"/v1/campaigns/{cid}/decisions")
    decisions: list[dict[str, Any]] = response.json()["decisions"]
    return decisions


async def test_the_content_service_writes_with_the_model_and_logs_the_decision(
    infra, publisher, events, fake
):
    cid = campaign_id()
    segmented = campaign_segmented(cid)
    leaky = copy.deepcopy(segmented)
    leaky["segments"][0]["members"] = [CUSTOMER]
    # Every request gets this answer: a service started mid-session also reads earlier
    # tests' campaigns from the topic, and must not use up a single scripted reply.
    reply = answer(draft(), input_tokens=1000, output_tokens=200)
    fake.script()
    fake.respond_with(lambda _body: reply)
    settings = settings_for(
        ContentSettings,
        infra,
        content_engine="openai",
        openai_api_key="test-key",
        openai_base_url=fake.openai_base_url,
        content_sender_postal_address=ADDRESS,
    )
    async with running(build, settings) as service:
        await publisher.send(
            CAMPAIGN_PLANNED,
            cloud_event(CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid),
            key=cid,
        )
        await publisher.send(
            CAMPAIGN_SEGMENTED, cloud_event(CAMPAIGN_SEGMENTED, leaky, subject=cid), key=cid
        )
        [generated] = await events.wait_for(CAMPAIGN_CONTENT_GENERATED, for_campaign(cid))
        [decision] = await decisions_of(service, cid)
    data = generated["data"]
    # gpt-4.1 list price: 1000 x $2 + 200 x $8 per million tokens.
    assert data["engine"] == decision["engine"] == "openai:gpt-4.1"
    assert Decimal(data["ai_cost"]) == Decimal(decision["cost_usd"]) == Decimal("0.0036")
    assert len(data["content"]) == 2 * 3 * 3
    by_id = {piece["variant_id"]: piece for piece in data["content"]}
    assert by_id["at_risk-web-b"]["headline"] == "Quiet until Mar 15"
    assert decision["step"] == "content"
    assert decision["output"] == draft()
    assert (decision["input_tokens"], decision["output_tokens"]) == (1000, 200)
    assert decision["attempts"] == 1
    for personal in CUSTOMER.values():
        assert personal not in fake.sent_text()
