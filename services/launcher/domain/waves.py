"""Email in waves: the launch's first wave split evenly, each later wave by the latest verdicts.

At targeting, every email delivery that would be sent gets a wave from its own draw (purpose
``wave``, independent of the holdout and variant draws): wave 0 when the draw is under the
first wave's share, else one of the later waves, evenly. Wave 0 gets its variant at once;
a later wave's deliveries are ``queued``: they hold a send time and count against the
frequency cap, but have no variant and are not sent until their wave is released.

A release gives each queued delivery of the wave its variant by the weights of its segment's
verdict (only the variants the brief has; equal weights without a verdict, or when the
verdict's weights are unusable), and a send time: the one decided at targeting if it is still
ahead, else the next opening of a send window from now in the recipient's own time, or
nothing (``no_send_window``) when none is left before the campaign ends. A delivery that has
a variant keeps it: weights change only what is not yet assigned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, Field

from services.launcher.domain.assignment import draw, equal_weights, pick_variant
from services.launcher.domain.deliveries import Delivery, DeliveryStatus, SkipReason
from services.launcher.domain.windows import send_time
from shared.events.campaigns import Schedule
from shared.events.common import Channel

type Weights = list[tuple[str, float]]


@dataclass(frozen=True)
class WavePlan:
    """How many waves a launch's email goes in, and the first wave's share of the recipients."""

    waves: int
    first_share: Decimal

    def wave_of(self, campaign_id: str, customer_id: str) -> int:
        point = draw("wave", campaign_id, customer_id)
        first = float(self.first_share)
        if self.waves == 1 or point < first:
            return 0
        later = self.waves - 1
        return 1 + min(later - 1, int((point - first) / (1 - first) * later))


def wave_weights(
    variants: Sequence[str], proposed: Mapping[str, float] | None
) -> tuple[dict[str, float], str | None]:
    """One segment's weights for a wave, summing to 1, and why the proposal was refused
    (None if it was not): the proposal's positive weights on ``variants`` (the brief's), or
    equal weights when there is no proposal or it is unusable."""
    equal = _normalised(equal_weights(variants))
    if proposed is None:
        return equal, None
    if any(not math.isfinite(weight) or weight < 0 for weight in proposed.values()):
        return equal, "a weight is negative or not a number"
    kept = [(variant, proposed[variant]) for variant in variants if proposed.get(variant, 0) > 0]
    if not kept:
        return equal, "no weight on a variant the brief has"
    return _normalised(kept), None


def _normalised(weighted: Weights) -> dict[str, float]:
    total = sum(weight for _, weight in weighted)
    return {variant: weight / total for variant, weight in weighted}


def release(
    delivery: Delivery, weights: Mapping[str, float], schedule: Schedule, now: datetime
) -> Delivery:
    """``delivery`` as its wave's release leaves it; unchanged unless it is queued."""
    if delivery.status is not DeliveryStatus.QUEUED or delivery.variant_id is not None:
        return delivery  # sticky: a variant once given is never changed
    at = delivery.send_at
    if at is None or at < now:
        at = send_time(schedule, Channel.EMAIL, ZoneInfo(delivery.zone or "UTC"), now)
    if at is None or not weights:
        reason = SkipReason.NO_SEND_WINDOW if at is None else SkipReason.NO_CONTENT
        return delivery.model_copy(
            update={
                "status": DeliveryStatus.SKIPPED,
                "skip_reason": reason,
                "send_at": None,
                "updated_at": now,
            }
        )
    variant_id = pick_variant(delivery.campaign_id, delivery.customer_id, list(weights.items()))
    return delivery.model_copy(
        update={
            "variant_id": variant_id,
            "status": DeliveryStatus.SCHEDULED,
            "send_at": at,
            "updated_at": now,
        }
    )


class WaveReleased(BaseModel):
    """The launcher's decision to release one email wave: the decision log's record."""

    campaign_id: str
    wave: int = Field(description="1 for the first wave after the launch's own.")
    waves: int = Field(description="Waves in all, the launch's own included.")
    trigger: Literal["evaluation", "timeout"]
    cycle: int | None = Field(description="The campaign.evaluated cycle that set the weights.")
    deliveries: int = Field(description="Queued deliveries the release gives a variant.")
    weights: dict[str, dict[str, float]] = Field(description="Per segment, per variant.")
    refused: dict[str, str] = Field(description="Segments whose verdict weights were refused.")
    at: AwareDatetime

    def summary(self) -> str:
        by_segment = "; ".join(
            f"{segment} " + ", ".join(f"{v} {w:.2f}" for v, w in weights.items())
            for segment, weights in sorted(self.weights.items())
        )
        if self.trigger == "evaluation":
            why = f"cycle {self.cycle} evaluated"
        elif self.cycle is None:
            why = "no evaluation in time and none before: equal weights"
        else:
            why = f"no evaluation in time: cycle {self.cycle}'s weights kept"
        refused = f"; equal weights for {', '.join(sorted(self.refused))}" if self.refused else ""
        return (
            f"wave {self.wave} of {self.waves - 1} released to {self.deliveries} recipients "
            f"({why}): {by_segment}{refused}"
        )


class WavesEnded(BaseModel):
    """The campaign ended with waves unreleased: their deliveries are sent nothing."""

    campaign_id: str
    unreleased: list[int]
    deliveries: int
    at: AwareDatetime

    def summary(self) -> str:
        waves = ", ".join(str(wave) for wave in self.unreleased)
        return (
            f"campaign ended before wave(s) {waves} were released: "
            f"{self.deliveries} recipients sent nothing (campaign_ended)"
        )
