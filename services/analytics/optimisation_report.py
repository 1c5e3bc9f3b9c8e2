"""The report's optimisation section: the cycles run so far, the latest evaluation, each
test's weights over time, and what the planner and the launcher did in answer."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from shared.events.common import Channel
from shared.events.optimisation import AdSetAdjusted, CampaignEvaluated, CampaignReallocated


class WeightsPoint(BaseModel):
    cycle: int
    as_of: AwareDatetime
    segment_id: str
    channel: Channel
    weights: dict[str, float] = Field(description="Share of the next wave per variant.")


class OptimisationReport(BaseModel):
    cycles: int = Field(description="Evaluations run so far.")
    latest: CampaignEvaluated = Field(description="The last campaign.evaluated emitted.")
    weights_history: list[WeightsPoint] = Field(description="Per cycle and test, oldest first.")
    reallocations: list[CampaignReallocated] = Field(description="Oldest first.")
    adjustments: list[AdSetAdjusted] = Field(description="The newest 50, oldest first.")


def optimisation_report(
    evaluations: list[CampaignEvaluated],
    reallocations: list[CampaignReallocated],
    adjustments: list[AdSetAdjusted],
) -> OptimisationReport | None:
    """None before the first cycle; ``evaluations`` oldest first."""
    if not evaluations:
        return None
    return OptimisationReport(
        cycles=len(evaluations),
        latest=evaluations[-1],
        weights_history=[
            WeightsPoint(
                cycle=evaluation.cycle,
                as_of=evaluation.as_of,
                segment_id=verdict.segment_id,
                channel=verdict.channel,
                weights=verdict.weights,
            )
            for evaluation in evaluations
            for verdict in evaluation.experiments
        ],
        reallocations=reallocations,
        adjustments=adjustments,
    )
