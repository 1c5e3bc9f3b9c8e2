"""Attribution from the journey: the rule a sale is credited by, the models that share it,
and money split to the cent. Every expected figure is computed by hand in the comments."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.analytics.attribution.comparison import Dimension, compare_models
from services.analytics.attribution.credit import split_by_shares
from services.analytics.attribution.markov import Path, removal_effect_shares
from services.analytics.attribution.models import Model, touch_shares
from services.analytics.attribution.rule import AttributionPolicy, attribute, usable_click
from services.analytics.conversions import Conversion
from services.analytics.journeys import Touch, TouchKind
from shared.events.common import Channel
from shared.events.payments import Attribution
from shared.money import Money

PAID_AT = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
POLICY = AttributionPolicy(lookback=timedelta(days=7), click_grace=timedelta(seconds=30))
DAY = timedelta(days=1)


def touch(kind: TouchKind, days_before: float, **overrides: Any) -> Touch:
    fields: dict[str, Any] = {
        "kind": kind,
        "key": f"{kind.value}-{days_before}-{overrides.get('channel', 'email')}",
        "campaign_id": "spring",
        "segment_id": "high_value",
        "channel": Channel.EMAIL,
        "variant_id": "high_value-email-a",
        "at": PAID_AT - timedelta(days=days_before),
        "customer_id": "customer_1",
    }
    return Touch(**(fields | overrides))


def sent(days_before: float, **overrides: Any) -> Touch:
    return touch(TouchKind.SENT, days_before, **overrides)


def clicked(days_before: float, **overrides: Any) -> Touch:
    return touch(TouchKind.CLICKED, days_before, **overrides)


def ad_click(days_before: float, **overrides: Any) -> Touch:
    social = {"channel": Channel.SOCIAL, "variant_id": "high_value-social-a", "source": "ad"}
    return clicked(days_before, **(social | overrides))


# -- the rule ---------------------------------------------------------------------------


def test_the_named_click_wins_over_every_later_touch_and_ends_the_path():
    send, named, later = sent(3), clicked(2, variant_id="high_value-email-b"), ad_click(1)

    credited = attribute("spring", PAID_AT, named, [send, named, later], POLICY)

    assert credited.attribution.variant_id == "high_value-email-b"
    assert credited.click_id == named.key
    assert credited.path == (send, named)


def test_without_a_named_click_the_last_touch_in_the_window_is_credited():
    send, click = sent(3), ad_click(1)

    credited = attribute("spring", PAID_AT, None, [click, send], POLICY)

    assert credited.attribution == Attribution(
        segment_id="high_value", channel=Channel.SOCIAL, variant_id="high_value-social-a"
    )
    assert credited.click_id == click.key  # the click it rests on
    assert credited.path == (send, click)


def test_a_send_alone_is_credited_with_no_click_id():
    credited = attribute("spring", PAID_AT, None, [sent(6.9)], POLICY)
    assert (credited.attribution.channel, credited.click_id) == (Channel.EMAIL, None)


def test_touches_older_than_the_window_leave_the_sale_unattributed():
    credited = attribute("spring", PAID_AT, None, [sent(7.1), clicked(7.01)], POLICY)

    assert credited.attribution == Attribution()
    assert (credited.click_id, credited.path, credited.is_attributed) == (None, (), False)


def test_a_touch_after_the_payment_is_not_credited_with_it():
    credited = attribute("spring", PAID_AT, None, [sent(-0.5)], POLICY)
    assert not credited.is_attributed


def test_a_named_click_older_than_the_window_falls_back_to_the_touches():
    old = clicked(8, variant_id="high_value-email-old")
    assert usable_click(old, PAID_AT, POLICY) is None

    credited = attribute("spring", PAID_AT, usable_click(old, PAID_AT, POLICY), [sent(2)], POLICY)

    assert (credited.attribution.channel, credited.click_id) == (Channel.EMAIL, None)


def test_a_named_click_of_another_campaign_credits_that_campaign():
    elsewhere = clicked(1, campaign_id="autumn", segment_id="lapsed", variant_id="lapsed-a")

    credited = attribute("spring", PAID_AT, elsewhere, [], POLICY)

    assert credited.campaign_id == "autumn"
    assert credited.attribution.segment_id == "lapsed"


def test_a_named_click_dated_just_after_the_payment_still_counts():
    skewed = clicked(-0.001)  # the launcher's clock a minute and a half ahead
    assert usable_click(skewed, PAID_AT, POLICY) == skewed


# -- the rule-based models --------------------------------------------------------------

THREE = [sent(2), clicked(1), ad_click(0)]


@pytest.mark.parametrize(
    ("model", "shares"),
    [
        (Model.LAST_TOUCH, [0, 0, 1]),
        (Model.FIRST_TOUCH, [1, 0, 0]),
        (Model.LINEAR, [Fraction(1, 3)] * 3),
        (Model.POSITION_BASED, [Fraction(2, 5), Fraction(1, 5), Fraction(2, 5)]),
        # Half-life 1 day: weights 2^-2, 2^-1, 2^0 = 1/4, 1/2, 1 of 7/4.
        (Model.TIME_DECAY, [Fraction(1, 7), Fraction(2, 7), Fraction(4, 7)]),
    ],
)
def test_each_model_shares_a_three_touch_path_as_defined(model: Model, shares: list[Fraction]):
    assert touch_shares(model, THREE, PAID_AT, half_life=DAY) == shares


def test_position_based_shares_two_touches_evenly_one_takes_all_and_four_split_the_middle():
    assert touch_shares(Model.POSITION_BASED, THREE[:2], PAID_AT, DAY) == [Fraction(1, 2)] * 2
    assert touch_shares(Model.POSITION_BASED, THREE[:1], PAID_AT, DAY) == [1]
    four = [*THREE, ad_click(0.5, key="another")]
    tenth = Fraction(1, 10)
    assert touch_shares(Model.POSITION_BASED, four, PAID_AT, DAY) == [
        Fraction(2, 5), tenth, tenth, Fraction(2, 5),
    ]  # fmt: skip


# -- the Markov removal effect -----------------------------------------------------------


def test_removal_effects_are_normalised_over_converting_and_idle_journeys():
    # start -> A 2/3, B 1/3; A -> conversion 1/2, B 1/2; B -> conversion 1/2, null 1/2.
    # P(conversion) = 2/3 (1/2 + 1/4) + 1/3 * 1/2 = 2/3. Without A: 1/6, effect 3/4;
    # without B: 1/3, effect 1/2. Normalised: 3/5 and 2/5.
    paths = [Path(["A"], conversions=1), Path(["B"], conversions=1), Path(["A", "B"], nulls=1)]
    shares = removal_effect_shares(paths)
    assert shares == pytest.approx({"A": 0.6, "B": 0.4})


def test_removal_effects_are_empty_when_nothing_converted():
    assert removal_effect_shares([Path(["A"], nulls=3)]) == {}
    assert removal_effect_shares([]) == {}


# -- every model side by side, in money --------------------------------------------------


def sale(net: str, path: list[Touch], payment_id: str) -> Conversion:
    last = path[-1]
    return Conversion(
        payment_id=payment_id,
        customer_id="customer_1",
        campaign_id="spring",
        processor="stripe",
        paid_at=PAID_AT,
        attribution=last.attribution,
        click_id=last.click_id,
        path=tuple(path),
        gross=Money.of(net, "USD"),
        fee=Money.zero("USD"),
        net=Money.of(net, "USD"),
    )


def test_models_side_by_side_each_credit_exactly_the_attributed_net_revenue():
    sales = [sale("100.00", THREE, "pay_1"), sale("50.00", [ad_click(0, key="solo")], "pay_2")]
    organic = sale("20.00", [sent(0)], "pay_3")
    organic = Conversion(**(vars(organic) | {"attribution": Attribution(), "path": ()}))
    idle = [[sent(1, customer_id="customer_2", key="idle")]]

    comparison = compare_models([*sales, organic], idle, "USD", half_life=DAY)

    assert comparison.attributed_net == Money.of("150.00", "USD")  # organic takes no part
    [email, social] = comparison.rows[Dimension.CHANNEL]
    usd = {model: (email.credit[model], social.credit[model]) for model in Model}
    assert usd == {
        Model.LAST_TOUCH: (Money.of("0.00", "USD"), Money.of("150.00", "USD")),
        Model.FIRST_TOUCH: (Money.of("100.00", "USD"), Money.of("50.00", "USD")),
        # 66.666.. and 83.333..: the spare cent to the larger remainder, email's.
        Model.LINEAR: (Money.of("66.67", "USD"), Money.of("83.33", "USD")),
        Model.POSITION_BASED: (Money.of("60.00", "USD"), Money.of("90.00", "USD")),
        # 3/7 of 100 = 42.857..; 4/7 of 100 + 50 = 107.142..
        Model.TIME_DECAY: (Money.of("42.86", "USD"), Money.of("107.14", "USD")),
        # start -> email 2/3, social 1/3; email -> email, social, null 1/3 each; social ->
        # conversion. P = 2/3: without email 1/3 (effect 1/2), without social 0 (effect 1).
        Model.MARKOV: (Money.of("50.00", "USD"), Money.of("100.00", "USD")),
    }
    for dimension in Dimension:
        for model in Model:
            column = [row.credit[model].amount for row in comparison.rows[dimension]]
            assert sum(column) == Decimal("150.00"), (dimension, model)


def test_models_over_no_attributed_sale_credit_nothing():
    comparison = compare_models([], [[sent(1)]], "USD", half_life=DAY)
    assert comparison.attributed_net == Money.zero("USD")
    assert comparison.rows[Dimension.CHANNEL] == []


# -- money split to the cent -------------------------------------------------------------


def test_a_split_gives_the_spare_units_to_the_largest_remainders_then_the_first_key():
    thirds = split_by_shares(Money.of("100.00", "USD"), {"b": 1, "a": 1, "c": 1})
    assert thirds == {
        "a": Money.of("33.34", "USD"),
        "b": Money.of("33.33", "USD"),
        "c": Money.of("33.33", "USD"),
    }
    yen = split_by_shares(Money.of("100", "JPY"), {"a": 1, "b": 2})
    assert yen == {"a": Money.of("33", "JPY"), "b": Money.of("67", "JPY")}
    refund = split_by_shares(Money.of("-0.05", "USD"), {"a": 0.5, "b": 0.5})
    assert refund == {"a": Money.of("-0.03", "USD"), "b": Money.of("-0.02", "USD")}


def test_a_split_with_nothing_to_share_by_gives_zero_and_negative_shares_are_refused():
    assert split_by_shares(Money.of("10.00", "USD"), {"a": 0}) == {"a": Money.zero("USD")}
    with pytest.raises(ValueError, match="negative"):
        split_by_shares(Money.of("10.00", "USD"), {"a": -1, "b": 2})


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=8),
)
def test_a_split_always_sums_exactly_to_the_total(cents: int, weights: list[float]) -> None:
    total = Money.of(Decimal(cents).scaleb(-2), "USD")
    shares = {f"k{i}": weight for i, weight in enumerate(weights)}

    parts = split_by_shares(total, shares)

    if any(weights):
        assert sum(part.amount for part in parts.values()) == total.amount
    assert all(parts[k] == Money.zero("USD") for k, w in shares.items() if w == 0 and any(weights))
