"""Answering each optimisation cycle: campaign.evaluated in, campaign.reallocated out.

The curves (history, then the live figures) and the guardrails decide; the model, or the
offline engine, explains. A cycle is applied once per campaign: a redelivery, or an older
cycle arriving late, changes nothing. Every applied cycle is recorded in the decision log,
and the new allocation becomes the one the next cycle starts from. An event is emitted only
when the allocation changes by at least a cent: an unchanged split gives the launcher
nothing to do, and the decision log already says why nothing moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.planner.domain import PlanningPolicy, learned_curves
from services.planner.engines.rationale import STEP as RATIONALE_STEP
from services.planner.engines.rationale import (
    RationaleWriter,
    ReallocationFacts,
    ReallocationRationale,
    offline_rationale,
    reallocation_facts,
)
from services.planner.live_curves import live_curves
from services.planner.reallocation import ReallocationRules
from services.planner.replanning import Replanning, replan
from services.planner.repository import (
    Audiences,
    CurrentAllocations,
    Observations,
    PlannerTransaction,
)
from shared.ai.runner import Decision
from shared.events.campaigns import CampaignPlanned
from shared.events.envelope import CloudEvent
from shared.events.optimisation import CampaignEvaluated, CampaignReallocated
from shared.events.topics import CAMPAIGN_REALLOCATED
from shared.storage.once_per_campaign import OncePerCampaign
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

STEP = "reallocate"


@dataclass(frozen=True)
class Reallocator:
    uow: UnitOfWork[PlannerTransaction]
    plans: OncePerCampaign[CampaignPlanned]
    allocations: CurrentAllocations
    observations: Observations
    audiences: Audiences
    policy: PlanningPolicy
    rules: ReallocationRules
    writer: RationaleWriter

    async def on_evaluated(self, event: CloudEvent[CampaignEvaluated]) -> None:
        evaluated = event.data
        plan = await self.plans.get(evaluated.campaign_id)
        if plan is None:
            return  # not planned here: the budget is not the planner's to move
        latest = await self.allocations.latest(plan.campaign_id)
        current, last_cycle = latest or (dict(plan.allocation), -1)
        if evaluated.cycle <= last_cycle:
            return
        history, audience = await self.observations.history(), await self.audiences.latest()
        prior = learned_curves(self.policy, list(plan.allocation), history, audience)
        curves = live_curves(prior, evaluated.channels, plan.product.price)
        replanning = replan(plan, current, evaluated, curves, self.rules)
        net = {f.channel: f.net for f in evaluated.channels if f.channel in plan.allocation}
        facts = reallocation_facts(plan.name, evaluated.cycle, replanning, net, self.rules)
        # Written outside the transaction: a model call must never hold one open.
        decision = await self.writer.write(facts) if replanning.changed else None
        await self._save(event, replanning, facts, decision)

    @retry_on_write_conflict
    async def _save(
        self,
        event: CloudEvent[CampaignEvaluated],
        replanning: Replanning,
        facts: ReallocationFacts,
        decision: Decision[ReallocationRationale] | None,
    ) -> None:
        evaluated = event.data
        campaign_id = evaluated.campaign_id
        async with self.uow.consuming(event) as tx:
            stored = await tx.allocations.latest(campaign_id)
            if stored is not None and stored[1] >= evaluated.cycle:
                return  # applied meanwhile by another delivery of this cycle
            await tx.allocations.record(campaign_id, replanning.allocation, evaluated.cycle)
            reallocated = reallocated_event(evaluated, replanning, facts, decision)
            await tx.decisions.record_rule(campaign_id, STEP, reallocated, summary(facts))
            if decision is not None:
                await tx.decisions.record(campaign_id, RATIONALE_STEP, decision)
                await tx.emit(CAMPAIGN_REALLOCATED, reallocated, key=campaign_id, cause=event)


def reallocated_event(
    evaluated: CampaignEvaluated,
    replanning: Replanning,
    facts: ReallocationFacts,
    decision: Decision[ReallocationRationale] | None,
) -> CampaignReallocated:
    rationale = decision.output if decision is not None else offline_rationale(facts)
    return CampaignReallocated(
        campaign_id=evaluated.campaign_id,
        cycle=evaluated.cycle,
        as_of=evaluated.as_of,
        previous=replanning.previous,
        allocation=replanning.allocation,
        spent=replanning.spent,
        remaining=replanning.remaining,
        reasons=replanning.reallocation.reasons,
        rationale=rationale.rationale,
        engine=decision.engine if decision is not None else "offline",
        ai_cost=decision.cost if decision is not None else Decimal(0),
    )


def summary(facts: ReallocationFacts) -> str:
    if not facts.moved.is_positive() and facts.previous == facts.allocation:
        return f"cycle {facts.cycle}: nothing moved ({'; '.join(facts.reasons)})"
    return f"cycle {facts.cycle}: moved {facts.moved} of the remaining {facts.remaining}"
