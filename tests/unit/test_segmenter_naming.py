"""Segment naming: the rules a naming keeps, the offline words, and numbers left untouched."""

from __future__ import annotations

from services.segmenter.engines.llm import (
    SegmentNamer,
    computed_naming,
    naming_facts,
    naming_prompt,
    naming_step,
    worded,
)
from services.segmenter.engines.naming import (
    NAME_LIMIT,
    SegmentNaming,
)
from shared.ai.costs import PriceTable
from shared.ai.runner import input_hash
from tests.support.segmentations import (
    CUSTOMER_IDS,
    CUSTOMERS,
    SEGMENT_IDS,
    naming,
    planned_campaign,
    small_segmentation,
    wording,
)


def violations_of(answer: dict[str, object]) -> list[str]:
    segmentation = small_segmentation()
    facts = naming_facts(segmentation, planned_campaign())
    step = naming_step(facts, CUSTOMER_IDS)
    return step.check(SegmentNaming.model_validate(answer))


def numbers(segments: list) -> list[tuple[object, ...]]:
    return [
        (
            s.segment_id,
            s.size,
            s.email_reachable,
            s.predicted_conversion_rate,
            s.predicted_conversion_interval,
        )
        for s in segments
    ]


def test_a_naming_of_every_segment_once_within_the_rules_passes() -> None:
    assert violations_of(naming()) == []


def test_every_computed_segment_must_be_named_exactly_once_and_no_other() -> None:
    answer = naming("high_value", "high_value", "occasional", "at_risk", "loyal_fans")
    answer["segments"][1]["name"] = "Another name"
    found = violations_of(answer)
    assert "loyal_fans is not a given segment id" in found
    assert "high_value is named 2 times, not once" in found
    assert "new_prospects is not named" in found


def test_long_empty_or_shared_names_are_violations() -> None:
    answer = naming()
    answer["segments"][0]["name"] = "x" * (NAME_LIMIT + 1)
    answer["segments"][1]["description"] = " "
    answer["segments"][2]["name"] = answer["segments"][3]["name"] = "Everyone else"
    found = violations_of(answer)
    assert f"high_value: name is {NAME_LIMIT + 1} characters, the limit is 60" in found
    assert "occasional: description is empty" in found
    assert "at_risk: name 'Everyone else' is also another segment's name" in found


def test_banned_claims_email_addresses_and_customer_ids_are_violations() -> None:
    answer = naming()
    answer["segments"][0]["name"] = "Guaranteed buyers"
    answer["segments"][1]["description"] = "Like ana.private@example.com, they buy often."
    answer["segments"][2]["strategy"] = f"Call {CUSTOMERS[2][0]} first."
    found = violations_of(answer)
    assert "high_value: name makes the banned claim 'Guaranteed'" in found
    assert "occasional: description contains an email address" in found
    assert "at_risk: strategy contains a customer id" in found


def test_offline_naming_is_the_computed_words_without_a_strategy() -> None:
    segmentation = small_segmentation()
    offline = computed_naming(naming_facts(segmentation, planned_campaign()))
    assert [(w.segment_id, w.name, w.description, w.strategy) for w in offline.segments] == [
        (m.segment_id, m.name, m.description, None) for m in segmentation.segments
    ]
    assert violations_of(offline.model_dump()) == []


def test_wording_changes_names_descriptions_and_strategies_but_no_number() -> None:
    segmentation = small_segmentation()
    named = worded(segmentation, SegmentNaming.model_validate(naming()))
    assert numbers(named.segments) == numbers(segmentation.segments)
    assert named.total_customers == segmentation.total_customers
    high_value = named.segments[0]
    assert high_value.name == wording("high_value")["name"]
    assert high_value.strategy == wording("high_value")["strategy"]


def test_the_prompt_carries_aggregates_and_no_customer_id() -> None:
    prompt = naming_prompt(naming_facts(small_segmentation(), planned_campaign()))
    assert all(segment_id in prompt.user for segment_id in SEGMENT_IDS)
    assert "Noise-cancelling headphones" in prompt.user
    assert not any(customer[0] in prompt.user + prompt.system for customer in CUSTOMERS)


def test_only_the_user_part_of_the_prompt_varies_between_campaigns() -> None:
    other = planned_campaign().model_copy(
        update={"product": planned_campaign().product.model_copy(update={"name": "Earbuds"})}
    )
    segmentation = small_segmentation()
    first = naming_prompt(naming_facts(segmentation, planned_campaign()))
    second = naming_prompt(naming_facts(segmentation, other))
    assert first.system == second.system  # the cached prefix
    assert first.user != second.user


def test_the_same_campaign_gives_the_same_facts_whatever_its_id() -> None:
    first = naming_facts(small_segmentation(), planned_campaign())
    again = naming_facts(small_segmentation(), planned_campaign())
    assert input_hash(first) == input_hash(again)


async def test_offline_replay_gives_the_same_decision() -> None:
    namer = SegmentNamer(None, PriceTable({}), budget_seconds=1)
    planned = planned_campaign()
    (_, first), (_, again) = [
        await namer.name(small_segmentation(), planned, CUSTOMER_IDS) for _ in "ab"
    ]
    assert first.engine == again.engine == "offline"
    assert (first.input_hash, first.output) == (again.input_hash, again.output)
    assert first.violations == []
