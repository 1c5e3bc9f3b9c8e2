"""What the fake processors' ledgers say happened: each capture and each refund made, and
the gross and net a campaign earned from them, with the processors' published fees."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.money import round_half_up
from tests.support.fake_paypal import FakePayPal
from tests.support.fake_stripe import FakeStripe

CAPTURED = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
FEES = {
    "stripe": (Decimal("0.029"), Decimal("0.30")),
    "paypal": (Decimal("0.0349"), Decimal("0.49")),
}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Capture:
    payment_id: str
    processor: str
    amount: Decimal


@dataclass(frozen=True)
class MadeRefund:
    payment_id: str
    refund_id: str
    amount: Decimal


@dataclass(frozen=True)
class ProcessorLedger:
    captures: list[Capture]
    refunds: list[MadeRefund]

    @classmethod
    def of(cls, stripe: FakeStripe, paypal: FakePayPal) -> ProcessorLedger:
        captures = [
            Capture(
                intent["metadata"]["payment_id"], "stripe", Decimal(intent["amount_received"]) / 100
            )
            for intent in stripe.payment_intents.values()
            if intent["status"] == "succeeded"
        ]
        refunds = [
            MadeRefund(
                r["metadata"]["payment_id"], r["metadata"]["refund_id"], Decimal(r["amount"]) / 100
            )
            for r in stripe.refunds.values()
        ]
        paid_by_capture: dict[str, str] = {}
        for capture in paypal.captures():
            if capture["status"] in CAPTURED:
                paid_by_capture[capture["id"]] = capture["custom_id"]
                captures.append(Capture(capture["custom_id"], "paypal", _value(capture["amount"])))
        refunds += [
            MadeRefund(
                paid_by_capture[r["capture_id"]], r["request_id"], Decimal(r["amount"]["value"])
            )
            for r in paypal.refunds
        ]
        return cls(captures, refunds)

    @property
    def gross(self) -> Decimal:
        return sum((c.amount for c in self.captures), Decimal(0)) - sum(
            (r.amount for r in self.refunds), Decimal(0)
        )

    @property
    def net(self) -> Decimal:
        """Each capture less its fee, less each refund's share of what it gave back: the fee
        share taken on the running total refunded, rounded once, as analytics does."""
        refunded: dict[str, Decimal] = defaultdict(Decimal)
        for made in self.refunds:
            refunded[made.payment_id] += made.amount
        total = Decimal(0)
        for capture in self.captures:
            rate, fixed = FEES[capture.processor]
            fee = round_half_up(capture.amount * rate + fixed, "USD")
            back = refunded[capture.payment_id]
            fee_back = round_half_up(fee * back / capture.amount, "USD")
            total += capture.amount - fee - (back - fee_back)
        return total.quantize(CENT)

    def assert_each_payment_charged_at_most_once(self) -> None:
        twice = [p for p, n in Counter(c.payment_id for c in self.captures).items() if n > 1]
        assert twice == [], f"charged more than once: {twice}"

    def assert_matches(self, stored: list[dict[str, Any]]) -> None:
        """Every stored payment and refund agrees with the ledgers, in both directions."""
        captured = {c.payment_id: c.amount for c in self.captures}
        made = Counter(r.refund_id for r in self.refunds)
        assert all(n == 1 for n in made.values()), f"refunded twice: {made.most_common(3)}"
        succeeded = set()
        for payment in stored:
            amount = Decimal(str(payment["amount"]))
            taken = payment["status"] in {"completed", "partially_refunded", "refunded"}
            assert (payment["_id"] in captured) == taken, f"{payment['_id']} {payment['status']}"
            if taken:
                assert captured[payment["_id"]] == amount
            refunds = {r["id"]: r for r in payment["refunds"]}
            for refund_id, refund in refunds.items():
                assert (refund_id in made) == (refund["status"] == "succeeded"), refund
            succeeded |= {i for i, r in refunds.items() if r["status"] == "succeeded"}
            given_back = sum(
                (Decimal(str(r["amount"])) for r in refunds.values() if r["status"] == "succeeded"),
                Decimal(0),
            )
            assert given_back <= amount, f"{payment['_id']} refunded beyond its capture"
        assert set(made) == succeeded, "a refund at the processor that no payment records"


def _units(cents: int) -> Decimal:
    return Decimal(cents) / 100


def _value(amount: dict[str, str]) -> Decimal:
    return Decimal(amount["value"])
