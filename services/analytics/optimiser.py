"""The optimisation cycle: every ``optimiser_interval_seconds`` each live campaign is
evaluated (``evaluation``) and campaign.evaluated is emitted through the outbox, in the
transaction that stores the evaluation and records each verdict in the decision log.

A campaign is live once campaign.launched arrived and until its schedule's end. An
evaluation on demand (``evaluate``) takes any campaign analytics knows.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from services.analytics.arm_statistics import arm_tallies, channel_figures
from services.analytics.breakdowns import campaign_cells
from services.analytics.domain import CampaignTotals
from services.analytics.evaluation import OptimiserPolicy, evaluate, summary
from services.analytics.journey_store import AdSetsRepository, JourneysRepository
from services.analytics.payment_store import PaymentsRepository
from services.analytics.recording import Clock
from services.analytics.repository import AnalyticsTransaction, CampaignTotalsRepository
from shared.events.common import Channel
from shared.events.optimisation import CampaignEvaluated
from shared.events.topics import CAMPAIGN_EVALUATED
from shared.storage.mongo import Document
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

log = logging.getLogger(__name__)

DECISION_STEP = "experiment"


def is_live(totals: CampaignTotals, now: datetime) -> bool:
    if totals.launch is None:
        return False
    return totals.plan is None or now < totals.plan.schedule.ends_at


class Optimiser:
    """Evaluates campaigns: on demand, and on a schedule for the live ones."""

    def __init__(
        self,
        uow: UnitOfWork[AnalyticsTransaction],
        db: AsyncDatabase[Document],
        policy: OptimiserPolicy,
        interval: float,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._campaigns = CampaignTotalsRepository(db)
        self._journeys = JourneysRepository(db)
        self._payments = PaymentsRepository(db)
        self._ad_sets = AdSetsRepository(db)
        self._policy = policy
        self._interval = interval
        self._clock = clock
        # The on-demand route and the schedule would otherwise race for the same cycle.
        self._one_at_a_time = asyncio.Lock()

    async def evaluate(self, campaign_id: str) -> CampaignEvaluated | None:
        """The campaign.evaluated emitted now; None if analytics has never heard of it."""
        async with self._one_at_a_time:
            return await self._evaluate(campaign_id)

    @retry_on_write_conflict
    async def _evaluate(self, campaign_id: str) -> CampaignEvaluated | None:
        totals = await self._campaigns.get(campaign_id)
        if totals is None:
            return None
        currency = totals.reporting_currency
        conversions = await self._payments.conversions_of(campaign_id)
        plan = totals.plan
        cells = campaign_cells(
            currency,
            [journey async for journey in self._journeys.of_campaign(campaign_id)],
            conversions,
            await self._ad_sets.of_campaign(campaign_id),
            plan.allocation.get(Channel.EMAIL) if plan else None,
        )
        async with self._uow as tx:
            previous = await tx.evaluations.latest(campaign_id)
            evaluation = evaluate(
                campaign_id,
                cycle=0 if previous is None else previous.event.cycle + 1,
                as_of=self._clock(),
                tallies=arm_tallies(cells, conversions),
                channels=channel_figures(cells, previous.event.channels if previous else ()),
                previous=previous.states if previous else {},
                policy=self._policy,
                currency=currency,
            )
            await tx.evaluations.add(evaluation)
            event = evaluation.event
            await tx.emit(CAMPAIGN_EVALUATED, event, key=campaign_id)
            for verdict in event.experiments:
                await tx.decisions.record_rule(
                    campaign_id, DECISION_STEP, verdict, summary(verdict)
                )
        return event

    async def evaluate_live(self) -> int:
        """Evaluate every live campaign; one that fails is logged and the others go on."""
        now = self._clock()
        live = [t.campaign_id for t in await self._campaigns.launched() if is_live(t, now)]
        evaluated = 0
        for campaign_id in sorted(live):
            try:
                evaluated += await self.evaluate(campaign_id) is not None
            except Exception:
                log.exception("evaluating %s failed; retrying next cycle", campaign_id)
        return evaluated

    async def evaluate_periodically(self) -> None:
        """The background job; a failed round is logged and retried on the next tick."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.evaluate_live()
            except Exception:
                log.exception("optimisation round failed; retrying in %.0fs", self._interval)
