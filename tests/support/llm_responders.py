"""Answers a well-behaved model would give the AI steps, built from each request's own facts.

For the fake LLM's responder mode (``FakeLlm.respond_with(answer_from_facts)``), when several
services call it at once and no script can say which call comes next. The step is told by
the output model a request asks for (OpenAI's ``response_format`` schema name, the title of
Anthropic's tool input schema); its facts are the JSON in the last user message. Every
answer is built through the service's own output model, so it is valid by construction,
and keeps the step's rules, so no call is re-asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.content.copywriting import CopyDraft, Pitch, SegmentPitches
from services.planner.engines.llm import PlanProposal
from services.segmenter.engines.naming import NAME_LIMIT, SegmentNaming, SegmentWording

MODEL_MARK = " (model)"

type Facts = dict[str, Any]


def requested_output(body: dict[str, Any]) -> str:
    """The name of the output model the request asks for, from either provider's shape."""
    if "response_format" in body:
        name: str = body["response_format"]["json_schema"]["name"]
        return name
    title: str = body["tools"][0]["input_schema"]["title"]
    return title


def request_facts(body: dict[str, Any]) -> Facts:
    """The facts JSON of the last user message (a re-ask appends its feedback after it)."""
    [*_, last] = [m for m in body["messages"] if m["role"] == "user"]
    content = last["content"]
    text = content if isinstance(content, str) else "".join(b["text"] for b in content)
    facts, _ = json.JSONDecoder().raw_decode(text, text.index("{"))
    if not isinstance(facts, dict):
        raise ValueError("the user message carries no facts object")
    return facts


def planned(facts: Facts) -> PlanProposal:
    """The reference split, with a rationale of the model's own naming every channel."""
    reference = PlanProposal.model_validate(facts["reference"])
    split = ", ".join(f"{s.channel.value} {s.amount}" for s in reference.allocation)
    return reference.model_copy(
        update={
            "rationale": f"The reference split holds up: {split} {facts['budget']['currency']}."
        }
    )


def named(facts: Facts) -> SegmentNaming:
    """Each segment under its computed name marked as the model's, with a short strategy."""
    channels = ", ".join(facts["channels"])
    return SegmentNaming(
        segments=[
            SegmentWording(
                segment_id=segment["segment_id"],
                name=segment["computed_name"][: NAME_LIMIT - len(MODEL_MARK)] + MODEL_MARK,
                description=f"{segment['size']} customers, "
                f"{segment['email_reachable']} of them reachable by email.",
                strategy=f"Show them {facts['product_name']} on {channels}.",
            )
            for segment in facts["segments"]
        ]
    )


def written(facts: Facts) -> CopyDraft:
    """Three pitches per segment; short headlines, the product and price named as given."""
    product, price, ends = facts["product_name"], facts["product_price"], facts["offer_ends"]
    pitches = {
        "value": Pitch(
            headline="Made for the way you shop",
            line=f"{product} is {price}, and it suits the way you shop.",
            preheader=f"{product}, {price}.",
            call_to_action="Take a look",
        ),
        "urgency": Pitch(
            headline=f"The offer ends {ends}",
            line=f"{product} is {price} until {ends}.",
            preheader=f"{price} until {ends}.",
            call_to_action="Shop the offer",
        ),
        "social_proof": Pitch(
            headline="Chosen by shoppers like you",
            line=f"Shoppers like you have been choosing {product}, at {price}.",
            preheader=f"A popular pick: {product}.",
            call_to_action="See why",
        ),
    }
    return CopyDraft(
        segments=[
            SegmentPitches(segment_id=segment["segment_id"], **pitches)
            for segment in facts["segments"]
        ]
    )


STEPS: dict[str, Callable[[Facts], Any]] = {
    PlanProposal.__name__: planned,
    SegmentNaming.__name__: named,
    CopyDraft.__name__: written,
}


def answer_from_facts(body: dict[str, Any]) -> dict[str, Any]:
    """The structured answer to any of the three AI steps' requests."""
    output = requested_output(body)
    if output not in STEPS:
        raise ValueError(f"no responder for the output model {output!r}")
    answer: dict[str, Any] = STEPS[output](request_facts(body)).model_dump(mode="json")
    return answer
