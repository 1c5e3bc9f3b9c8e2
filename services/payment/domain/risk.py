"""Fraud risk: a score in [0, 1] built from signals a reviewer can read one by one.

Each signal contributes between 0 and its own cap (``risk_policy``), and the score is
``1 - prod(1 - c)`` over the contributions, a noisy-OR: it stays within [0, 1], never
falls when any one signal rises, and a strong signal is not diluted by calm ones the way
an average would dilute it. Amounts are compared in Decimal; a ratio becomes a float only
as a contribution. Details explain a signal in plain words and carry no personal data: no
IP address, token, customer id, country or fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import Field, computed_field

from services.payment.domain.risk_policy import CountRule, RatioRule, RiskPolicy, VelocityRule
from shared.events.common import Contract
from shared.events.payments import RiskLevel
from shared.money import Money

PLACES = 4  # contributions and the score are stored to this; levels are decided on them


def fingerprint(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` in hex: equal values match without the value being stored.

    Keyed, because every IPv4 address can be hashed in minutes: a plain hash hides nothing.
    Callers normalise first (one spelling per IP address) so that equal values hash equally.
    """
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WindowCounts:
    """Payments in the short and in the long window, the one being scored included."""

    short: int
    long: int


@dataclass(frozen=True)
class AmountHistory:
    """The median of recent completed payments in the payment's currency, over ``count``."""

    count: int
    median: Decimal | None  # None when count is 0


@dataclass(frozen=True)
class RiskInputs:
    amount: Money
    customer: WindowCounts
    ip: WindowCounts | None  # None when the request carried no IP address
    token: WindowCounts
    customer_history: AmountHistory
    campaign_basket: AmountHistory
    customer_is_new: bool  # no completed payment in any currency
    customer_declines: int  # failed payments in the long window
    token_declines: int
    ip_country: str | None = None  # ISO 3166 alpha-2, when known
    customer_country: str | None = None


class RiskReason(Contract):
    """One signal behind a risk score, in words that name no personal data."""

    signal: str = Field(examples=["token_velocity"])
    contribution: float = Field(ge=0, le=1, examples=[0.35])
    detail: str = Field(examples=["6 payments with this payment token in the last 10 minutes"])


class RiskAssessment(Contract):
    score: float = Field(ge=0, le=1, description="1 - prod(1 - contribution).", examples=[0.6])
    level: RiskLevel
    signals: tuple[RiskReason, ...] = Field(description="Every signal checked, in a fixed order.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reasons(self) -> list[str]:
        """The signals that raised the score, largest contribution first."""
        raised = [s for s in self.signals if s.contribution > 0]
        return [s.signal for s in sorted(raised, key=lambda s: -s.contribution)]

    def as_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def assess(inputs: RiskInputs, policy: RiskPolicy) -> RiskAssessment:
    """Every signal with its contribution, the score, and the level the policy gives it.

    The level is read off the rounded score, so a stored score and its level always agree.
    """
    signals = _signals(inputs, policy)
    calm = 1.0
    for signal in signals:
        calm *= 1 - signal.contribution
    score = round(1 - calm, PLACES)
    return RiskAssessment(score=score, level=level_of(score, policy), signals=signals)


def level_of(score: float, policy: RiskPolicy) -> RiskLevel:
    if score >= policy.block:
        return RiskLevel.BLOCK
    if score >= policy.review:
        return RiskLevel.REVIEW
    return RiskLevel.LOW


def _signals(inputs: RiskInputs, policy: RiskPolicy) -> tuple[RiskReason, ...]:
    windows = (policy.lookback.short_window, policy.lookback.long_window)
    velocities = (
        ("customer_velocity", "from this customer", inputs.customer, policy.customer_velocity),
        ("ip_velocity", "from this IP address", inputs.ip, policy.ip_velocity),
        ("token_velocity", "with this payment token", inputs.token, policy.token_velocity),
    )
    return (
        *(_velocity(*velocity, windows) for velocity in velocities),
        _against(
            "amount_vs_customer_history",
            "this customer's",
            inputs.amount,
            inputs.customer_history,
            (policy.customer_history, policy.min_customer_history),
        ),
        _against(
            "amount_vs_campaign_basket",
            "the campaign's",
            inputs.amount,
            inputs.campaign_basket,
            (policy.campaign_basket, policy.min_campaign_basket),
        ),
        _new_customer_high_amount(inputs, policy),
        _country_mismatch(inputs, policy),
        _repeated_declines(inputs, policy.declines, windows[1]),
    )


def _velocity(
    name: str,
    whose: str,
    counts: WindowCounts | None,
    rule: VelocityRule,
    windows: tuple[timedelta, timedelta],
) -> RiskReason:
    if counts is None:
        return _signal(name, 0, "not checked: unknown for this request")
    short, long = rule.short.contribution(counts.short), rule.long.contribution(counts.long)
    seen = (
        f"{_payments(counts.short)} {whose} in the last {_span(windows[0])}"
        f" and {counts.long} in the last {_span(windows[1])}"
    )
    if short == long == 0:
        return _signal(name, 0, seen)
    over, window = (rule.short, windows[0]) if short >= long else (rule.long, windows[1])
    return _signal(
        name, max(short, long), f"{seen}; over {over.allowed} in {_span(window)} is unusual"
    )


def _against(
    name: str,
    whose: str,
    amount: Money,
    history: AmountHistory,
    rule_and_minimum: tuple[RatioRule, int],
) -> RiskReason:
    rule, minimum = rule_and_minimum
    if history.median is None or history.median <= 0 or history.count < minimum:
        needs = f"{whose} median needs {minimum} completed payments, has {history.count}"
        return _signal(name, 0, f"not checked: {needs}")
    ratio = amount.amount / history.median
    seen = f"amount is {_times(ratio)} {whose} median over {_payments(history.count, 'completed')}"
    return _judged(name, rule, ratio, seen)


def _new_customer_high_amount(inputs: RiskInputs, policy: RiskPolicy) -> RiskReason:
    name, basket = "new_customer_high_amount", inputs.campaign_basket
    if not inputs.customer_is_new:
        return _signal(name, 0, "returning customer with completed payments")
    if basket.median is None or basket.median <= 0 or basket.count < policy.min_campaign_basket:
        return _signal(
            name, 0, "new customer; the campaign has too few completed payments to compare"
        )
    ratio = inputs.amount.amount / basket.median
    seen = f"new customer paying {_times(ratio)} the campaign's median basket"
    return _judged(name, policy.new_customer, ratio, seen)


def _country_mismatch(inputs: RiskInputs, policy: RiskPolicy) -> RiskReason:
    name = "country_mismatch"
    if inputs.ip_country is None or inputs.customer_country is None:
        return _signal(
            name, 0, "not checked: the IP address's or the customer's country is unknown"
        )
    if inputs.ip_country.upper() == inputs.customer_country.upper():
        return _signal(name, 0, "the IP address is in the customer's country")
    return _signal(
        name, policy.country_mismatch, "the IP address is in another country than the customer's"
    )


def _repeated_declines(inputs: RiskInputs, rule: CountRule, window: timedelta) -> RiskReason:
    if inputs.customer_declines >= inputs.token_declines:
        declines, whose = inputs.customer_declines, "for this customer"
    else:
        declines, whose = inputs.token_declines, "with this payment token"
    seen = f"{_payments(declines, 'declined')} {whose} in the last {_span(window)}"
    contribution = rule.contribution(declines)
    return _signal(
        "repeated_declines",
        contribution,
        f"{seen}; over {rule.allowed} is unusual" if contribution else seen,
    )


def _judged(name: str, rule: RatioRule, ratio: Decimal, seen: str) -> RiskReason:
    contribution = rule.contribution(ratio)
    if contribution == 0:
        return _signal(name, 0, seen)
    return _signal(name, contribution, f"{seen}; over {_times(rule.allowed)} is unusual")


def _signal(name: str, contribution: float, detail: str) -> RiskReason:
    return RiskReason(signal=name, contribution=round(contribution, PLACES), detail=detail)


def _payments(count: int, kind: str = "") -> str:
    noun = "payment" if count == 1 else "payments"
    return f"{count} {kind} {noun}" if kind else f"{count} {noun}"


def _times(ratio: Decimal) -> str:
    return f"{ratio.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}x"


def _span(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    count, unit = (minutes // 60, "hour") if minutes % 60 == 0 else (minutes, "minute")
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
