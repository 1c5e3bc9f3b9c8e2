"""Analytics rules: revenue per payment, refunds reversing it, running totals, rates and ROI."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.analytics import domain, refunds
from services.analytics.domain import CampaignTotals
from services.analytics.payment_lines import payment_line, refunded_line
from services.analytics.refunds import ReversedSoFar
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.envelope import CloudEvent, event_to_json
from shared.events.payments import PaymentRecord, PaymentStatus
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.money import Money, minor_unit, round_half_up
from tests.support.factories import (
    campaign_launched,
    campaign_planned,
    campaign_segmented,
    failed_payment_record,
    payment_record,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def payment(cid: str = "spring", **overrides: object) -> PaymentRecord:
    return PaymentRecord.model_validate(payment_record(cid, **overrides))


def paypal_payment(cid: str = "spring") -> PaymentRecord:
    record = payment_record(cid, amount="50.00", processor="paypal", payment_method="paypal")
    record["metadata"]["processor_fees"] = {
        "processor_fee": "2.24",
        "net_amount": "47.76",
        "fee_rate": "0.0349",
        "fee_fixed": "0.49",
    }
    return PaymentRecord.model_validate(record)


def test_completed_payment_earns_gross_less_the_processor_fee():
    revenue = domain.revenue_from(payment(), NOW)
    assert revenue.gross == Money.of("149.99", "USD")
    assert revenue.fee == Money.of("4.65", "USD")
    assert revenue.net == Money.of("145.34", "USD")
    assert revenue.attribution.segment_id == "high_value"
    assert revenue.recorded_at == NOW


def test_payment_without_processor_fees_nets_its_gross():
    record = payment_record("spring")
    record["metadata"]["processor_fees"] = None
    revenue = domain.revenue_from(PaymentRecord.model_validate(record), NOW)
    assert revenue.fee == Money.zero("USD")
    assert revenue.net == revenue.gross


def test_revenue_is_credited_to_the_attributed_campaign():
    record = payment_record("paid-through")
    record["metadata"]["campaign_attribution"] = "credited"
    assert domain.revenue_from(PaymentRecord.model_validate(record), NOW).campaign_id == "credited"


def totals_with_two_sales_and_a_failure() -> CampaignTotals:
    totals = CampaignTotals("spring")
    totals.record_revenue(domain.revenue_from(payment(), NOW))
    totals.record_revenue(domain.revenue_from(paypal_payment(), NOW))
    totals.record_failure()
    return totals


def test_totals_sum_gross_fees_and_net_exactly():
    totals = totals_with_two_sales_and_a_failure()
    assert (totals.gross, totals.fees, totals.net) == (
        Decimal("199.99"),
        Decimal("6.89"),
        Decimal("193.10"),
    )
    assert (totals.payments_completed, totals.payments_failed) == (2, 1)


def test_success_rate_counts_completed_among_all_settled_payments():
    assert domain.success_rate(totals_with_two_sales_and_a_failure()) == 0.6667
    assert domain.success_rate(CampaignTotals("quiet")) == 0.0


def test_average_transaction_rounds_half_up_to_the_cent():
    assert domain.average_transaction(totals_with_two_sales_and_a_failure()) == Money.of(
        "100.00", "USD"
    )
    assert domain.average_transaction(CampaignTotals("quiet")) == Money.zero("USD")


def test_processor_mix_ranks_processors_by_gross():
    mix = domain.processor_mix(totals_with_two_sales_and_a_failure())
    assert [(share.processor, share.count, share.gross.amount) for share in mix] == [
        ("stripe", 1, Decimal("149.99")),
        ("paypal", 1, Decimal("50.00")),
    ]


def test_roi_compares_net_revenue_with_the_planned_budget():
    totals = totals_with_two_sales_and_a_failure()
    assert domain.actual_roi(totals) is None
    totals.record_plan(
        CampaignPlanned.model_validate(
            campaign_planned("spring", budget={"amount": "100.00", "currency": "USD"})
        )
    )
    assert domain.actual_roi(totals) == 0.931  # (193.10 - 100) / 100


def test_ai_cost_of_every_step_counts_as_spend_once_each():
    totals = totals_with_two_sales_and_a_failure()
    plan = CampaignPlanned.model_validate(
        campaign_planned("spring", budget={"amount": "100.00", "currency": "USD"})
    )
    totals.record_plan(plan.model_copy(update={"ai_cost": Decimal("2.004")}))
    segmented = CampaignSegmented.model_validate(campaign_segmented("spring"))
    totals.record_segments(segmented.model_copy(update={"ai_cost": Decimal("0.5")}))
    content = CampaignContentGenerated(campaign_id="spring", content=[], ai_cost=Decimal("0.5"))
    totals.record_content(content)
    totals.record_content(content)  # redelivered: counted once
    report = domain.performance(totals, NOW)
    assert report.ai_cost == Decimal("3.004")
    assert report.spend == Money.of("103.00", "USD")  # 100 + 3.004, half-up to the cent
    assert report.roi == 0.8748  # (193.10 - 103.00) / 103.00


def test_ai_cost_of_a_campaign_in_another_currency_is_reported_beside_its_spend():
    totals = CampaignTotals("spring")
    plan = CampaignPlanned.model_validate(
        campaign_planned("spring", budget={"amount": "500000", "currency": "JPY"})
    )
    totals.record_plan(plan.model_copy(update={"ai_cost": Decimal("1.25")}))
    report = domain.performance(totals, NOW)
    assert report.spend == Money.of("500000", "JPY")
    assert report.ai_cost == Decimal("1.25")


def test_conversion_rate_is_completed_payments_per_person_reached():
    totals = totals_with_two_sales_and_a_failure()
    assert domain.conversion_rate(totals) is None
    totals.record_launch(CampaignLaunched.model_validate(campaign_launched("spring")))
    assert domain.conversion_rate(totals) == 0.001  # 2 of 2,000


def test_a_payment_in_another_currency_is_refused_naming_the_field():
    totals = CampaignTotals("spring")
    totals.record_plan(CampaignPlanned.model_validate(campaign_planned("spring")))
    euros = domain.revenue_from(payment(currency="EUR"), NOW)
    with pytest.raises(domain.CurrencyMismatchError, match="currency: EUR") as raised:
        totals.record_revenue(euros)
    assert raised.value.field == "currency"
    assert totals.payments_completed == 0


def test_performance_before_any_payment_reports_zero_in_the_plan_currency():
    totals = CampaignTotals("spring")
    totals.record_plan(
        CampaignPlanned.model_validate(
            campaign_planned("spring", budget={"amount": "500000", "currency": "JPY"})
        )
    )
    totals.record_segments(CampaignSegmented.model_validate(campaign_segmented("spring")))
    report = domain.performance(totals, NOW)
    assert report.gross_revenue == Money.zero("JPY")
    assert report.roi == -1.0
    assert (report.success_rate, report.conversion_rate) == (0.0, None)


def test_performance_carries_the_running_totals():
    totals = totals_with_two_sales_and_a_failure()
    totals.record_launch(CampaignLaunched.model_validate(campaign_launched("spring")))
    report = domain.performance(totals, NOW)
    assert report.net_revenue == Money.of("193.10", "USD")
    assert (report.payments_completed, report.payments_failed, report.reach) == (2, 1, 2000)
    assert report.spend is None


def test_failed_payment_line_has_no_fee_or_net():
    failed = PaymentRecord.model_validate(failed_payment_record("spring"))
    line = payment_line(failed, None)
    assert (line.status, line.fee, line.net) == (PaymentStatus.FAILED, None, None)
    assert line.amount == Money.of("149.99", "USD")


def refunded(record: dict[str, Any], *amounts: str, status: str = "succeeded") -> PaymentRecord:
    """``record`` after refunds of ``amounts``, each with ``status``, listed oldest first."""
    refunds = [
        {"id": f"re_{uuid.uuid4()}", "amount": amount, "status": status, "created_at": NOW}
        for amount in amounts
    ]
    return PaymentRecord.model_validate(
        record | {"status": "partially_refunded", "refunds": record.get("refunds", []) + refunds}
    )


def with_fee(amount: Decimal, fee: Decimal, currency: str) -> dict[str, Any]:
    record = payment_record("spring", amount=str(amount), currency=currency)
    record["metadata"]["processor_fees"] |= {
        "processor_fee": str(fee),
        "net_amount": str(amount - fee),
    }
    return record


def reverse_one_at_a_time(
    revenue: RevenueRecorded, record: dict[str, Any], amounts: list[Decimal]
) -> list[RevenueReversed]:
    """Each refund announced by its own payment.refunded, as the payment service does."""
    reversals: list[RevenueReversed] = []
    payment = PaymentRecord.model_validate(record)
    for amount in amounts:
        payment = refunded(payment.model_dump(mode="json"), str(amount))
        earlier = ReversedSoFar.of(reversals)
        reversals += refunds.reversals_due(revenue, payment, earlier, NOW)
    return reversals


@st.composite
def payments_and_partial_refunds(draw: st.DrawFn) -> tuple[str, Decimal, Decimal, list[Decimal]]:
    """A payment's currency, amount and fee, and refunds summing to at most the amount;
    half the time the last refund gives back all that was left."""
    currency = draw(st.sampled_from(["USD", "JPY"]))
    unit = minor_unit(currency)
    units = draw(st.integers(min_value=1, max_value=10**9))
    fee_units = draw(st.integers(min_value=0, max_value=units))
    refund_units, left = [], units
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        if left == 0:
            break
        refund_units.append(draw(st.integers(min_value=1, max_value=left)))
        left -= refund_units[-1]
    if left and draw(st.booleans()):
        refund_units.append(left)
    return currency, units * unit, fee_units * unit, [n * unit for n in refund_units]


@given(payments_and_partial_refunds())
def test_reversed_fees_never_exceed_the_fee_and_equal_it_once_fully_refunded(
    drawn: tuple[str, Decimal, Decimal, list[Decimal]],
) -> None:
    currency, amount, fee, amounts = drawn
    record = with_fee(amount, fee, currency)
    revenue = domain.revenue_from(PaymentRecord.model_validate(record), NOW)

    reversals = reverse_one_at_a_time(revenue, record, amounts)

    refunded_total = sum(amounts, Decimal(0))
    reversed_fees = sum((r.fee.amount for r in reversals), Decimal(0))
    assert [r.gross.amount for r in reversals] == amounts
    assert all(Decimal(0) <= r.fee.amount <= r.gross.amount for r in reversals)
    assert all(r.net.amount == r.gross.amount - r.fee.amount for r in reversals)
    assert reversed_fees <= fee
    assert reversed_fees == round_half_up(fee * refunded_total / amount, currency)
    if refunded_total == amount:
        assert reversed_fees == fee
    totals = CampaignTotals("spring")
    totals.record_revenue(revenue)
    totals.record_refund(reversals, first_for_payment=True)
    assert totals.gross == amount - refunded_total
    assert totals.fees == fee - reversed_fees
    assert totals.net == totals.gross - totals.fees


@given(payments_and_partial_refunds())
def test_refunds_reversed_together_or_one_event_at_a_time_reverse_the_same(
    drawn: tuple[str, Decimal, Decimal, list[Decimal]],
) -> None:
    currency, amount, fee, amounts = drawn
    record = with_fee(amount, fee, currency)
    revenue = domain.revenue_from(PaymentRecord.model_validate(record), NOW)
    together = refunds.reversals_due(
        revenue, refunded(record, *map(str, amounts)), ReversedSoFar(), NOW
    )

    apart = reverse_one_at_a_time(revenue, record, amounts)

    assert [(r.gross, r.fee, r.net) for r in together] == [(r.gross, r.fee, r.net) for r in apart]


def test_three_refunds_of_a_third_reverse_exactly_the_fee_not_a_cent_more():
    record = with_fee(Decimal("1.00"), Decimal("0.05"), "USD")
    revenue = domain.revenue_from(PaymentRecord.model_validate(record), NOW)

    reversals = refunds.reversals_due(
        revenue, refunded(record, "0.33", "0.33", "0.34"), ReversedSoFar(), NOW
    )

    # Each third's own share, 0.0165 or 0.017, rounds to 0.02: three would reverse 0.06.
    assert [r.fee.amount for r in reversals] == [Decimal("0.02"), Decimal("0.01"), Decimal("0.02")]
    assert [r.net.amount for r in reversals] == [Decimal("0.31"), Decimal("0.32"), Decimal("0.32")]


def test_only_succeeded_refunds_not_yet_reversed_are_reversed():
    revenue = domain.revenue_from(payment(), NOW)
    first = refunded(payment_record("spring"), "50.00")
    earlier = ReversedSoFar.of(refunds.reversals_due(revenue, first, ReversedSoFar(), NOW))
    later = refunded(first.model_dump(mode="json"), "20.00")
    later = refunded(later.model_dump(mode="json"), "30.00", status="pending")
    later = refunded(later.model_dump(mode="json"), "40.00", status="failed")

    [reversal] = refunds.reversals_due(revenue, later, earlier, NOW)

    assert reversal.refund_id == later.refunds[1].id
    assert reversal.gross == Money.of("20.00", "USD")
    assert refunds.reversals_due(revenue, later, earlier.after(reversal), NOW) == []


def test_refund_of_more_than_is_left_is_refused_naming_the_payment():
    revenue = domain.revenue_from(payment(), NOW)
    record = refunded(payment_record("spring"), "100.00", "50.00")

    with pytest.raises(refunds.RefundExceedsRevenueError, match=revenue.payment_id):
        refunds.reversals_due(revenue, record, ReversedSoFar(), NOW)


def test_reversal_carries_the_payment_s_campaign_processor_and_attribution():
    revenue = domain.revenue_from(paypal_payment(), NOW)
    record = refunded(paypal_payment().model_dump(mode="json"), "50.00")

    [reversal] = refunds.reversals_due(revenue, record, ReversedSoFar(), NOW)

    assert (reversal.campaign_id, reversal.payment_id) == ("spring", revenue.payment_id)
    assert (reversal.processor, reversal.refund_id) == ("paypal", record.refunds[0].id)
    assert (reversal.gross, reversal.fee, reversal.net) == (revenue.gross, revenue.fee, revenue.net)
    assert reversal.attribution == revenue.attribution
    assert reversal.reversed_at == NOW


def test_refunds_take_revenue_back_and_count_each_refunded_payment_once():
    totals = totals_with_two_sales_and_a_failure()
    stripe = payment()
    revenue = domain.revenue_from(stripe, NOW)
    totals.record_revenue(revenue)
    record = stripe.model_dump(mode="json")
    [first] = refunds.reversals_due(revenue, refunded(record, "49.99"), ReversedSoFar(), NOW)
    totals.record_refund([first], first_for_payment=True)
    [rest] = refunds.reversals_due(
        revenue, refunded(record, "100.00"), ReversedSoFar.of([first]), NOW
    )
    totals.record_refund([rest], first_for_payment=False)

    assert (totals.refunded, totals.payments_refunded) == (Decimal("149.99"), 1)
    # Back to the two other sales: the refunded one's gross, fee and net are all gone.
    assert (totals.gross, totals.fees, totals.net) == (
        Decimal("199.99"),
        Decimal("6.89"),
        Decimal("193.10"),
    )
    assert (totals.payments_completed, totals.payments_failed) == (3, 1)
    assert [(s.processor, s.count, s.gross.amount) for s in domain.processor_mix(totals)] == [
        ("stripe", 2, Decimal("149.99")),
        ("paypal", 1, Decimal("50.00")),
    ]
    report = domain.performance(totals, NOW)
    assert report.refunds == Money.of("149.99", "USD")
    assert report.net_revenue == Money.of("193.10", "USD")


def test_payment_line_shows_what_was_refunded_and_whether_in_full():
    stripe = payment()
    line = payment_line(stripe, domain.revenue_from(stripe, NOW))

    partly = refunded_line(line, Decimal("49.99"))
    fully = refunded_line(line, Decimal("149.99"))

    assert (partly.status, partly.refunded) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        Money.of("49.99", "USD"),
    )
    assert (fully.status, fully.refunded) == (PaymentStatus.REFUNDED, Money.of("149.99", "USD"))
    assert (fully.amount, fully.fee, fully.net) == (line.amount, line.fee, line.net)


def test_payment_event_as_published_is_read_back_with_its_creation_step():
    record = payment_record("spring")
    record["status_history"] = [
        {"from": None, "to": "pending", "at": NOW.isoformat(), "actor": "api"},
        {"from": "pending", "to": "processing", "at": NOW.isoformat(), "actor": "api"},
    ]
    published = CloudEvent[PaymentRecord](
        source="/services/payment", type="payment.completed", data=record
    )

    # Events leave null fields out, the creation step's "from" among them.
    received = CloudEvent[PaymentRecord].model_validate_json(event_to_json(published))

    assert [step.from_status for step in received.data.status_history] == [
        None,
        PaymentStatus.PENDING,
    ]
