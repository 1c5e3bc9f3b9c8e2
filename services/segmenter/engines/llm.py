"""The LLM segment-naming engine: a model names and describes the computed segments.

Clustering, sizes, members and conversion estimates stay computed; the model sees only
segment aggregates and the campaign's product and channels, never a customer's email, name
or id, and answers with a name, a description and optionally a strategy per segment. With
no model, or when the model fails, is too slow or breaks the naming rules, the computed
names and descriptions stand, labelled ``offline`` or ``offline-fallback``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Container

from pydantic import BaseModel

from services.segmenter.domain import Segmentation
from services.segmenter.engines.naming import (
    DESCRIPTION_LIMIT,
    NAME_LIMIT,
    STRATEGY_LIMIT,
    SegmentNaming,
    SegmentWording,
    naming_violations,
)
from shared.ai.costs import PriceTable
from shared.ai.provider import Prompt, StructuredModel
from shared.ai.runner import AiStep, Decision, run_step
from shared.events.campaigns import CampaignPlanned, ConversionInterval
from shared.events.common import Channel
from shared.guardrails import DEFAULT_BANNED_CLAIMS
from shared.money import Money

STEP = "name_segments"
TEMPLATE_VERSION = "segment-naming-v1"

SYSTEM_PROMPT = f"""\
You name the customer segments of a marketing campaign for the people who will run it.
You receive the campaign's product and channels and, for each segment, its size, the
customers who can be reached by email, its predicted conversion rate with an 80% interval,
and a computed name and description of its members' purchase and engagement habits.
The segments and every number are final: you only put them into words.

Rules your answer must keep:
- one entry per given segment, with its segment_id exactly as given, and no other ids;
- a name of at most {NAME_LIMIT} characters, distinct from the other segments' names;
- a description of at most {DESCRIPTION_LIMIT} characters, true to the given traits; state no
  figure that is not in the facts;
- a strategy of at most {STRATEGY_LIMIT} characters: how to approach the segment with this
  product on these channels, or null when the facts give no reason for one;
- promise no results and make no claim such as "guaranteed" or "risk-free";
- mention no person, email address or customer identifier.

Answer only through the structured output (a SegmentNaming)."""


class SegmentFacts(BaseModel):
    """One segment as the model sees it: aggregates only, never a member."""

    segment_id: str
    size: int
    email_reachable: int
    predicted_conversion_rate: float
    predicted_conversion_interval: ConversionInterval | None
    computed_name: str
    computed_description: str | None


class NamingFacts(BaseModel):
    """What the model sees: the product, the channels and the segments' aggregates."""

    product_name: str
    product_price: Money
    channels: list[Channel]
    total_customers: int
    segments: list[SegmentFacts]


def naming_facts(segmentation: Segmentation, planned: CampaignPlanned) -> NamingFacts:
    """Deterministic: segments in the segmentation's stable order, channels sorted."""
    return NamingFacts(
        product_name=planned.product.name,
        product_price=planned.product.price,
        channels=sorted(planned.allocation, key=lambda channel: channel.value),
        total_customers=segmentation.total_customers,
        segments=[
            SegmentFacts(
                segment_id=s.segment_id,
                size=s.size,
                email_reachable=s.email_reachable,
                predicted_conversion_rate=s.predicted_conversion_rate,
                predicted_conversion_interval=s.predicted_conversion_interval,
                computed_name=s.name,
                computed_description=s.description,
            )
            for s in segmentation.segments
        ],
    )


def naming_prompt(facts: NamingFacts) -> Prompt:
    facts_json = json.dumps(facts.model_dump(mode="json"), indent=1, sort_keys=True)
    return Prompt(SYSTEM_PROMPT, f"Campaign and segment facts:\n{facts_json}", TEMPLATE_VERSION)


def computed_naming(facts: NamingFacts) -> SegmentNaming:
    """The offline answer: the computed names and descriptions, no strategy."""
    return SegmentNaming(
        segments=[
            SegmentWording(
                segment_id=s.segment_id,
                name=s.computed_name,
                description=s.computed_description or "",
                strategy=None,
            )
            for s in facts.segments
        ]
    )


def naming_step(
    facts: NamingFacts, customer_ids: Container[str]
) -> AiStep[NamingFacts, SegmentNaming]:
    ids = [s.segment_id for s in facts.segments]
    return AiStep(
        name=STEP,
        output=SegmentNaming,
        template_version=TEMPLATE_VERSION,
        prompt=naming_prompt,
        offline=computed_naming,
        check=lambda naming: naming_violations(
            naming.segments, ids, customer_ids, DEFAULT_BANNED_CLAIMS
        ),
    )


def worded(segmentation: Segmentation, naming: SegmentNaming) -> Segmentation:
    """``segmentation`` with the naming's words; every number is kept as it was."""
    by_id = {wording.segment_id: wording for wording in naming.segments}
    segments = []
    for segment in segmentation.segments:
        wording = by_id[segment.segment_id]
        segments.append(
            segment.model_copy(
                update={
                    "name": wording.name,
                    "description": wording.description or segment.description,
                    "strategy": wording.strategy,
                }
            )
        )
    return dataclasses.replace(segmentation, segments=segments)


class SegmentNamer:
    """Words segments with a model when one is configured; the computed words are its fallback."""

    def __init__(
        self, model: StructuredModel | None, prices: PriceTable, budget_seconds: float
    ) -> None:
        self._model = model
        self._prices = prices
        self._budget_seconds = budget_seconds

    async def name(
        self, segmentation: Segmentation, planned: CampaignPlanned, customer_ids: Container[str]
    ) -> tuple[Segmentation, Decision[SegmentNaming]]:
        """``customer_ids``: the base's ids, which no wording may contain."""
        facts = naming_facts(segmentation, planned)
        decision = await run_step(
            naming_step(facts, customer_ids),
            facts,
            # Nothing to name in an empty base: no reason to pay for a call.
            model=self._model if facts.segments else None,
            prices=self._prices,
            budget_seconds=self._budget_seconds,
        )
        return worded(segmentation, decision.output), decision
