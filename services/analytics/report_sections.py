"""The report's journey sections: the funnel, the breakdowns per channel, segment and
variant, the attribution models side by side, the lift over the holdout, the processors.

Views only: each is built from what the domain computed (``breakdowns``, ``attribution``,
``lift``, ``processor_figures``), and its fields say what they count.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.analytics.attribution.comparison import CreditRow, Dimension, ModelComparison
from services.analytics.attribution.models import Model
from services.analytics.breakdowns import Cell, Cells
from services.analytics.conversions import Conversion
from services.analytics.lift import CONFIDENCE, Group, Interval, Lift
from services.analytics.processor_figures import ProcessorFigures
from shared.events.common import Channel
from shared.money import Money, sum_money


class FunnelStage(BaseModel):
    channel: Channel
    emailed: int | None = Field(description="Email: people sent to (accepted or bounced).")
    delivered: int | None = Field(description="Email: accepted and never hard-bounced.")
    impressions: int | None = Field(description="Ads: as the ad platform reported them.")
    clicked: int = Field(description="Email: people who clicked; ads: clicks.")
    paid: int = Field(description="People with a payment credited to the channel.")


class BreakdownRow(BaseModel):
    key: str = Field(description="The channel, segment or variant; empty when none was named.")
    recipients: int = Field(description="People emailed.")
    impressions: int = Field(description="Ad impressions.")
    clicks: int = Field(description="Tracked clicks.")
    conversions: int = Field(description="Completed payments credited here (last touch).")
    conversion_rate: float | None = Field(
        description="Conversions / (people emailed + clicks on ads); never over impressions."
    )
    gross: Money
    fees: Money
    net: Money = Field(description="Gross less fees, net of refunds.")
    spend: Money = Field(description="Ads: as reported; email: its share of the allocation.")
    roi: float | None = Field(description="(net - spend) / spend; None without spend.")


class UnattributedReport(BaseModel):
    payments: int
    gross: Money
    fees: Money
    net: Money


class Breakdowns(BaseModel):
    """In the reporting currency."""

    channels: list[BreakdownRow]
    segments: list[BreakdownRow]
    variants: list[BreakdownRow]
    unattributed: UnattributedReport = Field(description="Organic: no touch to credit.")


class ModelCreditRow(BaseModel):
    key: str
    last_touch: Money
    first_touch: Money
    linear: Money
    time_decay: Money
    position_based: Money
    markov: Money


class AttributionModels(BaseModel):
    """Each model's share of the attributed net revenue; every column sums to it exactly."""

    attributed_net: Money
    conversions: int
    time_decay_half_life_days: float
    channels: list[ModelCreditRow]
    segments: list[ModelCreditRow]
    variants: list[ModelCreditRow]


class IntervalReport(BaseModel):
    low: float
    high: float


class LiftGroup(BaseModel):
    people: int
    converted: int
    conversion_rate: float


class LiftReport(BaseModel):
    treated: LiftGroup = Field(description="People emailed.")
    held_out: LiftGroup = Field(description="People kept out on purpose.")
    absolute_lift: float = Field(description="Treated rate - held-out rate.")
    absolute_interval: IntervalReport = Field(description="Newcombe hybrid score (Wilson).")
    relative_lift: float | None = Field(description="Treated / held-out rate - 1.")
    relative_interval: IntervalReport | None = Field(description="Katz log rate ratio, - 1.")
    confidence: float = CONFIDENCE


class ProcessorReport(BaseModel):
    processor: str
    completed: int
    failed: int
    success_rate: float
    fees: Money = Field(description="As charged, in the reporting currency.")
    mean_latency_seconds: float | None = Field(
        description="payment.initiated to completion or failure, on average."
    )


def funnel(cells: Cells) -> list[FunnelStage]:
    stages = []
    for key, row in cells.rows_by(Dimension.CHANNEL).items():
        channel = Channel(key)
        email = channel is Channel.EMAIL
        stages.append(
            FunnelStage(
                channel=channel,
                emailed=row.emailed if email else None,
                delivered=row.delivered if email else None,
                impressions=None if email else row.impressions,
                clicked=len(row.clickers) if email else row.clicks,
                paid=len(row.payers),
            )
        )
    return stages


def breakdowns(cells: Cells, conversions: list[Conversion]) -> Breakdowns:
    currency = cells.currency
    organic = [c for c in conversions if not c.attributed and c.net.currency == currency]

    def rows(dimension: Dimension) -> list[BreakdownRow]:
        return [_row(key, row, currency) for key, row in cells.rows_by(dimension).items()]

    return Breakdowns(
        channels=rows(Dimension.CHANNEL),
        segments=rows(Dimension.SEGMENT),
        variants=rows(Dimension.VARIANT),
        unattributed=UnattributedReport(
            payments=len(organic),
            gross=sum_money([c.gross for c in organic], currency),
            fees=sum_money([c.fee for c in organic], currency),
            net=sum_money([c.net for c in organic], currency),
        ),
    )


def _row(key: str, row: Cell, currency: str) -> BreakdownRow:
    return BreakdownRow(
        key=key,
        recipients=row.emailed,
        impressions=row.impressions,
        clicks=row.clicks,
        conversions=row.conversions,
        conversion_rate=row.conversion_rate,
        gross=Money.of(row.gross, currency),
        fees=Money.of(row.fees, currency),
        net=Money.of(row.net, currency),
        spend=Money.of(row.spend, currency),
        roi=row.roi,
    )


def attribution_models(comparison: ModelComparison, half_life_days: float) -> AttributionModels:
    def rows(dimension: Dimension) -> list[ModelCreditRow]:
        return [_credit_row(row) for row in comparison.rows[dimension]]

    return AttributionModels(
        attributed_net=comparison.attributed_net,
        conversions=comparison.conversions,
        time_decay_half_life_days=half_life_days,
        channels=rows(Dimension.CHANNEL),
        segments=rows(Dimension.SEGMENT),
        variants=rows(Dimension.VARIANT),
    )


def _credit_row(row: CreditRow) -> ModelCreditRow:
    return ModelCreditRow(key=row.key, **{model.value: row.credit[model] for model in Model})


def lift_report(found: Lift | None) -> LiftReport | None:
    if found is None:
        return None
    return LiftReport(
        treated=_group(found.treated),
        held_out=_group(found.held_out),
        absolute_lift=round(found.absolute, 6),
        absolute_interval=_interval(found.absolute_interval),
        relative_lift=None if found.relative is None else round(found.relative, 4),
        relative_interval=_interval(found.relative_interval) if found.relative_interval else None,
    )


def _group(group: Group) -> LiftGroup:
    return LiftGroup(
        people=group.people, converted=group.converted, conversion_rate=round(group.rate, 6)
    )


def _interval(interval: Interval) -> IntervalReport:
    return IntervalReport(low=round(interval.low, 6), high=round(interval.high, 6))


def processors(figures: list[ProcessorFigures]) -> list[ProcessorReport]:
    return [ProcessorReport.model_validate(figure, from_attributes=True) for figure in figures]
