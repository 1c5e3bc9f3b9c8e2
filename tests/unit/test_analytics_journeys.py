"""Journeys and what the report reads from them: the lift over the holdout, the breakdowns
with the right denominators, and the processors' figures."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.analytics import report_sections
from services.analytics.attribution.comparison import Dimension
from services.analytics.breakdowns import UNKNOWN, Cells
from services.analytics.conversions import Conversion
from services.analytics.journeys import Journey, Touch, TouchKind
from services.analytics.lift import Group, campaign_groups, lift
from services.analytics.payment_lines import LineStatus, PaymentLine
from services.analytics.processor_figures import processor_figures
from shared.events.common import Channel
from shared.events.engagement import AdsReported
from shared.events.payments import Attribution, PaymentMethod
from shared.money import Money
from tests.support.factories import ads_reported

SENT_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def send(customer_id: str, variant_id: str = "high_value-email-a", **overrides: Any) -> Touch:
    fields: dict[str, Any] = {
        "kind": TouchKind.SENT,
        "key": f"<{customer_id}@shop>",
        "campaign_id": "spring",
        "segment_id": "high_value",
        "channel": Channel.EMAIL,
        "variant_id": variant_id,
        "at": SENT_AT,
        "customer_id": customer_id,
    }
    return Touch(**(fields | overrides))


def emailed(customer_id: str, **overrides: Any) -> Journey:
    journey = Journey.of_customer("spring", customer_id)
    journey.touch(send(customer_id, **overrides))
    return journey


def held_out(customer_id: str) -> Journey:
    journey = Journey.of_customer("spring", customer_id)
    journey.hold_out("high_value", SENT_AT)
    return journey


# -- journeys ---------------------------------------------------------------------------


def test_a_touch_or_a_payment_announced_twice_is_kept_once_in_time_order():
    journey = Journey.of_customer("spring", "c1")
    click = send("c1").model_copy(update={"kind": TouchKind.CLICKED, "key": "clk_1"})
    assert journey.touch(click.model_copy(update={"at": SENT_AT + timedelta(hours=1)}))
    assert journey.touch(send("c1"))
    assert not journey.touch(send("c1"))
    journey.pay("pay_1", SENT_AT, attributed=True)
    journey.pay("pay_1", SENT_AT, attributed=True)

    assert [t.kind for t in journey.touches] == [TouchKind.SENT, TouchKind.CLICKED]
    assert len(journey.payments) == 1


def test_a_soft_bounce_is_forgotten_and_a_hard_one_undelivers_the_email():
    journey = emailed("c1")
    journey.bounce(hard=False, at=SENT_AT)
    assert journey.delivered
    journey.bounce(hard=True, at=SENT_AT)
    assert (journey.emailed, journey.delivered) == (True, False)


# -- lift -------------------------------------------------------------------------------


def test_lift_matches_newcombe_s_worked_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 - 48/80 = 0.2000,
    # method 10 (hybrid score) interval 0.0524 to 0.3339.
    found = lift(Group(70, 56), Group(80, 48))

    assert found is not None
    assert found.absolute == pytest.approx(0.2)
    assert (found.absolute_interval.low, found.absolute_interval.high) == (
        pytest.approx(0.0524, abs=5e-5),
        pytest.approx(0.3339, abs=5e-5),
    )
    # Rate ratio 4/3, Katz log interval exp(+-1.96 x 0.10911): 1.0766 to 1.6512, less 1.
    assert found.relative == pytest.approx(1 / 3)
    assert found.relative_interval is not None
    assert found.relative_interval.low == pytest.approx(0.0766, abs=5e-4)
    assert found.relative_interval.high == pytest.approx(0.6512, abs=5e-4)


def test_lift_with_no_held_out_conversion_has_an_absolute_interval_but_no_relative_one():
    found = lift(Group(200, 10), Group(20, 0))
    assert found is not None
    assert found.absolute_interval.low < 0.05 < found.absolute_interval.high
    assert (found.relative, found.relative_interval) == (None, None)
    assert lift(Group(0, 0), Group(20, 1)) is None


def test_groups_count_a_conversion_only_within_the_window_after_the_treatment():
    converted, late, idle = emailed("c1"), emailed("c2"), emailed("c3")
    converted.pay("pay_1", SENT_AT + timedelta(days=2), attributed=True)
    late.pay("pay_2", SENT_AT + timedelta(days=8), attributed=True)
    control, control_buyer = held_out("c4"), held_out("c5")
    control_buyer.pay("pay_3", SENT_AT + timedelta(days=1), attributed=False)  # organic
    bounced = Journey.of_customer("spring", "c6")
    bounced.bounce(hard=True, at=SENT_AT)
    ad_only = Journey.of_customer("spring", "c7")

    treated, kept_out = campaign_groups(
        [converted, late, idle, control, control_buyer, bounced, ad_only], WEEK
    )

    assert (treated.people, treated.converted) == (4, 1)  # the bounce was treated too
    assert (kept_out.people, kept_out.converted) == (2, 1)


# -- breakdowns -------------------------------------------------------------------------


def conversion(attribution: Attribution, net: str, customer_id: str = "c1") -> Conversion:
    return Conversion(
        payment_id=f"pay_{customer_id}_{net}",
        customer_id=customer_id,
        campaign_id="spring",
        processor="stripe",
        paid_at=SENT_AT,
        attribution=attribution,
        click_id=None,
        path=(),
        gross=Money.of(Decimal(net) + 1, "USD"),
        fee=Money.of("1.00", "USD"),
        net=Money.of(net, "USD"),
    )


EMAIL_A = Attribution(
    segment_id="high_value", channel=Channel.EMAIL, variant_id="high_value-email-a"
)
SOCIAL = Attribution(
    segment_id="high_value", channel=Channel.SOCIAL, variant_id="high_value-social-a"
)


def ad_clicked(click_id: str) -> Journey:
    click = send("unknown", key=click_id, kind=TouchKind.CLICKED, channel=Channel.SOCIAL)
    click = click.model_copy(update={"variant_id": "high_value-social-a", "customer_id": None})
    journey = Journey.of_ad_click(click)
    journey.touch(click)
    return journey


def campaign_cells() -> Cells:
    """Email: a (c1 clicked, c3 bounced after acceptance), b (c2), and c4 refused at once;
    social: two ad clicks, 12,000 impressions for 84.30; one sale on email a, one on social,
    one organic; 30.00 allocated to email."""
    cells = Cells("USD")
    clicker = emailed("c1")
    clicker.touch(send("c1", key="clk_1", kind=TouchKind.CLICKED))
    bounced = emailed("c3")
    bounced.bounce(hard=True, at=SENT_AT)
    refused = Journey.of_customer("spring", "c4")
    refused.bounce(hard=True, at=SENT_AT)
    for journey in (clicker, emailed("c2", variant_id="high_value-email-b"), bounced, refused):
        cells.count_journey(journey)
    for click_id in ("clk_ad_1", "clk_ad_2"):
        cells.count_journey(ad_clicked(click_id))
    cells.count_conversion(conversion(EMAIL_A, "99.00"))
    cells.count_conversion(conversion(SOCIAL, "49.00", customer_id="c9"))
    cells.count_conversion(conversion(Attribution(), "9.00", customer_id="c8"))
    cells.count_ad_set(AdsReported.model_validate(ads_reported("spring")))
    cells.spend_email_allocation(Money.of("30.00", "USD"))
    return cells


def test_channel_rows_divide_email_by_people_emailed_and_ads_by_clicks_never_impressions():
    email, social = campaign_cells().rows_by(Dimension.CHANNEL).values()

    assert (email.emailed, email.delivered, email.clicks, email.conversions) == (4, 2, 1, 1)
    assert email.conversion_rate == 0.25  # 1 of 4 people emailed
    assert (email.gross, email.fees, email.net) == (
        Decimal("100.00"), Decimal("1.00"), Decimal("99.00"),
    )  # fmt: skip
    assert email.spend == Decimal("30.00")
    assert email.roi == 2.3  # (99 - 30) / 30
    assert (social.impressions, social.clicks, social.conversions) == (12000, 2, 1)
    assert social.conversion_rate == 0.5  # 1 of 2 clicks, not of 12,000 impressions
    assert social.spend == Decimal("84.30")
    assert social.roi == -0.4187  # (49.00 - 84.30) / 84.30


def test_the_email_allocation_is_shared_by_people_emailed_and_a_nameless_bounce_stands_apart():
    cells = campaign_cells()
    variants = cells.rows_by(Dimension.VARIANT)

    assert {key: row.spend for key, row in variants.items() if key != "high_value-social-a"} == {
        UNKNOWN: Decimal("7.50"),
        "high_value-email-a": Decimal("15.00"),
        "high_value-email-b": Decimal("7.50"),
    }
    segments = cells.rows_by(Dimension.SEGMENT)
    assert segments["high_value"].conversion_rate == 0.4  # 2 of 3 emailed + 2 ad clicks
    assert segments[UNKNOWN].emailed == 1


def test_the_funnel_counts_people_for_email_and_clicks_for_ads():
    email, social = report_sections.funnel(campaign_cells())

    assert (email.emailed, email.delivered, email.clicked, email.paid) == (4, 2, 1, 1)
    assert email.impressions is None
    assert (social.impressions, social.clicked, social.paid, social.emailed) == (12000, 2, 1, None)


def test_organic_sales_are_reported_apart_from_every_channel():
    cells = campaign_cells()
    organic = conversion(Attribution(), "9.00", customer_id="c8")

    found = report_sections.breakdowns(cells, [organic])

    assert found.unattributed.payments == 1
    assert found.unattributed.net == Money.of("9.00", "USD")
    assert sum(row.conversions for row in found.channels) == 2


# -- processors -------------------------------------------------------------------------


def line(payment_id: str, processor: str, status: LineStatus, seconds: float) -> PaymentLine:
    return PaymentLine(
        payment_id=payment_id,
        customer_id="c1",
        payment_method=PaymentMethod.CREDIT_CARD,
        processor=processor,
        amount=Money.of("100.00", "USD"),
        fee=None if status is LineStatus.FAILED else Money.of("3.20", "USD"),
        status=status,
        attribution=Attribution(),
        occurred_at=SENT_AT + timedelta(seconds=seconds),
    )


def test_processor_figures_time_each_payment_from_its_initiation():
    lines = [
        line("p1", "stripe", LineStatus.COMPLETED, 1.0),
        line("p2", "stripe", LineStatus.FAILED, 3.0),
        line("p3", "stripe", LineStatus.REFUNDED, 900.0),  # the refund's time: not timed
        line("p4", "paypal", LineStatus.COMPLETED, 2.5),
    ]
    started = {payment_id: SENT_AT for payment_id in ("p1", "p2", "p3")}

    stripe, paypal = processor_figures(lines, started, "USD")

    assert (stripe.processor, stripe.completed, stripe.failed) == ("stripe", 2, 1)
    assert stripe.success_rate == 0.6667
    assert stripe.fees == Money.of("6.40", "USD")
    assert stripe.mean_latency_seconds == 2.0  # (1 + 3) / 2
    assert (paypal.mean_latency_seconds, paypal.success_rate) == (None, 1.0)  # never started
