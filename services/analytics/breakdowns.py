"""Per channel, segment and variant: who was reached, who clicked, who paid, what it earned
and what it cost.

Everything starts from cells, one per channel x segment x variant, which the rows add up:

- email counts **people**: emailed (accepted by their server, or refused for good), of whom
  delivered (accepted and never hard-bounced), and clicked;
- ads count **impressions** and **spend** as the ad platform last reported them
  (``ads.reported``, running totals per ad set);
- **clicks** are the tracked clicks analytics received (``engagement.clicked``), on every
  channel, so that one definition holds across the table;
- **conversions** are completed payments credited by the attribution rule (last touch), and
  gross, fees and net are theirs, net of refunds, in the reporting currency;
- the conversion rate divides conversions by the people emailed (email) or by the clicks
  (ads), never by impressions; a row spanning channels adds each channel's denominator;
- **spend** is the ad platform's for ads; email reports no cost of its own, so its spend is
  the plan's email allocation, shared among the email cells by the people each emailed
  (zero before the plan). ROI is (net - spend) / spend.

A hard bounce with no accepted send names no segment or variant; it counts under email only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from services.analytics.attribution.comparison import Dimension
from services.analytics.attribution.credit import split_by_shares
from services.analytics.conversions import Conversion
from services.analytics.journeys import Journey, TouchKind
from shared.events.common import Channel
from shared.events.engagement import AdsReported
from shared.money import Money

UNKNOWN = ""  # the segment and variant of a bounce that named neither

type CellKey = tuple[Channel, str, str]


@dataclass
class Cell:
    emailed: int = 0
    delivered: int = 0
    clickers: set[str] = field(default_factory=set)
    clicks: int = 0
    impressions: int = 0
    conversion_base: int = 0  # people emailed plus clicks on ads
    conversions: int = 0
    payers: set[str] = field(default_factory=set)
    spend: Decimal = Decimal(0)
    gross: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    net: Decimal = Decimal(0)

    def add(self, other: Cell) -> None:
        self.emailed += other.emailed
        self.delivered += other.delivered
        self.clickers |= other.clickers
        self.clicks += other.clicks
        self.impressions += other.impressions
        self.conversion_base += other.conversion_base
        self.conversions += other.conversions
        self.payers |= other.payers
        self.spend += other.spend
        self.gross += other.gross
        self.fees += other.fees
        self.net += other.net

    @property
    def conversion_rate(self) -> float | None:
        return round(self.conversions / self.conversion_base, 6) if self.conversion_base else None

    @property
    def roi(self) -> float | None:
        return round(float((self.net - self.spend) / self.spend), 4) if self.spend else None


class Cells:
    """A campaign's cells, in its reporting currency."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.by_key: dict[CellKey, Cell] = {}

    def at(self, channel: Channel, segment_id: str | None, variant_id: str | None) -> Cell:
        key = (channel, segment_id or UNKNOWN, variant_id or UNKNOWN)
        return self.by_key.setdefault(key, Cell())

    def count_journey(self, journey: Journey) -> None:
        send = journey.first_send
        if send is not None:
            reached = self.at(send.channel, send.segment_id, send.variant_id)
            reached.emailed += 1
            reached.conversion_base += 1
            reached.delivered += int(journey.delivered)
        elif journey.hard_bounced_at is not None:
            bounced = self.at(Channel.EMAIL, UNKNOWN, UNKNOWN)
            bounced.emailed += 1
            bounced.conversion_base += 1
        for touch in journey.touches:
            if touch.kind is TouchKind.CLICKED:
                clicked = self.at(touch.channel, touch.segment_id, touch.variant_id)
                clicked.clicks += 1
                clicked.conversion_base += int(touch.channel is not Channel.EMAIL)
                clicked.clickers.add(journey.person)

    def count_conversion(self, conversion: Conversion) -> None:
        attribution = conversion.attribution
        if attribution.channel is None or conversion.net.currency != self.currency:
            return
        paid = self.at(attribution.channel, attribution.segment_id, attribution.variant_id)
        paid.conversions += 1
        paid.payers.add(conversion.customer_id)
        paid.gross += conversion.gross.amount
        paid.fees += conversion.fee.amount
        paid.net += conversion.net.amount

    def count_ad_set(self, ad_set: AdsReported) -> None:
        shown = self.at(ad_set.channel, ad_set.segment_id, ad_set.variant_id)
        shown.impressions += ad_set.impressions
        if ad_set.spend.currency == self.currency:
            shown.spend += ad_set.spend.amount

    def spend_email_allocation(self, allocation: Money | None) -> None:
        """Share the plan's email allocation by people emailed; count it once, at the end."""
        emailed = {
            f"{segment}\x1f{variant}": cell
            for (channel, segment, variant), cell in self.by_key.items()
            if channel is Channel.EMAIL and cell.emailed
        }
        if allocation is None or allocation.currency != self.currency or not emailed:
            return
        shares = split_by_shares(allocation, {name: c.emailed for name, c in emailed.items()})
        for name, amount in shares.items():
            emailed[name].spend += amount.amount

    def rows_by(self, dimension: Dimension) -> dict[str, Cell]:
        rows: dict[str, Cell] = {}
        for (channel, segment_id, variant_id), cell in sorted(self.by_key.items()):
            key = {
                Dimension.CHANNEL: channel.value,
                Dimension.SEGMENT: segment_id,
                Dimension.VARIANT: variant_id,
            }[dimension]
            rows.setdefault(key, Cell()).add(cell)
        return rows


def campaign_cells(
    currency: str,
    journeys: Iterable[Journey],
    conversions: Iterable[Conversion],
    ad_sets: Iterable[AdsReported],
    email_allocation: Money | None,
) -> Cells:
    """A campaign's cells from everything analytics stored of it."""
    cells = Cells(currency)
    for journey in journeys:
        cells.count_journey(journey)
    for conversion in conversions:
        cells.count_conversion(conversion)
    for ad_set in ad_sets:
        cells.count_ad_set(ad_set)
    cells.spend_email_allocation(email_allocation)
    return cells
