"""What the optimiser measures each cycle, from the report's cells (``breakdowns``).

Per **arm** (segment x channel x variant):

- **exposures**: the people emailed (email) or the tracked clicks (ads), the same
  conversion base as the breakdowns;
- **conversions**: the people with a payment credited to the arm (last touch), at most the
  exposures: a payment credited to a variant whose send analytics never saw cannot make the
  rate exceed 1;
- **net**: the arm's net revenue after processor fees and refunds, and the sum of each
  converter's net squared, so that net revenue per exposure has a sample variance (every
  exposure that did not convert earned 0).

Per **channel**: spend, net revenue, conversions, clicks, and the **marginal ROAS**: the net
revenue added per unit of spend added since the previous evaluation; None without a
previous evaluation or without new spend.

Cells naming no segment or variant (a hard bounce with no accepted send) are no arm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from services.analytics.attribution.comparison import Dimension
from services.analytics.breakdowns import UNKNOWN, Cell, CellKey, Cells
from services.analytics.conversions import Conversion
from services.analytics.experiments import Arm
from shared.events.common import Channel
from shared.events.optimisation import ArmFigures, ChannelFigures
from shared.money import Money


@dataclass(frozen=True)
class ArmTally:
    segment_id: str
    channel: Channel
    variant_id: str
    exposures: int
    conversions: int
    net: Decimal
    net_squares: Decimal  # sum over converters of (their net)^2

    @property
    def test(self) -> tuple[str, Channel]:
        """The segment x channel whose A/B test the arm belongs to."""
        return self.segment_id, self.channel

    def as_arm(self) -> Arm:
        """For ``experiments``: statistics in floats, never money."""
        return Arm(
            variant_id=self.variant_id,
            recipients=self.exposures,
            conversions=self.conversions,
            revenue=float(self.net),
            revenue_squares=float(self.net_squares),
        )

    def figures(self, currency: str) -> ArmFigures:
        return ArmFigures(
            segment_id=self.segment_id,
            channel=self.channel,
            variant_id=self.variant_id,
            exposures=self.exposures,
            conversions=self.conversions,
            net=Money.of(self.net, currency),
        )


def exposures_of(channel: Channel, cell: Cell) -> int:
    return cell.emailed if channel is Channel.EMAIL else cell.clicks


def net_per_converter(
    conversions: Iterable[Conversion], currency: str
) -> dict[CellKey, dict[str, Decimal]]:
    """Per arm, each converter's net revenue (after refunds) in ``currency``."""
    nets: dict[CellKey, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for conversion in conversions:
        credited = conversion.attribution
        if credited.channel is None or conversion.net.currency != currency:
            continue
        key = (credited.channel, credited.segment_id or UNKNOWN, credited.variant_id or UNKNOWN)
        nets[key][conversion.customer_id] += conversion.net.amount
    return nets


def arm_tallies(cells: Cells, conversions: Iterable[Conversion]) -> list[ArmTally]:
    """Every arm with a segment and a variant, sorted by segment, channel and variant."""
    nets = net_per_converter(conversions, cells.currency)
    tallies = []
    for (channel, segment_id, variant_id), cell in sorted(cells.by_key.items()):
        if segment_id == UNKNOWN or variant_id == UNKNOWN:
            continue
        exposures = exposures_of(channel, cell)
        converters = nets.get((channel, segment_id, variant_id), {})
        tallies.append(
            ArmTally(
                segment_id=segment_id,
                channel=channel,
                variant_id=variant_id,
                exposures=exposures,
                conversions=min(len(cell.payers), exposures),
                net=cell.net,
                net_squares=sum((net * net for net in converters.values()), Decimal(0)),
            )
        )
    return tallies


def channel_figures(cells: Cells, previous: Iterable[ChannelFigures] = ()) -> list[ChannelFigures]:
    """Per channel, sorted; ``previous`` is the last evaluation's, for the marginal ROAS."""
    before = {figures.channel: figures for figures in previous}
    currency = cells.currency
    found = []
    for key, row in cells.rows_by(Dimension.CHANNEL).items():
        channel = Channel(key)
        spend, net = Money.of(row.spend, currency), Money.of(row.net, currency)
        found.append(
            ChannelFigures(
                channel=channel,
                spend=spend,
                net=net,
                conversions=row.conversions,
                clicks=row.clicks,
                marginal_roas=marginal_roas(before.get(channel), spend, net),
            )
        )
    return found


def marginal_roas(previous: ChannelFigures | None, spend: Money, net: Money) -> float | None:
    """Net revenue added per unit of spend added; None without a comparable earlier cycle
    or when nothing more was spent."""
    if previous is None or previous.spend.currency != spend.currency:
        return None
    added_spend = spend.amount - previous.spend.amount
    if added_spend <= 0:
        return None
    return round(float((net.amount - previous.net.amount) / added_spend), 4)
