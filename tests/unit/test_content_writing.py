"""What the content writer is given and what its draft must be: facts, prompt, checks."""

import json

import pytest

from services.content.copywriting import CopyDraft, copy_facts, draft_violations
from services.content.domain import Sender, email_subject
from services.content.engines.llm import writing_prompt, writing_step
from services.content.settings import ContentSettings
from services.content.templates import library_draft
from shared.ai.runner import input_hash
from shared.ai.settings import configured_model
from shared.events.campaigns import CampaignPlanned, CampaignSegmented
from shared.guardrails import DEFAULT_BANNED_CLAIMS, EMAIL_SUBJECT_LIMIT
from tests.support.factories import campaign_planned, campaign_segmented, money

ADDRESS = "Example Shop, 1 Test Street, Springfield, USA"
SENDER = Sender(
    landing_base_url="https://shop.example.com",
    postal_address=ADDRESS,
    banned_claims=DEFAULT_BANNED_CLAIMS,
)
LONG_NAME = ("Extraordinarily comfortable wireless noise-cancelling over-ear headphones " * 3)[:200]


def planned(**overrides: object) -> CampaignPlanned:
    return CampaignPlanned.model_validate(campaign_planned("spring", **overrides))


def segmented(**overrides: object) -> CampaignSegmented:
    return CampaignSegmented.model_validate(campaign_segmented("spring", **overrides))


def with_strategy() -> CampaignSegmented:
    raw = campaign_segmented("spring")
    raw["segments"][0] |= {
        "description": "bought 12 days ago on average",
        "strategy": "Reward loyalty with early access.",
    }
    return CampaignSegmented.model_validate(raw)


def test_the_writer_is_given_campaign_facts_and_segment_aggregates() -> None:
    facts = copy_facts(
        planned(allocation={"web": money("10.00"), "email": money("40.00")}), with_strategy(), []
    )
    assert facts.model_dump(mode="json") == {
        "campaign_name": "Spring sale",
        "product_name": "Noise-cancelling headphones",
        "product_price": "149.99 USD",
        "offer_ends": "Mar 15",
        "channels": ["email", "web"],
        "segments": [
            {
                "segment_id": "high_value",
                "name": "High-value customers",
                "description": "bought 12 days ago on average",
                "strategy": "Reward loyalty with early access.",
                "size": 1000,
            },
            {
                "segment_id": "at_risk",
                "name": "At-risk customers",
                "description": None,
                "strategy": None,
                "size": 2000,
            },
        ],
        "banned_claims": [],
    }


def test_the_same_inputs_in_another_order_give_the_same_input_hash() -> None:
    one = copy_facts(
        planned(allocation={"email": money("40.00"), "web": money("10.00")}),
        segmented(),
        ["miracle"],
    )
    other = copy_facts(
        planned(allocation={"web": money("10.00"), "email": money("40.00")}),
        segmented(),
        ["miracle"],
    )
    assert input_hash(one) == input_hash(other)


def test_the_system_prompt_is_the_same_for_every_campaign_and_names_the_banned_claims() -> None:
    spring = writing_prompt(copy_facts(planned(), segmented(), DEFAULT_BANNED_CLAIMS))
    other = planned(name="Autumn sale", product=campaign_planned()["product"] | {"name": "Mug"})
    autumn = writing_prompt(copy_facts(other, with_strategy(), DEFAULT_BANNED_CLAIMS))
    assert spring.system == autumn.system
    assert '"guaranteed", "guarantee", "risk-free"' in spring.system
    assert "{first_name}" in spring.system
    assert spring.user != autumn.user
    facts = json.loads(autumn.user.removeprefix("Campaign facts:\n"))
    assert facts["product_name"] == "Mug"
    assert "banned_claims" not in facts


def test_a_draft_must_cover_each_segment_once_and_no_other() -> None:
    facts = copy_facts(planned(), segmented(), [])
    complete = library_draft(facts)
    [high_value, at_risk] = complete.segments
    stray = at_risk.model_copy(update={"segment_id": "vip"})
    assert draft_violations(facts, complete) == []
    assert draft_violations(facts, CopyDraft(segments=[high_value, high_value, stray])) == [
        "segment 'at_risk' has no pitches",
        "segment 'vip' is not one of the campaign's segments",
        "segment 'high_value' has more than one entry",
    ]


def test_a_blank_pitch_field_is_refused() -> None:
    facts = copy_facts(planned(), segmented(), [])
    [high_value, at_risk] = library_draft(facts).segments
    blank = high_value.model_copy(
        update={"urgency": high_value.urgency.model_copy(update={"line": "  "})}
    )
    assert draft_violations(facts, CopyDraft(segments=[blank, at_risk])) == [
        "segment 'high_value', urgency: line is blank"
    ]


def test_an_email_subject_cuts_the_product_name_but_never_the_headline() -> None:
    assert email_subject("Ends Mar 15", LONG_NAME).startswith("Ends Mar 15: Extraordinarily")
    assert len(email_subject("Ends Mar 15", LONG_NAME)) <= EMAIL_SUBJECT_LIMIT
    headline = "A headline so long that it could never fit an inbox's subject line, however wide"
    assert email_subject(headline, "Mug") == headline


@pytest.mark.parametrize("name", ["Headphones", LONG_NAME, "x" * 200])
def test_the_offline_library_passes_the_writers_own_check(name: str) -> None:
    plan = planned(product=campaign_planned()["product"] | {"name": name})
    segments = segmented(
        segments=[
            {"segment_id": s, "name": "Some", "size": 1, "predicted_conversion_rate": 0.1}
            for s in ("high_value", "lapsed", "new_prospects", "occasional", "cluster_7")
        ]
    )
    facts = copy_facts(plan, segments, SENDER.banned_claims)
    step = writing_step(facts, plan, segments.segments, SENDER)
    assert step.check(library_draft(facts)) == []


def test_a_headline_over_the_web_limit_is_left_for_the_guardrails_to_refuse() -> None:
    facts = copy_facts(planned(), segmented(), [])
    [high_value, at_risk] = library_draft(facts).segments
    wordy = high_value.model_copy(
        update={"value": high_value.value.model_copy(update={"headline": "Quiet " * 10})}
    )
    step = writing_step(facts, planned(), segmented().segments, SENDER)
    found = step.check(CopyDraft(segments=[wordy, at_risk]))
    assert "high_value-web-a: headline is 60 characters, the web limit is 40" in found


def test_the_engine_is_read_from_content_engine_and_runs_offline_without_its_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CONTENT_ENGINE", "anthropic")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    settings = ContentSettings()
    assert settings.content_engine == "anthropic"
    assert configured_model("content", settings.content_engine, settings) is None
    assert "ANTHROPIC_API_KEY is not set" in caplog.text
