"""The analytics HTTP API: a campaign's report (``reports:read``), and its performance
published on demand (``events:write``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path
from pydantic import BaseModel, Field

from services.analytics import figures
from services.analytics.domain import CampaignTotals
from services.analytics.payment_lines import PaymentLine
from services.analytics.performance import PerformanceReporter
from services.analytics.repository import CampaignTotalsRepository, PaymentsRepository
from shared.api_keys.fastapi_dependency import requires
from shared.api_keys.keyring import ApiKeys
from shared.api_keys.keys import Scope
from shared.events.campaigns import ProcessorShare, TotalsInCurrency
from shared.events.common import Channel
from shared.money import DecimalString, Money
from shared.runtime import Infrastructure, health_routes

CampaignIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", examples=["spring-sale"])
]


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


class PerformanceAccepted(BaseModel):
    campaign_id: str
    event_id: str = Field(description="The campaign.performance event's id.")


def campaign_report(totals: CampaignTotals, payments: list[PaymentLine]) -> CampaignReport:
    plan = totals.plan
    return CampaignReport(
        campaign_id=totals.campaign_id,
        name=plan.name if plan else None,
        budget=plan.budget if plan else None,
        allocation=plan.allocation if plan else {},
        predicted_revenue=plan.predicted_revenue if plan else None,
        predicted_roi=plan.predicted_roi if plan else None,
        segments=[SegmentReport.model_validate(s.model_dump()) for s in totals.segments],
        reach=ReachReport(channels=totals.reach, total=totals.total_reach),
        payments=payments,
        totals=totals_report(totals),
        other_currencies=figures.other_currencies(totals),
        spend=figures.spend(totals),
        ai_cost=totals.ai_cost,
        actual_roi=figures.actual_roi(totals),
        conversion_rate=figures.conversion_rate(totals),
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


def unknown_campaign(campaign_id: str) -> HTTPException:
    return HTTPException(
        status_code=404,
        detail=f"campaign {campaign_id!r} is unknown to analytics: "
        "no plan, segments, launch or payment has named it yet",
    )


def build_api(
    infra: Infrastructure,
    campaigns: CampaignTotalsRepository,
    payments: PaymentsRepository,
    reporter: PerformanceReporter,
    keys: ApiKeys,
) -> FastAPI:
    api = FastAPI(
        title="Analytics",
        version="1",
        description="Campaign reports. Every /v1 call needs a bearer API key holding the "
        "route's scope: ANALYTICS_API_KEY, or one from API_KEYS_FILE.",
        routes=health_routes(infra),
    )
    denied: dict[int | str, dict[str, Any]] = {
        401: {"description": "No API key, or one that is not ours."},
        403: {"description": "The key lacks the route's scope."},
    }

    @api.get(
        "/v1/campaigns/{campaign_id}/report",
        responses={404: {"description": "Unknown"}, **denied},
        dependencies=[requires(keys, Scope.REPORTS_READ)],
    )
    async def report(campaign_id: CampaignIdPath) -> CampaignReport:
        totals = await campaigns.get(campaign_id)
        if totals is None:
            raise unknown_campaign(campaign_id)
        return campaign_report(totals, await payments.for_campaign(campaign_id))

    @api.post(
        "/v1/campaigns/{campaign_id}/performance",
        status_code=202,
        responses={404: {"description": "Unknown"}, **denied},
        dependencies=[requires(keys, Scope.EVENTS_WRITE)],
    )
    async def publish_performance(campaign_id: CampaignIdPath) -> PerformanceAccepted:
        event = await reporter.report(campaign_id)
        if event is None:
            raise unknown_campaign(campaign_id)
        return PerformanceAccepted(campaign_id=campaign_id, event_id=event.id)

    return api
