"""Analytics rules: revenue per payment, refunds reversing it, running totals per currency,
rates and ROI."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.analytics import domain, figures, refunds
from services.analytics.attribution.rule import Attributed
from services.analytics.domain import CampaignTotals
from services.analytics.journeys import Touch, TouchKind
from services.analytics.payment_lines import LineStatus, completed_line, failed_line, refunded_line
from services.analytics.refunds import ReversedSoFar
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.common import Channel
from shared.events.payments import Attribution, PaymentCompleted, PaymentFailed, PaymentRefunded
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.money import Money, minor_unit, round_half_up
from tests.support.factories import (
    campaign_launched,
    campaign_planned,
    campaign_segmented,
    money,
    payment_completed,
    payment_failed,
    payment_refunded,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EMAIL_SEND = Touch(
    kind=TouchKind.SENT,
    key="<m1@shop>",
    campaign_id="spring",
    segment_id="high_value",
    channel=Channel.EMAIL,
    variant_id="high_value-email-a",
    at=NOW,
    customer_id="customer_1",
)
EMAILED = Attributed("spring", EMAIL_SEND.attribution, None, (EMAIL_SEND,))
ORGANIC = Attributed("spring", Attribution(), None, ())


def completed(cid: str = "spring", **overrides: Any) -> PaymentCompleted:
    return PaymentCompleted.model_validate(payment_completed(cid, **overrides))


def paypal_payment(cid: str = "spring") -> PaymentCompleted:
    return completed(cid, amount="50.00", fee="2.24", processor="paypal", payment_method="paypal")


def revenue(**overrides: Any) -> RevenueRecorded:
    return domain.revenue_from(completed(**overrides), NOW, EMAILED)


def plan(amount: str = "50000.00", currency: str = "USD") -> CampaignPlanned:
    return CampaignPlanned.model_validate(
        campaign_planned("spring", budget=money(amount, currency))
    )


def test_completed_payment_earns_its_amount_less_the_processor_fee():
    recorded = revenue()
    assert recorded.gross == Money.of("149.99", "USD")
    assert recorded.fee == Money.of("4.65", "USD")
    assert recorded.net == Money.of("145.34", "USD")
    assert recorded.recorded_at == NOW


def test_revenue_is_credited_as_the_journey_says_never_as_the_payment_claims():
    payment = completed(campaign_id="spring", click_id="clk_forged")
    elsewhere = Attributed("autumn", EMAIL_SEND.attribution, "clk_real", (EMAIL_SEND,))

    recorded = domain.revenue_from(payment, NOW, elsewhere)
    organic = domain.revenue_from(payment, NOW, ORGANIC)

    assert (recorded.campaign_id, recorded.click_id) == ("autumn", "clk_real")
    assert recorded.attribution.variant_id == "high_value-email-a"
    assert (organic.attribution, organic.click_id) == (Attribution(), None)


def test_a_refund_records_the_revenue_its_payment_completed_with():
    payment = payment_completed("spring")
    refund = PaymentRefunded.model_validate(payment_refunded(payment, "10.00"))
    from_refund = domain.revenue_from(refund, NOW, EMAILED)
    from_completion = domain.revenue_from(PaymentCompleted.model_validate(payment), NOW, EMAILED)
    assert from_refund == from_completion


def test_a_fee_in_another_currency_than_the_amount_is_refused_naming_the_field():
    payment = PaymentCompleted.model_validate(
        payment_completed("spring") | {"fee": money("4.65", "EUR")}
    )
    with pytest.raises(domain.InvalidPaymentEventError, match="EUR") as raised:
        domain.revenue_from(payment, NOW, EMAILED)
    assert raised.value.field == "fee"


def totals_with_two_sales_and_a_failure() -> CampaignTotals:
    totals = CampaignTotals("spring")
    totals.record_revenue(revenue())
    totals.record_revenue(domain.revenue_from(paypal_payment(), NOW, EMAILED))
    totals.record_failure()
    return totals


def test_totals_sum_gross_fees_and_net_exactly():
    totals = totals_with_two_sales_and_a_failure()
    usd = totals.reported
    assert (usd.gross, usd.fees, usd.net) == (Decimal("199.99"), Decimal("6.89"), Decimal("193.10"))
    assert (totals.payments_completed, totals.payments_failed) == (2, 1)


def test_success_rate_counts_completed_among_all_settled_payments():
    assert figures.success_rate(totals_with_two_sales_and_a_failure()) == 0.6667
    assert figures.success_rate(CampaignTotals("quiet")) == 0.0


def test_average_transaction_rounds_half_up_to_the_cent():
    assert figures.average_transaction(totals_with_two_sales_and_a_failure()) == Money.of(
        "100.00", "USD"
    )
    assert figures.average_transaction(CampaignTotals("quiet")) == Money.zero("USD")


def test_processor_mix_ranks_processors_by_gross():
    mix = figures.processor_mix(totals_with_two_sales_and_a_failure())
    assert [(share.processor, share.count, share.gross.amount) for share in mix] == [
        ("stripe", 1, Decimal("149.99")),
        ("paypal", 1, Decimal("50.00")),
    ]


def test_roi_compares_net_revenue_with_the_planned_budget():
    totals = totals_with_two_sales_and_a_failure()
    assert figures.actual_roi(totals) is None
    totals.record_plan(plan("100.00"))
    assert figures.actual_roi(totals) == 0.931  # (193.10 - 100) / 100


def test_ai_cost_of_every_step_counts_as_spend_once_each():
    totals = totals_with_two_sales_and_a_failure()
    totals.record_plan(plan("100.00").model_copy(update={"ai_cost": Decimal("2.004")}))
    segmented = CampaignSegmented.model_validate(campaign_segmented("spring"))
    totals.record_segments(segmented.model_copy(update={"ai_cost": Decimal("0.5")}))
    content = CampaignContentGenerated(campaign_id="spring", content=[], ai_cost=Decimal("0.5"))
    totals.record_content(content)
    totals.record_content(content)  # redelivered: counted once
    report = figures.performance(totals, NOW)
    assert report.ai_cost == Decimal("3.004")
    assert report.spend == Money.of("103.00", "USD")  # 100 + 3.004, half-up to the cent
    assert report.roi == 0.8748  # (193.10 - 103.00) / 103.00


def test_ai_cost_of_a_campaign_in_another_currency_is_reported_beside_its_spend():
    totals = CampaignTotals("spring")
    totals.record_plan(plan("500000", "JPY").model_copy(update={"ai_cost": Decimal("1.25")}))
    report = figures.performance(totals, NOW)
    assert report.spend == Money.of("500000", "JPY")
    assert report.ai_cost == Decimal("1.25")


def test_conversion_rate_is_completed_payments_per_person_reached():
    totals = totals_with_two_sales_and_a_failure()
    assert figures.conversion_rate(totals) is None
    totals.record_launch(CampaignLaunched.model_validate(campaign_launched("spring")))
    assert figures.conversion_rate(totals) == 0.001  # 2 of 2,000


def euros() -> RevenueRecorded:
    """100.00 EUR, fee 3.20, net 96.80."""
    return revenue(amount="100.00", fee="3.20", currency="EUR")


def test_a_payment_in_another_currency_than_the_budget_is_summed_beside_it():
    totals = totals_with_two_sales_and_a_failure()
    totals.record_plan(plan("100.00"))
    totals.record_revenue(euros())

    report = figures.performance(totals, NOW)

    assert report.net_revenue == Money.of("193.10", "USD")
    assert report.roi == 0.931  # the euros count towards no ROI: no exchange rates
    assert (report.payments_completed, report.success_rate) == (3, 0.75)
    assert report.average_transaction == Money.of("100.00", "USD")  # of the two in USD
    assert report.other_currencies is not None
    [eur] = report.other_currencies
    assert (eur.currency, eur.gross, eur.fees, eur.net, eur.payments_completed) == (
        "EUR",
        Money.of("100.00", "EUR"),
        Money.of("3.20", "EUR"),
        Money.of("96.80", "EUR"),
        1,
    )


def test_before_the_plan_the_first_currency_paid_in_is_reported_and_the_budget_s_after():
    totals = CampaignTotals("spring")
    totals.record_revenue(euros())
    totals.record_revenue(revenue(amount="1500", fee="50", currency="JPY"))
    totals.record_revenue(revenue())
    assert figures.performance(totals, NOW).gross_revenue == Money.of("100.00", "EUR")
    assert [c.currency for c in figures.other_currencies(totals)] == ["JPY", "USD"]

    totals.record_plan(plan())

    assert figures.performance(totals, NOW).gross_revenue == Money.of("149.99", "USD")
    assert [c.currency for c in figures.other_currencies(totals)] == ["EUR", "JPY"]


def test_performance_before_any_payment_reports_zero_in_the_plan_currency():
    totals = CampaignTotals("spring")
    totals.record_plan(plan("500000", "JPY"))
    totals.record_segments(CampaignSegmented.model_validate(campaign_segmented("spring")))
    report = figures.performance(totals, NOW)
    assert report.gross_revenue == Money.zero("JPY")
    assert report.roi == -1.0
    assert (report.success_rate, report.conversion_rate) == (0.0, None)
    assert report.other_currencies is None


def test_performance_carries_the_running_totals():
    totals = totals_with_two_sales_and_a_failure()
    totals.record_launch(CampaignLaunched.model_validate(campaign_launched("spring")))
    report = figures.performance(totals, NOW)
    assert report.net_revenue == Money.of("193.10", "USD")
    assert (report.payments_completed, report.payments_failed, report.reach) == (2, 1, 2000)
    assert report.spend is None


def test_failed_payment_line_has_no_fee_or_net():
    line = failed_line(PaymentFailed.model_validate(payment_failed("spring")))
    assert (line.status, line.fee, line.net) == (LineStatus.FAILED, None, None)
    assert line.amount == Money.of("149.99", "USD")
    assert line.failure_reason == "card_declined"


def reverse_one_at_a_time(
    recorded: RevenueRecorded, amounts: list[Decimal]
) -> list[RevenueReversed]:
    """Each refund announced by its own payment.refunded, as the payment service does."""
    reversals: list[RevenueReversed] = []
    currency = recorded.gross.currency
    for number, amount in enumerate(amounts):
        earlier = ReversedSoFar.of(reversals)
        refund = Money.of(amount, currency)
        reversals.append(refunds.reverse_refund(recorded, f"re_{number}", refund, earlier, NOW))
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
    recorded = revenue(amount=str(amount), fee=str(fee), currency=currency)

    reversals = reverse_one_at_a_time(recorded, amounts)

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
    totals.record_revenue(recorded)
    for number, reversal in enumerate(reversals):
        totals.record_refund(reversal, first_for_payment=number == 0)
    sums = totals.reported
    assert sums.gross == amount - refunded_total
    assert sums.fees == fee - reversed_fees
    assert sums.net == sums.gross - sums.fees


def test_three_refunds_of_a_third_reverse_exactly_the_fee_not_a_cent_more():
    recorded = revenue(amount="1.00", fee="0.05")

    reversals = reverse_one_at_a_time(recorded, [Decimal("0.33"), Decimal("0.33"), Decimal("0.34")])

    # Each third's own share, 0.0165 or 0.017, rounds to 0.02: three would reverse 0.06.
    assert [r.fee.amount for r in reversals] == [Decimal("0.02"), Decimal("0.01"), Decimal("0.02")]
    assert [r.net.amount for r in reversals] == [Decimal("0.31"), Decimal("0.32"), Decimal("0.32")]


def test_refund_of_more_than_is_left_is_refused_naming_the_payment():
    recorded = revenue()
    [first] = reverse_one_at_a_time(recorded, [Decimal("100.00")])

    with pytest.raises(domain.InvalidPaymentEventError, match=recorded.payment_id) as raised:
        refunds.reverse_refund(
            recorded, "re_more", Money.of("50.00", "USD"), ReversedSoFar.of([first]), NOW
        )
    assert raised.value.field == "refund_amount"


def test_refund_in_another_currency_than_its_payment_is_refused():
    with pytest.raises(domain.InvalidPaymentEventError, match="EUR") as raised:
        refunds.reverse_refund(revenue(), "re_eur", Money.of("10.00", "EUR"), ReversedSoFar(), NOW)
    assert raised.value.field == "refund_amount"


def test_reversal_carries_the_payment_s_campaign_processor_and_attribution():
    recorded = domain.revenue_from(paypal_payment(), NOW, EMAILED)

    reversal = refunds.reverse_refund(recorded, "re_1", recorded.gross, ReversedSoFar(), NOW)

    assert (reversal.campaign_id, reversal.payment_id) == ("spring", recorded.payment_id)
    assert (reversal.processor, reversal.refund_id) == ("paypal", "re_1")
    assert (reversal.gross, reversal.fee, reversal.net) == (
        recorded.gross,
        recorded.fee,
        recorded.net,
    )
    assert reversal.attribution == recorded.attribution
    assert reversal.reversed_at == NOW


def test_refunds_take_revenue_back_and_count_each_refunded_payment_once():
    totals = totals_with_two_sales_and_a_failure()
    recorded = revenue()
    totals.record_revenue(recorded)
    first, rest = reverse_one_at_a_time(recorded, [Decimal("49.99"), Decimal("100.00")])
    totals.record_refund(first, first_for_payment=True)
    totals.record_refund(rest, first_for_payment=False)

    assert (totals.reported.refunded, totals.payments_refunded) == (Decimal("149.99"), 1)
    # Back to the two other sales: the refunded one's gross, fee and net are all gone.
    usd = totals.reported
    assert (usd.gross, usd.fees, usd.net) == (Decimal("199.99"), Decimal("6.89"), Decimal("193.10"))
    assert (totals.payments_completed, totals.payments_failed) == (3, 1)
    assert [(s.processor, s.count, s.gross.amount) for s in figures.processor_mix(totals)] == [
        ("stripe", 2, Decimal("149.99")),
        ("paypal", 1, Decimal("50.00")),
    ]
    report = figures.performance(totals, NOW)
    assert report.refunds == Money.of("149.99", "USD")
    assert report.net_revenue == Money.of("193.10", "USD")


def test_payment_line_shows_what_was_refunded_and_whether_in_full():
    line = completed_line(revenue(), NOW)

    partly = refunded_line(line, Decimal("49.99"))
    fully = refunded_line(line, Decimal("149.99"))

    assert (partly.status, partly.refunded) == (
        LineStatus.PARTIALLY_REFUNDED,
        Money.of("49.99", "USD"),
    )
    assert (fully.status, fully.refunded) == (LineStatus.REFUNDED, Money.of("149.99", "USD"))
    assert (fully.amount, fully.fee, fully.net) == (line.amount, line.fee, line.net)


def test_performance_carries_attributed_revenue_per_planned_channel_organic_in_none():
    totals = CampaignTotals("spring")
    totals.record_plan(plan())
    emailed = revenue()  # 149.99, fee 4.65, net 145.34, credited to email
    totals.record_revenue(emailed)
    totals.record_revenue(domain.revenue_from(paypal_payment(), NOW, ORGANIC))
    [refund] = reverse_one_at_a_time(emailed, [Decimal("49.99")])
    totals.record_refund(refund, first_for_payment=True)

    report = figures.performance(totals, NOW)

    assert report.revenue_by_channel == {
        Channel.EMAIL: Money.of("100.00", "USD"),
        Channel.SOCIAL: Money.zero("USD"),
        Channel.WEB: Money.zero("USD"),
    }
    assert report.net_revenue_by_channel is not None
    assert report.net_revenue_by_channel[Channel.EMAIL] == Money.of("96.90", "USD")
    assert report.gross_revenue == Money.of("150.00", "USD")  # the organic 50.00 too


def test_performance_of_organic_sales_only_before_a_plan_names_no_channel():
    totals = CampaignTotals("spring")
    totals.record_revenue(domain.revenue_from(paypal_payment(), NOW, ORGANIC))
    report = figures.performance(totals, NOW)
    assert (report.revenue_by_channel, report.net_revenue_by_channel) == (None, None)
