"""Refunds taking revenue back: each succeeded refund reverses its share of gross, fee and net.

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

from shared.events.payments import PaymentRecord, RefundStatus
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.money import Money, round_half_up


class RefundExceedsRevenueError(ValueError):
    """A refund would take back more than the payment earned, or nothing at all."""


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

    def after(self, reversal: RevenueReversed) -> ReversedSoFar:
        return ReversedSoFar(
            gross=self.gross + reversal.gross.amount,
            fee=self.fee + reversal.fee.amount,
            refund_ids=self.refund_ids | {reversal.refund_id},
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
    amount: Decimal,
    earlier: ReversedSoFar,
    at: datetime,
) -> RevenueReversed:
    """The reversal one refund of ``amount`` makes, after the ``earlier`` ones."""
    currency = revenue.gross.currency
    refunded = round_half_up(amount, currency)
    remaining = revenue.gross.amount - earlier.gross
    if refunded <= 0 or refunded > remaining:
        raise RefundExceedsRevenueError(
            f"refund {refund_id} of {refunded} {currency} on payment {revenue.payment_id}: "
            f"must be greater than 0 and at most the {remaining} {currency} not yet refunded"
        )
    fee = fee_reversed_when(revenue, earlier.gross + refunded) - earlier.fee
    return RevenueReversed(
        campaign_id=revenue.campaign_id,
        payment_id=revenue.payment_id,
        refund_id=refund_id,
        customer_id=revenue.customer_id,
        processor=revenue.processor,
        payment_method=revenue.payment_method,
        gross=Money.of(refunded, currency),
        fee=Money.of(fee, currency),
        net=Money.of(refunded - fee, currency),
        reversed_at=at,
        attribution=revenue.attribution,
    )


def reversals_due(
    revenue: RevenueRecorded, payment: PaymentRecord, earlier: ReversedSoFar, at: datetime
) -> list[RevenueReversed]:
    """One reversal per succeeded refund not reversed yet, in the order the payment lists
    them; pending and failed refunds took nothing back, so they reverse nothing."""
    due = []
    for refund in payment.refunds:
        if refund.status is not RefundStatus.SUCCEEDED or refund.id in earlier.refund_ids:
            continue
        reversal = reverse_refund(revenue, refund.id, refund.amount, earlier, at)
        due.append(reversal)
        earlier = earlier.after(reversal)
    return due
