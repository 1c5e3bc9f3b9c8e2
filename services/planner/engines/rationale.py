"""The rationale of a reallocation: the model's "analysis and suggested optimisations".

The decision is taken by the curves and the guardrails (``replanning.py``); the model only
explains it, given the decision's numbers. It may quote no number the decision does not
hold (``quoted_numbers.py``): a rationale that does is re-asked once, then replaced by the
offline engine's, written from the decision's reasons.
"""

from __future__ import annotations

import json
from decimal import Decimal

from pydantic import BaseModel, Field

from services.planner.engines.quoted_numbers import KnownNumbers, unsupported_numbers
from services.planner.reallocation import ReallocationRules
from services.planner.replanning import Replanning
from shared.ai.costs import PriceTable
from shared.ai.provider import Prompt, StructuredModel
from shared.ai.runner import AiStep, Decision, run_step
from shared.events.common import Channel
from shared.money import Money, sum_money

STEP = "reallocation-rationale"
TEMPLATE_VERSION = "reallocation-rationale-v1"

SYSTEM_PROMPT = """\
You explain a budget reallocation of a running marketing campaign to its marketer.
The reallocation was decided by saturating response curves, updated with the campaign's
live spend and net revenue, within guardrails: at most max_shift of the remaining budget
moves per cycle, and each live channel keeps at least min_share of it.
Write a short analysis (a few sentences) of what the figures show and the suggested
optimisations. Quote only numbers that appear in the facts, in the same units (amounts,
or shares as percentages); quote no other number, forecast or promise.
Answer only through the structured output (a ReallocationRationale)."""


class ReallocationRationale(BaseModel):
    rationale: str = Field(min_length=1, max_length=2000)


class ReallocationFacts(BaseModel):
    """What the model sees: the decision's numbers, nothing about customers."""

    campaign_name: str
    cycle: int
    max_shift: Decimal
    min_share: Decimal
    remaining: Money
    moved: Money
    previous: dict[Channel, Money]
    allocation: dict[Channel, Money]
    spent: dict[Channel, Money]
    net: dict[Channel, Money]
    live_remaining: Money = Field(description="What the live channels had left, together.")
    remaining_before: dict[Channel, Money] = Field(description="Live channels' left, before.")
    remaining_after: dict[Channel, Money] = Field(description="Live channels' left, after.")
    reasons: list[str]

    def known_numbers(self) -> KnownNumbers:
        amounts = [self.remaining, self.live_remaining, self.moved]
        for split in (self.previous, self.allocation, self.spent, self.net):
            amounts += split.values()
        amounts += [*self.remaining_before.values(), *self.remaining_after.values()]
        shares = [self.max_shift, self.min_share]
        left = self.live_remaining.amount
        if left > 0:
            for split in (self.remaining_before, self.remaining_after):
                shares += [m.amount / left for m in split.values()]
            shares.append(self.moved.amount / left)
        return KnownNumbers.of(
            amounts=[m.amount for m in amounts] + [Decimal(self.cycle)],
            shares=shares,
            texts=[*self.reasons, self.campaign_name],
        )


def reallocation_facts(
    campaign_name: str,
    cycle: int,
    replanning: Replanning,
    net: dict[Channel, Money],
    rules: ReallocationRules,
) -> ReallocationFacts:
    currency = replanning.remaining.currency
    return ReallocationFacts(
        campaign_name=campaign_name,
        cycle=cycle,
        max_shift=rules.max_shift,
        min_share=rules.min_share,
        remaining=replanning.remaining,
        moved=replanning.reallocation.moved,
        previous=replanning.previous,
        allocation=replanning.allocation,
        spent=replanning.spent,
        net=net,
        live_remaining=sum_money(list(replanning.live_remaining.values()), currency),
        remaining_before=replanning.live_remaining,
        remaining_after=replanning.reallocation.allocation,
        reasons=replanning.reallocation.reasons,
    )


def offline_rationale(facts: ReallocationFacts) -> ReallocationRationale:
    """The reasons, in a sentence each: every number in them is the decision's own."""
    return ReallocationRationale(
        rationale=f"Cycle {facts.cycle}: {facts.moved} of the {facts.live_remaining} the ad "
        "channels had left moved towards those whose next unit of spend returns more. "
        + ". ".join(reason[0].upper() + reason[1:] for reason in facts.reasons)
        + "."
    )


def rationale_violations(facts: ReallocationFacts, output: ReallocationRationale) -> list[str]:
    return [
        f"the rationale quotes {number}, which the decision does not hold"
        for number in unsupported_numbers(output.rationale, facts.known_numbers())
    ]


def rationale_step(facts: ReallocationFacts) -> AiStep[ReallocationFacts, ReallocationRationale]:
    return AiStep(
        name=STEP,
        output=ReallocationRationale,
        template_version=TEMPLATE_VERSION,
        prompt=rationale_prompt,
        offline=offline_rationale,
        check=lambda output: rationale_violations(facts, output),
    )


def rationale_prompt(facts: ReallocationFacts) -> Prompt:
    facts_json = json.dumps(facts.model_dump(mode="json"), indent=1, sort_keys=True)
    return Prompt(SYSTEM_PROMPT, f"Reallocation facts:\n{facts_json}", TEMPLATE_VERSION)


class RationaleWriter:
    """Writes a reallocation's rationale with a model when one is configured, else offline."""

    def __init__(
        self, model: StructuredModel | None, prices: PriceTable, budget_seconds: float
    ) -> None:
        self._model = model
        self._prices = prices
        self._budget_seconds = budget_seconds

    async def write(self, facts: ReallocationFacts) -> Decision[ReallocationRationale]:
        return await run_step(
            rationale_step(facts),
            facts,
            model=self._model,
            prices=self._prices,
            budget_seconds=self._budget_seconds,
        )
