"""A synthetic customer base whose features form real groups, for the demo.

Four planted groups, each a coherent pattern of recency, frequency and spend, so that
segmentation has something true to find: high-value recent buyers, regular buyers,
lapsed past buyers and never-purchased prospects. A seeded RNG makes every run identical
except for dates, which are relative to ``now``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.events.customers import CustomerUpserted
from shared.money import Money, round_half_up

type DayRange = tuple[int, int]


@dataclass(frozen=True)
class Profile:
    """How one group's customers look; ranges are inclusive."""

    group: str
    share: Decimal
    orders: tuple[int, int]
    average_order: tuple[Decimal, Decimal]
    days_since_purchase: DayRange | None
    days_since_engaged: DayRange
    tenure_days: DayRange
    email_opt_in_rate: float


PROFILES = (
    Profile(
        group="high_value",
        share=Decimal("0.12"),
        orders=(6, 24),
        average_order=(Decimal(120), Decimal(260)),
        days_since_purchase=(0, 30),
        days_since_engaged=(0, 14),
        tenure_days=(365, 1800),
        email_opt_in_rate=0.9,
    ),
    Profile(
        group="regular",
        share=Decimal("0.28"),
        orders=(2, 5),
        average_order=(Decimal(40), Decimal(110)),
        days_since_purchase=(31, 150),
        days_since_engaged=(5, 60),
        tenure_days=(200, 1500),
        email_opt_in_rate=0.75,
    ),
    Profile(
        group="lapsed",
        share=Decimal("0.25"),
        orders=(1, 4),
        average_order=(Decimal(30), Decimal(90)),
        days_since_purchase=(240, 720),
        days_since_engaged=(200, 500),
        tenure_days=(400, 2000),
        email_opt_in_rate=0.6,
    ),
    Profile(
        group="prospect",
        share=Decimal("0.35"),
        orders=(0, 0),
        average_order=(Decimal(0), Decimal(0)),
        days_since_purchase=None,
        days_since_engaged=(0, 45),
        tenure_days=(1, 120),
        email_opt_in_rate=0.5,
    ),
)

FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade",
    "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara",
)  # fmt: skip
COUNTRIES = ("US", "US", "US", "US", "CA", "GB", "DE", "FR", "AU", "MX")


def group_sizes(count: int) -> dict[str, int]:
    """Each group's exact size: its share of ``count``, the rounding remainder to the last."""
    sizes = {p.group: int(p.share * count) for p in PROFILES}
    sizes[PROFILES[-1].group] += count - sum(sizes.values())
    return sizes


def generate_customer_base(
    count: int = 3000, *, seed: int = 2026, now: datetime | None = None
) -> list[CustomerUpserted]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible synthetic base, not a secret
    today = now or datetime.now(UTC)
    sizes = group_sizes(count)
    planted = [p for p in PROFILES for _ in range(sizes[p.group])]
    rng.shuffle(planted)
    return [customer(n, profile, rng, today) for n, profile in enumerate(planted, start=1)]


def customer(number: int, profile: Profile, rng: random.Random, now: datetime) -> CustomerUpserted:
    def days_ago(days: DayRange) -> datetime:
        return now - timedelta(days=rng.randint(*days), minutes=rng.randint(0, 1439))

    orders = rng.randint(*profile.orders)
    low, high = profile.average_order
    average = low + (high - low) * Decimal(rng.random())
    last_purchase = days_ago(profile.days_since_purchase) if profile.days_since_purchase else None
    created = days_ago(profile.tenure_days)
    if last_purchase is not None and created > last_purchase:
        created = last_purchase - timedelta(days=rng.randint(30, 365))
    first_name = rng.choice(FIRST_NAMES)
    return CustomerUpserted(
        customer_id=f"customer_{number:05d}",
        email=f"{first_name.lower()}.{number}@example.com",
        first_name=first_name,
        country=rng.choice(COUNTRIES),
        email_opt_in=rng.random() < profile.email_opt_in_rate,
        created_at=created,
        last_purchase_at=last_purchase,
        orders_count=orders,
        total_spent=Money.of(round_half_up(average * orders, "USD"), "USD"),
        last_engaged_at=days_ago(profile.days_since_engaged),
    )
