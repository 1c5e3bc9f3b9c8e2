"""Analytics entrypoints of the optimisation cycle: campaign.evaluated out (see
``optimiser``); the planner's reallocations and the launcher's ad-set adjustments in, kept
for the report.

Each is kept once, whatever the redeliveries: events are deduplicated on their identity by
the unit of work, and a reallocation re-published under a new event id is known by its
campaign and cycle, an adjustment by its ad set, controller and time.
"""

from __future__ import annotations

from services.analytics.repository import AnalyticsTransaction
from shared.events.envelope import CloudEvent
from shared.events.optimisation import AdSetAdjusted, CampaignEvaluated, CampaignReallocated
from shared.events.topics import ADS_ADJUSTED, CAMPAIGN_EVALUATED, CAMPAIGN_REALLOCATED
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import UnitOfWork


def register_optimisation(infra: Infrastructure, uow: UnitOfWork[AnalyticsTransaction]) -> None:
    infra.publisher(
        CAMPAIGN_EVALUATED,
        CloudEvent[CampaignEvaluated],
        description="A live campaign's arms, A/B verdicts with next-wave weights, and "
        "channels: every optimisation cycle, or on request.",
    )

    @infra.subscriber(CAMPAIGN_REALLOCATED, description="Keep each reallocation for the report.")
    async def record_reallocation(event: CloudEvent[CampaignReallocated]) -> None:
        async with uow.consuming(event) as tx:
            await tx.reallocations.record(event.data)

    @infra.subscriber(ADS_ADJUSTED, description="Keep each bid or budget change for the report.")
    async def record_adjustment(event: CloudEvent[AdSetAdjusted]) -> None:
        async with uow.consuming(event) as tx:
            await tx.adjustments.record(event.data)
