"""A synthetic market whose truth is known, for the optimiser benchmark.

Email reaches each segment's audience in waves, one per cycle, whatever is spent: its
budget is a fixed cost, as the planner treats it. A paid channel's cumulative spend ``s``
buys ``A * (1 - exp(-s / B))`` clicks over the campaign: diminishing returns, since more
spend reaches people already reached. ``A`` and ``B`` are the channel's reach and
saturation spend per cycle times the campaign's cycles, so a longer campaign is more of the
same market. Exposures fall to segments by the channel's segment mix and to variants by
the traffic weights; each converts with its variant's true rate; an order's value is
lognormal around the variant's mean; the processor keeps 2.9% + 0.30 of every order, and a
refunded order returns the sale but not the fee. Money is counted in integer cents; only
the statistics (rates, expectations, regret) are floats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from shared.events.common import Channel

FEE_PER_MILLE = 29  # the processor's 2.9% ...
FEE_FIXED_CENTS = 30  # ... plus 0.30 per order, kept on a refund too

type TestKey = tuple[str, Channel]
type Weights = Mapping[TestKey, Mapping[str, float]]


@dataclass(frozen=True)
class VariantTruth:
    variant_id: str
    conversion_rate: float
    order_value_cents: int  # mean gross order value


@dataclass(frozen=True)
class TestTruth:
    """One segment x channel: its variants (the first is the control) and refund rate."""

    segment_id: str
    channel: Channel
    variants: tuple[VariantTruth, ...]
    refund_rate: float

    @property
    def key(self) -> TestKey:
        return self.segment_id, self.channel

    def net_per_exposure(self, variant: VariantTruth) -> float:
        """Expected net cents an exposure to ``variant`` earns, after fees and refunds."""
        value = variant.order_value_cents
        fee = value * FEE_PER_MILLE / 1000 + FEE_FIXED_CENTS
        return variant.conversion_rate * ((1 - self.refund_rate) * value - fee)

    def best(self) -> VariantTruth:
        """The variant that truly converts best: the one the verdict should declare."""
        return max(self.variants, key=lambda v: v.conversion_rate)


@dataclass(frozen=True)
class ChannelTruth:
    channel: Channel
    reach: float  # email: recipients per wave; paid: clicks per cycle as spend grows unbounded
    saturation_cents: int | None  # paid: spend per cycle that buys 63% of the reach
    segment_mix: Mapping[str, float]  # share of the exposures per segment, summing to 1

    def exposures(self, spent_before: int, spent_after: int, cycles: int) -> float:
        """Exposures bought in a cycle that took cumulative spend from before to after."""
        if self.saturation_cents is None:
            return self.reach
        saturation = self.saturation_cents * cycles
        reach = self.reach * cycles
        return reach * (math.exp(-spent_before / saturation) - math.exp(-spent_after / saturation))


@dataclass(frozen=True)
class Market:
    channels: tuple[ChannelTruth, ...]
    tests: tuple[TestTruth, ...]
    budget_per_cycle_cents: int
    order_value_spread: float = 0.3  # log-scale spread of an order's value around the mean

    def test(self, key: TestKey) -> TestTruth:
        return next(t for t in self.tests if t.key == key)


@dataclass(frozen=True)
class ArmOutcome:
    """What one arm did in one cycle."""

    key: TestKey
    variant_id: str
    exposures: int
    conversions: int
    net_cents: int
    net_squares: float  # sum over exposures of (net per exposure in major units) squared


@dataclass(frozen=True)
class CycleSpend:
    """A cycle's spend per channel, and each channel's cumulative spend before it."""

    cycles: int  # the campaign's length, which sizes the paid curves
    before: Mapping[Channel, int]
    spend: Mapping[Channel, int]

    def exposures(self, truth: ChannelTruth) -> float:
        before = self.before.get(truth.channel, 0)
        return truth.exposures(before, before + self.spend.get(truth.channel, 0), self.cycles)


def play_cycle(
    market: Market, spend: CycleSpend, weights: Weights, rng: np.random.Generator
) -> list[ArmOutcome]:
    """One cycle of the market for the spends and traffic weights given."""
    outcomes = []
    for truth in market.channels:
        exposures = int(rng.poisson(spend.exposures(truth)))
        segments = list(truth.segment_mix)
        mix = _normalised([truth.segment_mix[s] for s in segments])
        for segment_id, reached in zip(segments, rng.multinomial(exposures, mix), strict=True):
            test = market.test((segment_id, truth.channel))
            shares = _normalised([weights[test.key][v.variant_id] for v in test.variants])
            shown = rng.multinomial(int(reached), shares)
            for variant, count in zip(test.variants, shown, strict=True):
                outcomes.append(_arm_outcome(market, test, variant, int(count), rng))
    return outcomes


def expected_net(market: Market, spend: CycleSpend, weights: Weights) -> float:
    """The net cents a cycle earns in expectation for these decisions: what regret counts,
    free of the draws' luck."""
    total = 0.0
    for truth in market.channels:
        exposures = spend.exposures(truth)
        for segment_id, share in truth.segment_mix.items():
            test = market.test((segment_id, truth.channel))
            shares = _normalised([weights[test.key][v.variant_id] for v in test.variants])
            per_exposure = sum(
                w * test.net_per_exposure(v) for w, v in zip(shares, test.variants, strict=True)
            )
            total += exposures * share * per_exposure
    return total


def _arm_outcome(
    market: Market, test: TestTruth, variant: VariantTruth, shown: int, rng: np.random.Generator
) -> ArmOutcome:
    conversions = int(rng.binomial(shown, variant.conversion_rate))
    spread = market.order_value_spread
    mu = math.log(variant.order_value_cents) - spread**2 / 2  # so the mean is the variant's
    values = np.rint(rng.lognormal(mu, spread, conversions)).astype(np.int64)
    fees = (values * FEE_PER_MILLE + 500) // 1000 + FEE_FIXED_CENTS
    refunded = rng.random(conversions) < test.refund_rate
    nets = np.where(refunded, -fees, values - fees)
    return ArmOutcome(
        key=test.key,
        variant_id=variant.variant_id,
        exposures=shown,
        conversions=conversions,
        net_cents=int(nets.sum()),
        net_squares=float(((nets / 100) ** 2).sum()),
    )


def _normalised(weights: list[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]
