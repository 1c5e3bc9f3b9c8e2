"""What a launch buys on its paid channels: one ad set per segment x variant x channel,
and each paid channel's allocation split among its ad sets.

The split follows the audience: a segment's share of the channel is its size over the
sizes of the segments that have a variant on that channel (a segment with none gets
nothing, and its share goes to the others), then evenly across its variants. Shares are
counted in the currency's minor unit: each ad set gets the whole units of its exact share,
and the units left over go one each to the largest remainders (the earlier ad set first
on a tie), so the budgets add up to exactly the allocation and never more. When every
segment is empty the segments share equally. An ad set whose share is zero is not bought.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from services.launcher.ads.platform import Audience, Creative
from services.launcher.domain.brief import LaunchBrief
from shared.events.campaigns import ContentPiece, Segment
from shared.events.common import Channel
from shared.money import MINOR_UNITS, Money, minor_unit, round_half_up
from shared.personalisation import render_for_recipient

PAID_CHANNELS = (Channel.SOCIAL, Channel.WEB)


@dataclass(frozen=True)
class PlannedAdSet:
    campaign_id: str
    channel: Channel
    segment: Segment
    piece: ContentPiece
    budget: Money
    bid: Money

    @property
    def key(self) -> str:
        """Unique per campaign x segment x variant x channel: the ad set's name."""
        return (
            f"{self.campaign_id}/{self.segment.segment_id}/{self.piece.variant_id}/{self.channel}"
        )

    def creative(self, fallback_headline: str) -> Creative:
        # No recipient is known on an ad: send-time tokens render as their fallbacks.
        piece = render_for_recipient(self.piece, None, unsubscribe_url="")
        return Creative(
            headline=piece.headline or piece.subject or fallback_headline,
            body=piece.body,
            call_to_action=piece.call_to_action,
            landing_url=piece.cta_url,
        )

    def audience(self) -> Audience:
        return Audience(self.segment.segment_id, self.segment.name, self.segment.size)


def plan_ad_sets(brief: LaunchBrief, bids: Mapping[Channel, Decimal]) -> list[PlannedAdSet]:
    """The ad sets of ``brief`` (which must be complete), in channel, segment, variant order."""
    if brief.planned is None or brief.segmented is None:
        raise ValueError(f"campaign {brief.campaign_id}: the brief is not complete")
    planned: list[PlannedAdSet] = []
    for channel in PAID_CHANNELS:
        allocation = brief.planned.allocation.get(channel)
        if allocation is None or not allocation.is_positive():
            continue
        slots = [
            (segment, variants)
            for segment in brief.segmented.segments
            if (variants := brief.variants(segment.segment_id, channel))
        ]
        weights = _weights([(segment.size, len(variants)) for segment, variants in slots])
        pieces = [(segment, piece) for segment, variants in slots for piece in variants]
        bid = _bid(bids[channel], allocation.currency)
        for (segment, piece), budget in zip(pieces, split(allocation, weights), strict=True):
            if budget.is_positive():
                planned.append(
                    PlannedAdSet(brief.campaign_id, channel, segment, piece, budget, bid)
                )
    return planned


def split(total: Money, weights: Sequence[Fraction]) -> list[Money]:
    """``total`` shared in proportion to ``weights`` by largest remainder, in minor units:
    the parts add up to ``total`` exactly (when any weight is positive)."""
    units = int(total.amount.scaleb(MINOR_UNITS[total.currency]))
    whole = sum(weights, Fraction(0))
    if whole <= 0:
        return [Money.zero(total.currency) for _ in weights]
    exact = [units * weight / whole for weight in weights]
    shares = [int(share) for share in exact]  # floor: every share is non-negative
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for index in by_remainder[: units - sum(shares)]:
        shares[index] += 1
    unit = minor_unit(total.currency)
    return [Money(amount=share * unit, currency=total.currency) for share in shares]


def rescale(total: Money, weights: Sequence[Fraction], spent: Sequence[Money]) -> list[Money]:
    """``total`` split by ``weights`` (as ``split``), but no part below what its ad set has
    ``spent``: such a part is its spend, and the others share what is left. The parts add
    up to ``total`` unless the spends alone exceed it (then each part is its spend)."""
    floored: set[int] = set()
    while True:
        free = [i for i in range(len(weights)) if i not in floored]
        left = total - sum((spent[i] for i in floored), Money.zero(total.currency))
        shares = split(
            left if left.is_positive() else Money.zero(total.currency), [weights[i] for i in free]
        )
        under = {i for i, share in zip(free, shares, strict=True) if share < spent[i]}
        if not under:
            parts = dict(zip(free, shares, strict=True))
            return [spent[i] if i in floored else parts[i] for i in range(len(weights))]
        floored |= under


def _weights(segments: Sequence[tuple[int, int]]) -> list[Fraction]:
    """Per variant: its segment's size over the segment's variant count; equal segment
    shares when no segment has anyone in it."""
    if not any(size for size, _ in segments):
        segments = [(1, variants) for _, variants in segments]
    return [Fraction(size, variants) for size, variants in segments for _ in range(variants)]


def _bid(per_thousand: Decimal, currency: str) -> Money:
    # A bid below the currency's smallest unit would bid nothing: bid that unit instead.
    amount = max(round_half_up(per_thousand, currency), minor_unit(currency))
    return Money(amount=amount, currency=currency)
