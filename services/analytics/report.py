"""The campaign report: the plan, the audience, the payments and totals, and the journey's
sections (funnel, breakdowns, attribution models, lift, processors), read in one go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics import figures, report_sections
from services.analytics.attribution.comparison import compare_models
from services.analytics.breakdowns import Cells, campaign_cells
from services.analytics.conversions import Conversion
from services.analytics.domain import CampaignTotals
from services.analytics.journey_store import AdSetsRepository, JourneysRepository
from services.analytics.journeys import Journey
from services.analytics.lift import campaign_groups, lift
from services.analytics.optimisation_report import OptimisationReport, optimisation_report
from services.analytics.optimisation_store import (
    AdjustmentsRepository,
    EvaluationsRepository,
    ReallocationsRepository,
)
from services.analytics.parked_payments import ParkedPayments
from services.analytics.payment_lines import PaymentLine
from services.analytics.payment_store import PaymentsRepository, PaymentStarts
from services.analytics.processor_figures import processor_figures
from services.analytics.report_sections import (
    AttributionModels,
    Breakdowns,
    FunnelStage,
    LiftReport,
    ProcessorReport,
)
from services.analytics.repository import CampaignTotalsRepository
from shared.events.campaigns import ProcessorShare, TotalsInCurrency
from shared.events.common import Channel
from shared.money import DecimalString, Money
from shared.storage.mongo import Document
from shared.storage.unit_of_work import UnitOfWork


class SegmentReport(BaseModel):
    segment_id: str
    name: str
    size: int
    predicted_conversion_rate: float


class ReachReport(BaseModel):
    channels: dict[Channel, int] = Field(description="People reached per channel at launch.")
    total: int


class TotalsReport(BaseModel):
    """Amounts in the budget's currency (before the plan, the first currency paid in);
    counts and rates over every currency."""

    gross: Money = Field(description="Completed payments' amounts, less what was refunded.")
    fees: Money = Field(description="Processor fees, less the refunded payments' share.")
    net: Money = Field(description="What the campaign keeps: gross less fees.")
    payments_completed: int = Field(description="In every currency.")
    payments_failed: int
    refunded: Money = Field(description="Refunded so far; already taken out of gross and net.")
    payments_refunded: int = Field(description="Payments refunded in part or in full.")
    success_rate: float = Field(description="Completed / (completed + failed).")
    average_transaction: Money = Field(description="Gross / completed payments in its currency.")
    processor_mix: list[ProcessorShare] = Field(description="The payments in gross's currency.")


class LaunchReport(BaseModel):
    messages_accepted: int = Field(description="Emails the recipients' servers accepted.")
    scheduled: int = Field(description="Emails waiting for a send window.")
    skipped: dict[str, int] = Field(description="People sent nothing, by reason.")
    held_out: int = Field(description="People kept out to measure the lift.")
    impressions: dict[Channel, int]


class CampaignReport(BaseModel):
    campaign_id: str
    name: str | None = Field(description="None until campaign.planned arrives.")
    budget: Money | None
    allocation: dict[Channel, Money]
    predicted_revenue: Money | None
    predicted_roi: float | None
    segments: list[SegmentReport]
    reach: ReachReport
    payments: list[PaymentLine]
    totals: TotalsReport
    other_currencies: list[TotalsInCurrency] = Field(
        description="Payments in currencies other than the totals', per currency, sorted by "
        "currency and never converted."
    )
    spend: Money | None = Field(
        description="The budget, plus the AI cost when the campaign is in USD; once planned."
    )
    ai_cost: DecimalString = Field(description="US dollars spent on model calls, unrounded.")
    actual_roi: float | None = Field(description="(net - spend) / spend, once planned.")
    conversion_rate: float | None = Field(description="Completed payments / total reach.")
    launch: LaunchReport | None = Field(description="None until campaign.launched arrives.")
    funnel: list[FunnelStage] = Field(description="Sent -> delivered -> clicked -> paid.")
    breakdowns: Breakdowns
    attribution_models: AttributionModels
    lift: LiftReport | None = Field(description="None until someone is treated and held out.")
    processors: list[ProcessorReport]
    awaiting_attribution: int = Field(
        description="Completed payments waiting briefly for the click they name; counted "
        "nowhere else until they are credited."
    )
    optimisation: OptimisationReport | None = Field(
        default=None, description="None before the first optimisation cycle."
    )


class CampaignReports:
    """Reads everything a campaign's report needs in one snapshot: the totals, the payment
    lines and the journeys are written by different transactions, and reading them one
    after another would let a payment that lands in between show in one and not the other."""

    def __init__(self, uow: UnitOfWork[Any], lookback: timedelta, half_life: timedelta) -> None:
        self._uow = uow
        self._lookback = lookback
        self._half_life = half_life

    async def report(self, campaign_id: str) -> CampaignReport | None:
        """None when analytics has never heard of the campaign."""
        async with self._uow.snapshot() as session:
            read = _SnapshotRead(self._uow.db, session, self._lookback, self._half_life)
            return await read.report(campaign_id)


class _SnapshotRead:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        session: AsyncClientSession,
        lookback: timedelta,
        half_life: timedelta,
    ) -> None:
        self._campaigns = CampaignTotalsRepository(db, session)
        self._payments = PaymentsRepository(db, session)
        self._starts = PaymentStarts(db, session)
        self._parked = ParkedPayments(db, session)
        self._journeys = JourneysRepository(db, session)
        self._ad_sets = AdSetsRepository(db, session)
        self._evaluations = EvaluationsRepository(db, session)
        self._reallocations = ReallocationsRepository(db, session)
        self._adjustments = AdjustmentsRepository(db, session)
        self._lookback = lookback
        self._half_life = half_life

    async def report(self, campaign_id: str) -> CampaignReport | None:
        totals = await self._campaigns.get(campaign_id)
        journeys = [journey async for journey in self._journeys.of_campaign(campaign_id)]
        awaiting = await self._parked.count_for(campaign_id)
        if totals is None and not journeys and not awaiting:
            return None
        totals = totals or CampaignTotals(campaign_id)  # so far, only engagement named it
        lines = await self._payments.for_campaign(campaign_id)
        conversions = await self._payments.conversions_of(campaign_id)
        currency = totals.reporting_currency
        cells = await self._cells(totals, journeys, conversions)
        plan = totals.plan
        unconverted = [journey.touches for journey in journeys if not journey.converted]
        comparison = compare_models(conversions, unconverted, currency, self._half_life)
        started = await self._starts.for_payments([line.payment_id for line in lines])
        return CampaignReport(
            campaign_id=totals.campaign_id,
            name=plan.name if plan else None,
            budget=plan.budget if plan else None,
            allocation=plan.allocation if plan else {},
            predicted_revenue=plan.predicted_revenue if plan else None,
            predicted_roi=plan.predicted_roi if plan else None,
            segments=[SegmentReport.model_validate(s.model_dump()) for s in totals.segments],
            reach=ReachReport(channels=totals.reach, total=totals.total_reach),
            payments=lines,
            totals=totals_report(totals),
            other_currencies=figures.other_currencies(totals),
            spend=figures.spend(totals),
            ai_cost=totals.ai_cost,
            actual_roi=figures.actual_roi(totals),
            conversion_rate=figures.conversion_rate(totals),
            launch=launch_report(totals),
            funnel=report_sections.funnel(cells),
            breakdowns=report_sections.breakdowns(cells, conversions),
            attribution_models=report_sections.attribution_models(
                comparison, self._half_life / timedelta(days=1)
            ),
            lift=report_sections.lift_report(lift(*campaign_groups(journeys, self._lookback))),
            processors=report_sections.processors(processor_figures(lines, started, currency)),
            awaiting_attribution=awaiting,
            optimisation=optimisation_report(
                await self._evaluations.of_campaign(campaign_id),
                await self._reallocations.of_campaign(campaign_id),
                await self._adjustments.latest_of(campaign_id),
            ),
        )

    async def _cells(
        self, totals: CampaignTotals, journeys: list[Journey], conversions: list[Conversion]
    ) -> Cells:
        plan = totals.plan
        return campaign_cells(
            totals.reporting_currency,
            journeys,
            conversions,
            await self._ad_sets.of_campaign(totals.campaign_id),
            plan.allocation.get(Channel.EMAIL) if plan else None,
        )


def launch_report(totals: CampaignTotals) -> LaunchReport | None:
    launched = totals.launch
    if launched is None:
        return None
    return LaunchReport(
        messages_accepted=launched.messages_accepted,
        scheduled=launched.scheduled,
        skipped=launched.skipped,
        held_out=launched.held_out,
        impressions=launched.impressions,
    )


def totals_report(totals: CampaignTotals) -> TotalsReport:
    reported = totals.reported
    return TotalsReport(
        gross=totals.money(reported.gross),
        fees=totals.money(reported.fees),
        net=totals.money(reported.net),
        payments_completed=totals.payments_completed,
        payments_failed=totals.payments_failed,
        refunded=totals.money(reported.refunded),
        payments_refunded=totals.payments_refunded,
        success_rate=figures.success_rate(totals),
        average_transaction=figures.average_transaction(totals),
        processor_mix=figures.processor_mix(totals),
    )
