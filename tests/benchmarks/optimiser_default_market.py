"""The benchmark's default market: three segments on email, social and web, with 2-3
variants per segment x channel. Clear winners 20-40% better than the control, near ties,
and a challenger worse than its control. The paid channels saturate at the planner's
default saturation spends (at the reference length of 16 cycles) but earn differently from
its launch assumptions: social about 0.8x, web about 1.5x the purchases it expects, so
the launch split is not the best one.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events.common import Channel
from tests.benchmarks.optimiser_market import ChannelTruth, Market, TestTruth, VariantTruth


@dataclass(frozen=True)
class Segment:
    segment_id: str
    email_audience: int  # recipients per email wave
    refund_rate: float
    order_value_cents: int


@dataclass(frozen=True)
class PaidChannel:
    reach: int  # clicks per cycle as spend grows without bound
    saturation_cents: int
    segment_mix: tuple[float, ...]  # share of the clicks per segment


SEGMENTS = (
    Segment("loyal", 2_000, refund_rate=0.03, order_value_cents=14_000),
    Segment("occasional", 3_500, refund_rate=0.05, order_value_cents=12_000),
    Segment("new", 4_500, refund_rate=0.08, order_value_cents=10_000),
)
PAID = {
    Channel.SOCIAL: PaidChannel(3_000, 250_000, (0.20, 0.35, 0.45)),
    Channel.WEB: PaidChannel(4_000, 187_500, (0.25, 0.35, 0.40)),
}
# The control's conversion per exposure, per channel, in the order of SEGMENTS.
CONTROL_CONVERSION = {
    Channel.EMAIL: (0.008, 0.003, 0.0012),
    Channel.SOCIAL: (0.025, 0.015, 0.010),
    Channel.WEB: (0.022, 0.014, 0.010),
}
# Each variant's conversion relative to its control (the first).
UPLIFTS = {
    ("loyal", Channel.EMAIL): (1.0, 1.3, 0.95),
    ("loyal", Channel.SOCIAL): (1.0, 1.02),
    ("loyal", Channel.WEB): (1.0, 0.75),
    ("occasional", Channel.EMAIL): (1.0, 1.25, 1.1),
    ("occasional", Channel.SOCIAL): (1.0, 1.35),
    ("occasional", Channel.WEB): (1.0, 1.0, 1.2),
    ("new", Channel.EMAIL): (1.0, 1.4),
    ("new", Channel.SOCIAL): (1.0, 0.98, 1.3),
    ("new", Channel.WEB): (1.0, 1.03),
}
BUDGET_PER_CYCLE_CENTS = 300_000


def default_market() -> Market:
    audience = sum(s.email_audience for s in SEGMENTS)
    email = ChannelTruth(
        Channel.EMAIL,
        reach=audience,
        saturation_cents=None,
        segment_mix={s.segment_id: s.email_audience / audience for s in SEGMENTS},
    )
    paid = [
        ChannelTruth(
            channel,
            reach=truth.reach,
            saturation_cents=truth.saturation_cents,
            segment_mix={
                s.segment_id: share for s, share in zip(SEGMENTS, truth.segment_mix, strict=True)
            },
        )
        for channel, truth in PAID.items()
    ]
    return Market((email, *paid), tuple(_tests()), BUDGET_PER_CYCLE_CENTS)


def _tests() -> list[TestTruth]:
    tests = []
    for index, segment in enumerate(SEGMENTS):
        for channel, rates in CONTROL_CONVERSION.items():
            uplifts = UPLIFTS[segment.segment_id, channel]
            variants = tuple(
                VariantTruth(f"v{i}", rates[index] * uplift, segment.order_value_cents)
                for i, uplift in enumerate(uplifts)
            )
            tests.append(TestTruth(segment.segment_id, channel, variants, segment.refund_rate))
    return tests
