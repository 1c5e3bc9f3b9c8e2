"""Campaign planning rules: the channel curves, what history teaches them, and the schedule.

The offline engine (``engines/offline.py``) turns a request into a plan with these rules;
the response curves, the allocation and the forecast live in their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from services.planner.allocation import ShareLimits
from services.planner.response_curves import Observation, ResponseCurve, fitted_curve
from shared.events.campaigns import (
    CampaignPerformance,
    CampaignPlanned,
    CampaignRequested,
    CampaignSegmented,
    Schedule,
    SendWindow,
    Weekday,
)
from shared.events.common import Channel
from shared.money import Money

# Without engagement history (the planner has none): email mid-morning on the days most
# newsletters see their best open rates, social in the evening, web whenever people browse.
DEFAULT_SEND_WINDOWS: Mapping[Channel, tuple[SendWindow, ...]] = {
    Channel.EMAIL: tuple(
        SendWindow(weekday=day, start_hour=9, end_hour=11) for day in ("tue", "thu")
    ),
    Channel.SOCIAL: tuple(
        SendWindow(weekday=day, start_hour=18, end_hour=21)
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ),
    Channel.WEB: tuple(
        SendWindow(weekday=day, start_hour=0, end_hour=24)
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ),
}


@dataclass(frozen=True)
class PlanningPolicy:
    curves: Mapping[Channel, ResponseCurve]
    limits: ShareLimits
    min_observations: int
    default_duration: timedelta
    min_engagements: int = 100  # customers with a known engagement hour before it counts


@dataclass(frozen=True)
class EmailAudience:
    """Who an email can reach, from the latest segmentation of the customer base: the
    members who opted in, and the purchases their segments' predicted conversion expects."""

    reachable: int
    expected_purchases: float
    engagement_by_hour: tuple[int, ...] = ()  # per hour of the week, UTC (see the event)


def email_audience(segmented: CampaignSegmented) -> EmailAudience:
    return EmailAudience(
        reachable=sum(s.email_reachable for s in segmented.segments),
        expected_purchases=sum(
            s.email_reachable * s.predicted_conversion_rate for s in segmented.segments
        ),
        engagement_by_hour=tuple(segmented.engagement_by_hour or ()),
    )


@dataclass(frozen=True)
class ChannelObservation:
    channel: Channel
    observation: Observation


def learned_curves(
    policy: PlanningPolicy,
    channels: Sequence[Channel],
    history: Sequence[ChannelObservation],
    audience: EmailAudience | None = None,
) -> dict[Channel, ResponseCurve]:
    """Each requested channel's curve: refitted to its history when there is enough, and,
    for email, never promising more purchases than its known audience is expected to make
    (social and web reach people beyond the customer base, so no audience bounds them)."""
    curves = {
        channel: fitted_curve(
            policy.curves[channel],
            [h.observation for h in history if h.channel is channel],
            policy.min_observations,
        )
        for channel in channels
    }
    email = curves.get(Channel.EMAIL)
    if email is not None and audience is not None and audience.reachable > 0:
        ceiling = min(email.purchases_ceiling, audience.expected_purchases)
        curves[Channel.EMAIL] = replace(email, purchases_ceiling=ceiling)
    return curves


def channel_observations(
    plan: CampaignPlanned, performance: CampaignPerformance
) -> list[ChannelObservation]:
    """What a campaign's performance says about each of its channels.

    Revenue attributed per channel is used when the performance carries it. Otherwise the
    campaign's revenue is split in the proportions the plan predicted (or, for plans made
    before channel forecasts existed, by spend): only the overall level is learned then, not
    which channel did better than expected. Reports made before the campaign's scheduled end
    teach nothing: revenue still arriving would read as a channel that underperformed.
    """
    currency = plan.budget.currency
    if performance.as_of < plan.schedule.ends_at or performance.gross_revenue.currency != currency:
        return []
    if performance.revenue_by_channel:
        revenue = {
            c: money.amount
            for c, money in performance.revenue_by_channel.items()
            if money.currency == currency
        }
    else:
        revenue = _split(performance.gross_revenue.amount, _weights(plan))
    return [
        ChannelObservation(
            channel,
            Observation(
                spend=spend,
                revenue=revenue.get(channel, Decimal(0)),
                price=plan.product.price.amount,
            ),
        )
        for channel, spend in _amounts(plan.allocation).items()
        if spend > 0
    ]


def _amounts(by_channel: Mapping[Channel, Money]) -> dict[Channel, Decimal]:
    return {channel: money.amount for channel, money in by_channel.items()}


def _weights(plan: CampaignPlanned) -> Mapping[Channel, Decimal]:
    predicted = _amounts(plan.predicted_revenue_by_channel or {})
    if sum(predicted.values(), Decimal(0)) > 0:
        return predicted
    return _amounts(plan.allocation)


def _split(amount: Decimal, weights: Mapping[Channel, Decimal]) -> dict[Channel, Decimal]:
    total = sum(weights.values(), Decimal(0))
    return {c: amount * w / total for c, w in weights.items()} if total > 0 else {}


def plan_schedule(
    request: CampaignRequested,
    now: datetime,
    policy: PlanningPolicy,
    audience: EmailAudience | None = None,
) -> Schedule:
    starts_at = request.starts_at or now
    ends_at = request.ends_at or starts_at + policy.default_duration
    windows = {c: list(DEFAULT_SEND_WINDOWS[c]) for c in request.channels}
    engagement = audience.engagement_by_hour if audience else ()
    if Channel.EMAIL in windows and sum(engagement) >= policy.min_engagements:
        windows[Channel.EMAIL] = email_windows(engagement)
    return Schedule(
        starts_at=starts_at,
        ends_at=ends_at,
        send_windows=windows,
        send_in_local_windows=request.send_in_local_windows,
    )


WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EMAIL_WINDOW_HOURS = 2
EMAIL_WINDOW_DAYS = 2


def email_windows(engagement: Sequence[int]) -> list[SendWindow]:
    """The two days' two-hour blocks (UTC) in which most customers last opened, clicked or
    visited: as many sends as the defaults, placed where the base is actually active."""
    best: list[tuple[int, int, int]] = []  # (engaged, weekday, start hour)
    for day in range(len(WEEKDAYS)):
        hours = engagement[day * 24 : day * 24 + 24]
        starts = range(24 - EMAIL_WINDOW_HOURS + 1)
        start = max(starts, key=lambda h: (sum(hours[h : h + EMAIL_WINDOW_HOURS]), -h))
        best.append((sum(hours[start : start + EMAIL_WINDOW_HOURS]), day, start))
    chosen = sorted(
        sorted(best, key=lambda b: (-b[0], b[1]))[:EMAIL_WINDOW_DAYS], key=lambda b: b[1]
    )
    return [
        SendWindow(
            weekday=WEEKDAYS[day],
            start_hour=start,
            end_hour=start + EMAIL_WINDOW_HOURS,
            timezone="UTC",
        )
        for _, day, start in chosen
    ]
