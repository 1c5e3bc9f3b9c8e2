"""The LLM planning engine: a model proposes the budget split and writes the rationale.

The offline plan is made first and given to the model as the reference, with campaign facts
only (the planner holds no customer data). The proposal must pass the allocation guardrails;
the revenue forecast for it is recomputed from the response curves, never taken from the
model. With no model, or when the model fails, is too slow or breaks the rules, the offline
plan stands, labelled ``offline`` or ``offline-fallback``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from services.planner.domain import (
    ChannelObservation,
    EmailAudience,
    PlanningPolicy,
    learned_curves,
)
from services.planner.engines.offline import OfflinePlanner
from services.planner.forecast import forecast_revenue
from shared.ai.costs import PriceTable
from shared.ai.provider import Prompt, StructuredModel
from shared.ai.runner import AiStep, Decision, run_step
from shared.events.campaigns import CampaignPlanned, CampaignRequested, RevenueInterval, RoiInterval
from shared.events.common import Channel
from shared.guardrails import check_allocation
from shared.money import Money, minor_unit, round_half_up

STEP = "plan"
TEMPLATE_VERSION = "plan-proposal-v2"
OFFLINE_ENGINES = ("offline", "offline-fallback")

SYSTEM_PROMPT = """\
You plan the budget split of a marketing campaign across its channels.
You receive the campaign's facts and a reference split computed from each channel's
saturating response curve (revenue as a concave function of spend), with the revenue the
curves predict. Improve on the reference only when you have a reason grounded in the facts.

Rules your answer must keep:
- allocate over exactly the requested channels, each once;
- amounts in the budget's currency, exact to the cent, summing exactly to the budget;
- each channel's share within the given minimum and maximum share (when more than one
  channel is requested);
- a rationale of at most a few sentences, in plain language, naming every channel and
  consistent with the amounts you give: quote no amount other than the budget, your
  allocations, the product price or the reference's revenues; promise no results.

Answer only through the structured output (a PlanProposal)."""


class ChannelSpend(BaseModel):
    channel: Channel
    amount: Decimal = Field(description="In the budget's currency, exact to the cent.")


class PlanProposal(BaseModel):
    allocation: list[ChannelSpend] = Field(description="One entry per requested channel.")
    rationale: str = Field(min_length=1, max_length=2000)

    def by_channel(self) -> dict[Channel, Decimal]:
        return {spend.channel: spend.amount for spend in self.allocation}

    def finer_than(self, currency: str) -> list[str]:
        """The amounts ``currency`` cannot hold: money has nothing below its minor unit."""
        unit = minor_unit(currency)
        return [
            f"allocation[{spend.channel.value}] {spend.amount} is finer than {unit}"
            for spend in self.allocation
            if spend.amount != spend.amount.quantize(unit)
        ]

    def in_money(self, currency: str) -> dict[Channel, Money]:
        """The split in ``currency``, rounded half-up where ``finer_than`` finds it too fine."""
        return {
            channel: Money.of(round_half_up(amount, currency), currency)
            for channel, amount in self.by_channel().items()
        }


class PlanningFacts(BaseModel):
    """What the model sees: campaign facts and the curves' predictions, nothing personal."""

    campaign_name: str
    budget: Money
    channels: list[Channel]
    product_name: str
    product_price: Money
    min_share: Decimal
    max_share: Decimal
    reference: PlanProposal
    reference_revenue_by_channel: dict[Channel, Decimal] | None
    reference_revenue: Decimal = Field(description="What the curves predict for the reference.")
    reference_revenue_interval: tuple[Decimal, Decimal] | None = Field(
        default=None, description="80% interval of reference_revenue."
    )
    email_audience: int | None = Field(
        default=None, description="Customers an email can reach, from the last segmentation."
    )


def planning_facts(
    request: CampaignRequested,
    baseline: CampaignPlanned,
    policy: PlanningPolicy,
    audience: EmailAudience | None = None,
) -> PlanningFacts:
    single = len(request.channels) == 1
    return PlanningFacts(
        campaign_name=request.name,
        budget=request.budget,
        channels=list(request.channels),
        product_name=request.product.name,
        product_price=request.product.price,
        min_share=Decimal(0) if single else policy.limits.minimum,
        max_share=Decimal(1) if single else policy.limits.maximum,
        reference=PlanProposal(
            allocation=[
                ChannelSpend(channel=c, amount=spend.amount)
                for c, spend in baseline.allocation.items()
            ],
            rationale=baseline.rationale,
        ),
        reference_revenue_by_channel=(
            {c: revenue.amount for c, revenue in predicted.items()}
            if (predicted := baseline.predicted_revenue_by_channel)
            else None
        ),
        reference_revenue=baseline.predicted_revenue.amount,
        reference_revenue_interval=(
            (interval.low.amount, interval.high.amount)
            if (interval := baseline.predicted_revenue_interval)
            else None
        ),
        email_audience=audience.reachable if audience else None,
    )


def planning_prompt(facts: PlanningFacts) -> Prompt:
    facts_json = json.dumps(facts.model_dump(mode="json"), indent=1, sort_keys=True)
    return Prompt(SYSTEM_PROMPT, f"Campaign facts:\n{facts_json}", TEMPLATE_VERSION)


def proposal_violations(facts: PlanningFacts, proposal: PlanProposal) -> list[str]:
    channels = [spend.channel for spend in proposal.allocation]
    found = [
        f"{c.value} is allocated more than once" for c in set(channels) if channels.count(c) > 1
    ]
    found += [
        f"{c.value} was requested but has no allocation"
        for c in facts.channels
        if c not in channels
    ]
    currency = facts.budget.currency
    found += proposal.finer_than(currency)
    found += check_allocation(
        proposal.in_money(currency),
        facts.budget,
        facts.channels,
        facts.min_share,
        facts.max_share,
    )
    rationale = proposal.rationale.lower()
    found += [
        f"the rationale does not mention {c.value}"
        for c in facts.channels
        if c.value not in rationale
    ]
    found += [
        f"the rationale quotes {figure}, which is not an amount of the plan"
        for figure in unsupported_figures(facts, proposal)
    ]
    return found


# A figure of 100 or more in the rationale (an amount, not a share or a multiple) must be
# one the plan or the facts hold: the budget, an allocation, the price, a reference revenue
# or its interval.
_FIGURE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?!\s*%|[\w.,]\d|x\b)")
MIN_CHECKED_FIGURE = Decimal(100)


def _figures(text: str) -> set[Decimal]:
    return {Decimal(whole.replace(",", "") + fraction) for whole, fraction in _FIGURE.findall(text)}


def unsupported_figures(facts: PlanningFacts, proposal: PlanProposal) -> list[str]:
    known = {facts.budget.amount, facts.product_price.amount, *proposal.by_channel().values()}
    known |= set((facts.reference_revenue_by_channel or {}).values())
    known |= {facts.reference_revenue, *(facts.reference_revenue_interval or ())}
    if facts.email_audience is not None:
        known.add(Decimal(facts.email_audience))
    known |= _figures(f"{facts.campaign_name} {facts.product_name}")
    quoted = _figures(proposal.rationale)
    return sorted(
        f"{figure:,}"
        for figure in quoted
        if figure >= MIN_CHECKED_FIGURE and all(figure != amount for amount in known)
    )


def proposal_step(facts: PlanningFacts) -> AiStep[PlanningFacts, PlanProposal]:
    return AiStep(
        name=STEP,
        output=PlanProposal,
        template_version=TEMPLATE_VERSION,
        prompt=planning_prompt,
        offline=lambda known: known.reference,
        check=lambda proposal: proposal_violations(facts, proposal),
    )


class LlmPlanner:
    """Plans with a model when one is configured; the offline plan is its reference and fallback."""

    def __init__(
        self,
        policy: PlanningPolicy,
        model: StructuredModel | None,
        prices: PriceTable,
        budget_seconds: float,
    ) -> None:
        self._policy = policy
        self._offline = OfflinePlanner(policy)
        self._model = model
        self._prices = prices
        self._budget_seconds = budget_seconds

    async def plan(
        self,
        request: CampaignRequested,
        now: datetime,
        history: Sequence[ChannelObservation] = (),
        audience: EmailAudience | None = None,
    ) -> tuple[CampaignPlanned, Decision[PlanProposal]]:
        baseline = self._offline.plan(request, now, history, audience)
        facts = planning_facts(request, baseline, self._policy, audience)
        decision = await run_step(
            proposal_step(facts),
            facts,
            model=self._model,
            prices=self._prices,
            budget_seconds=self._budget_seconds,
        )
        if decision.engine in OFFLINE_ENGINES:
            plan = baseline.model_copy(update={"engine": decision.engine})
        else:
            plan = self._proposed_plan(request, baseline, decision, history, audience)
        return plan.model_copy(update={"ai_cost": decision.cost}), decision

    def _proposed_plan(
        self,
        request: CampaignRequested,
        baseline: CampaignPlanned,
        decision: Decision[PlanProposal],
        history: Sequence[ChannelObservation],
        audience: EmailAudience | None,
    ) -> CampaignPlanned:
        allocation = decision.output.in_money(request.budget.currency)
        curves = learned_curves(self._policy, request.channels, history, audience)
        forecast = forecast_revenue(allocation, curves, request.product.price, request.campaign_id)
        return baseline.model_copy(
            update={
                "allocation": allocation,
                "predicted_revenue": forecast.revenue,
                "predicted_roi": round(float(forecast.roi), 4),
                "predicted_revenue_interval": RevenueInterval(
                    low=forecast.revenue_low, high=forecast.revenue_high
                ),
                "predicted_roi_interval": RoiInterval(
                    low=round(float(forecast.roi_low), 4), high=round(float(forecast.roi_high), 4)
                ),
                "predicted_revenue_by_channel": forecast.revenue_by_channel,
                "engine": decision.engine,
                "rationale": decision.output.rationale,
            }
        )
