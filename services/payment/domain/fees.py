"""What a payment may be and what it costs: amount limits per currency, and processor fees.

Fees are the processor's published schedule (rate x amount + fixed, rounded half-up to the
minor unit once), quoted for the first processor of the route when the payment is
initiated, requoted for the processor that actually took it, and dropped if it fails: a
declined charge costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.payment.domain.records import ProcessorFees
from shared.money import Money, round_half_up

# The smallest charge each currency's processors accept (Stripe's minimums; PayPal's and
# the crypto gateway's are lower), and a ceiling that stops a typo becoming a large charge.
DEFAULT_MINIMUM_AMOUNTS: Mapping[str, Decimal] = {
    "USD": Decimal("0.50"),
    "EUR": Decimal("0.50"),
    "GBP": Decimal("0.30"),
    "CAD": Decimal("0.50"),
    "AUD": Decimal("0.50"),
    "CHF": Decimal("0.50"),
    "SEK": Decimal("3.00"),
    "JPY": Decimal("50"),
}
# Stripe's largest single charge in each currency; a payment above it is a mistake here.
DEFAULT_MAXIMUM_AMOUNTS: Mapping[str, Decimal] = {
    "USD": Decimal("999999.99"),
    "EUR": Decimal("999999.99"),
    "GBP": Decimal("999999.99"),
    "CAD": Decimal("999999.99"),
    "AUD": Decimal("999999.99"),
    "CHF": Decimal("999999.99"),
    "SEK": Decimal("9999999.99"),
    "JPY": Decimal("99999999"),
}


class AmountOutOfLimitsError(ValueError):
    """A payment amount below the currency's minimum or above its maximum."""


@dataclass(frozen=True)
class FeeSchedule:
    rate: Decimal
    fixed: Decimal


@dataclass(frozen=True)
class AmountLimits:
    minimum: Mapping[str, Decimal]
    maximum: Mapping[str, Decimal]

    def problem(self, amount: Money) -> str | None:
        """Why ``amount`` may not be charged, or None."""
        least = self.minimum.get(amount.currency, Decimal(0))
        if amount.amount < least:
            return f"must be at least {Money.of(least, amount.currency)}"
        most = self.maximum.get(amount.currency)
        if most is not None and amount.amount > most:
            return f"must be at most {Money.of(most, amount.currency)}"
        return None

    def check(self, amount: Money) -> None:
        if (problem := self.problem(amount)) is not None:
            raise AmountOutOfLimitsError(problem)


@dataclass(frozen=True)
class PaymentPolicy:
    fees: Mapping[str, FeeSchedule]
    limits: AmountLimits


def processor_fees(amount: Money, schedule: FeeSchedule) -> ProcessorFees:
    """149.99 USD at 2.9% + 0.30 -> fee 4.65, net 145.34; fee + net is always the amount.

    The fixed part is in the payment's currency and rounds to its minor unit (0 for JPY).
    Below the fixed part the net is negative, as it is on the processor's statement.
    """
    exact = amount.amount * schedule.rate + schedule.fixed
    fee = Money(amount=round_half_up(exact, amount.currency), currency=amount.currency)
    return ProcessorFees(
        processor_fee=fee.amount,
        net_amount=(amount - fee).amount,
        fee_rate=schedule.rate,
        fee_fixed=schedule.fixed,
    )
