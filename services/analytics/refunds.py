"""Refunds taking revenue back: each refund reverses its share of gross, fee and net.

The fee share is computed on the running total refunded, never per refund: a payment's
reversed fees so far are always ``round_half_up(fee * refunded / gross)``, and a refund's
share is that less what earlier refunds already reversed. Rounding each refund on its own
would let three refunds of a third each reverse a cent more or less than the fee; this way
a fully refunded payment reverses exactly its fee, whatever the number of refunds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.analytics.domain import InvalidPaymentEventError
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.money import Money, round_half_up


@dataclass(frozen=True)
class ReversedSoFar:
    """What a payment's earlier reversals took back, summed."""

    gross: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    refund_ids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, reversals: Sequence[RevenueReversed]) -> ReversedSoFar:
        return cls(
            gross=sum((r.gross.amount for r in reversals), Decimal(0)),
            fee=sum((r.fee.amount for r in reversals), Decimal(0)),
            refund_ids=frozenset(r.refund_id for r in reversals),
        )


def fee_reversed_when(revenue: RevenueRecorded, refunded: Decimal) -> Decimal:
    """The share of the payment's fee that ``refunded`` of its gross takes back, in all."""
    currency = revenue.gross.currency
    if not revenue.gross.is_positive():
        return Decimal(0)
    return round_half_up(revenue.fee.amount * refunded / revenue.gross.amount, currency)


def reverse_refund(
    revenue: RevenueRecorded,
    refund_id: str,
    amount: Money,
    earlier: ReversedSoFar,
    at: datetime,
) -> RevenueReversed:
    """The reversal one refund of ``amount`` makes, after the ``earlier`` ones."""
    currency = revenue.gross.currency
    if amount.currency != currency:
        raise InvalidPaymentEventError(
            "refund_amount",
            f"refund {refund_id} is in {amount.currency}; payment {revenue.payment_id} "
            f"was paid in {currency}",
        )
    remaining = revenue.gross.amount - earlier.gross
    if not 0 < amount.amount <= remaining:
        raise InvalidPaymentEventError(
            "refund_amount",
            f"refund {refund_id} of {amount} on payment {revenue.payment_id} must be greater "
            f"than 0 and at most the {remaining} {currency} not yet refunded",
        )
    fee = fee_reversed_when(revenue, earlier.gross + amount.amount) - earlier.fee
    return RevenueReversed(
        campaign_id=revenue.campaign_id,
        payment_id=revenue.payment_id,
        refund_id=refund_id,
        customer_id=revenue.customer_id,
        processor=revenue.processor,
        payment_method=revenue.payment_method,
        gross=amount,
        fee=Money.of(fee, currency),
        net=Money.of(amount.amount - fee, currency),
        reversed_at=at,
        attribution=revenue.attribution,
        click_id=revenue.click_id,
    )
