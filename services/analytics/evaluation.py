"""One optimisation cycle's decisions for a campaign: an A/B verdict per segment x channel
with two variants or more, and the traffic weights of the next wave.

- Weights in force: the previous cycle's for the test, equal shares at cycle 0 (or when a
  variant appears that the previous cycle did not weigh).
- The sample-ratio check compares the exposures with what the weights in force over time
  should have produced: each cycle's new exposures are expected in that cycle's weights, so
  a test whose weights moved is not flagged for having moved. Ad clicks are an outcome of
  the creative, not an assignment: the check does not apply to ads (p = 1).
- Next weights: Thompson sampling with the exploration floor (lowered to an equal share
  when the variants are too many for it); the winner's 1.0 once declared, for good; the
  weights in force, unchanged, while a sample-ratio mismatch freezes the test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from services.analytics import experiments
from services.analytics.arm_statistics import ArmTally
from shared.events.common import Channel
from shared.events.optimisation import (
    CampaignEvaluated,
    ChannelFigures,
    ExperimentVerdict,
    UpliftFigures,
    VariantFigures,
)

type ExperimentKey = tuple[str, Channel]


@dataclass(frozen=True)
class OptimiserPolicy:
    min_conversions: int  # GrowthBook's minimum sample: the leader's conversions, per rival
    loss_threshold: float  # expected relative loss, as ``experiments`` computes it
    exploration_floor: float  # the least share of a wave each live variant keeps


@dataclass(frozen=True)
class ExperimentState:
    """What a cycle leaves the next one for one test."""

    weights: dict[str, float]  # in force for the next wave
    expected: dict[str, float]  # exposures the weights in force so far should have given
    exposures: dict[str, int]
    winner: str | None = None


@dataclass(frozen=True)
class Evaluation:
    event: CampaignEvaluated
    states: dict[ExperimentKey, ExperimentState]


def evaluate(
    campaign_id: str,
    cycle: int,
    as_of: datetime,
    tallies: Sequence[ArmTally],
    channels: list[ChannelFigures],
    previous: dict[ExperimentKey, ExperimentState],
    policy: OptimiserPolicy,
    currency: str,
) -> Evaluation:
    verdicts, states = [], {}
    ordered = sorted(tallies, key=lambda t: (t.segment_id, t.channel, t.variant_id))
    for test, grouped in groupby(ordered, key=lambda t: t.test):
        arms = [tally.as_arm() for tally in grouped]
        if len(arms) < 2:
            continue
        seed = seed_of(campaign_id, cycle, *test)
        found, states[test] = decide(test, arms, previous.get(test), policy, seed)
        verdicts.append(found)
    event = CampaignEvaluated(
        campaign_id=campaign_id,
        cycle=cycle,
        as_of=as_of,
        arms=[tally.figures(currency) for tally in tallies],
        experiments=verdicts,
        channels=channels,
    )
    return Evaluation(event, states)


def decide(
    test: ExperimentKey,
    arms: list[experiments.Arm],
    prior: ExperimentState | None,
    policy: OptimiserPolicy,
    seed: int,
) -> tuple[ExperimentVerdict, ExperimentState]:
    """One test's verdict and the state it leaves; ``arms[0]`` is the control."""
    exposures = {arm.variant_id: arm.recipients for arm in arms}
    in_force = weights_in_force(list(exposures), prior)
    expected = expected_exposures(exposures, in_force, prior, assigned=test[1] is Channel.EMAIL)
    total = sum(expected.values())
    mix = [expected[v] / total for v in exposures] if total else list(in_force.values())
    found = experiments.verdict(
        arms, mix, min_conversions=policy.min_conversions, loss_threshold=policy.loss_threshold
    )
    winner, reason = found.winner, found.reason
    if prior is not None and prior.winner in exposures:
        winner, reason = prior.winner, f"{prior.winner} was declared the winner earlier"
    if winner is not None:
        weights = {variant: float(variant == winner) for variant in exposures}
    elif found.sample_ratio_mismatch:
        weights = in_force
    else:
        floor = min(policy.exploration_floor, 1 / len(arms))
        weights = experiments.thompson_weights(arms, floor=floor, seed=seed)
    verdict = ExperimentVerdict(
        segment_id=test[0],
        channel=test[1],
        control=found.control,
        variants=[_variant_figures(v) for v in found.variants],
        srm_p_value=min(1.0, max(0.0, found.srm_p_value)),
        sample_ratio_mismatch=found.sample_ratio_mismatch,
        winner=winner,
        reason=reason,
        weights=weights,
    )
    return verdict, ExperimentState(weights, expected, exposures, winner)


def weights_in_force(variants: list[str], prior: ExperimentState | None) -> dict[str, float]:
    if prior is None or set(prior.weights) != set(variants):
        return {variant: 1 / len(variants) for variant in variants}
    return {variant: prior.weights[variant] for variant in variants}


def expected_exposures(
    exposures: dict[str, int],
    in_force: dict[str, float],
    prior: ExperimentState | None,
    *,
    assigned: bool,
) -> dict[str, float]:
    """What the weights should have given; the exposures themselves where nothing assigns
    them (``assigned`` false), so that no mismatch can show."""
    if not assigned:
        return {variant: float(count) for variant, count in exposures.items()}
    total = sum(exposures.values())
    if prior is None or set(prior.expected) != set(exposures):
        return {variant: total * in_force[variant] for variant in exposures}
    added = max(0, total - sum(prior.exposures.values()))
    return {v: prior.expected[v] + added * in_force[v] for v in exposures}


def seed_of(campaign_id: str, cycle: int, segment_id: str, channel: Channel) -> int:
    """The same draws for the same campaign, cycle and test, run after run."""
    digest = hashlib.sha256(f"{campaign_id}\x1f{cycle}\x1f{segment_id}\x1f{channel}".encode())
    return int.from_bytes(digest.digest()[:8], "big")


def summary(verdict: ExperimentVerdict) -> str:
    """The decision log's line: the test, then its winner, freeze or next weights."""
    test = f"{verdict.segment_id} · {verdict.channel}"
    weights = ", ".join(f"{v} {w:.0%}" for v, w in verdict.weights.items())
    if verdict.winner is not None:
        return f"{test}: winner {verdict.winner} takes all traffic ({verdict.reason})"
    if verdict.sample_ratio_mismatch:
        return f"{test}: SRM (p = {verdict.srm_p_value:.2g}), weights kept at {weights}"
    return f"{test}: next wave {weights}; no winner ({verdict.reason})"


def _variant_figures(found: experiments.VariantVerdict) -> VariantFigures:
    return VariantFigures(
        variant_id=found.variant_id,
        conversion=_uplift(found.conversion),
        revenue=_uplift(found.revenue),
    )


def _uplift(uplift: experiments.Uplift | None) -> UpliftFigures | None:
    if uplift is None:
        return None
    low, high = uplift.interval
    return UpliftFigures(
        mean=uplift.mean,
        low=low,
        high=high,
        chance_to_win=min(1.0, max(0.0, uplift.chance_to_win)),
        # Exact maths never goes below 0; floating point may, by a hair.
        risk_of_shipping=max(0.0, uplift.risk_of_shipping),
        risk_of_keeping=max(0.0, uplift.risk_of_keeping),
    )
