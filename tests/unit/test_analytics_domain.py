"""Analytics rules: revenue per payment, running totals, rates and ROI."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.analytics import domain
from services.analytics.domain import CampaignTotals
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.payments import PaymentRecord, PaymentStatus
from shared.money import Money
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
    line = domain.payment_line(failed, None)
    assert (line.status, line.fee, line.net) == (PaymentStatus.FAILED, None, None)
    assert line.amount == Money.of("149.99", "USD")
