"""A channel's new allocation rescaled across its ad sets: in the launch's proportions,
adding up to the allocation, and never below what an ad set has spent."""

from __future__ import annotations

from fractions import Fraction

from services.launcher.ads.allocation import rescale
from shared.money import Money


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def test_the_allocation_is_shared_in_the_launch_proportions() -> None:
    parts = rescale(usd("900.00"), [Fraction(1), Fraction(2)], [usd("0"), usd("0")])
    assert parts == [usd("300.00"), usd("600.00")]


def test_no_ad_set_goes_below_its_spend_and_the_others_share_what_is_left() -> None:
    parts = rescale(
        usd("300.00"),
        [Fraction(1), Fraction(1), Fraction(2)],
        [usd("120.00"), usd("10.00"), usd("20.00")],
    )
    assert parts == [usd("120.00"), usd("60.00"), usd("120.00")]
    assert sum(p.amount for p in parts) == 300


def test_spends_beyond_the_allocation_keep_each_ad_set_at_its_spend() -> None:
    parts = rescale(usd("100.00"), [Fraction(1), Fraction(1)], [usd("70.00"), usd("60.00")])
    assert parts == [usd("70.00"), usd("60.00")]


def test_cents_left_over_go_by_largest_remainder_so_the_parts_add_up() -> None:
    parts = rescale(usd("100.00"), [Fraction(1)] * 3, [usd("0")] * 3)
    assert sum(p.amount for p in parts) == 100
    assert sorted(p.amount for p in parts) == [
        usd("33.33").amount,
        usd("33.33").amount,
        usd("33.34").amount,
    ]
