"""Generated customer bases with planted groups, for the segmenter's tests and benchmark.

Three groups a marketer would recognise, each with its own true conversion rate:
loyal recent buyers, lapsed buyers and cold prospects. Columns are drawn with numpy,
so a million customers take a second or two and no database; ``planted_chunks`` gives
ten million a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.segmenter.features import CustomerColumns


@dataclass(frozen=True)
class PlantedGroup:
    name: str
    share: float
    conversion_rate: float
    days_since_purchase: float | None  # median; None = never bought
    orders: float
    spend: float
    days_since_engaged: float | None
    tenure_days: float
    opt_in: float


PLANTED_GROUPS = (
    PlantedGroup("loyal", 0.25, 0.12, 12, 8, 800, 3, 900, 0.9),
    PlantedGroup("lapsed", 0.35, 0.04, 240, 3, 250, 120, 700, 0.6),
    PlantedGroup("cold", 0.40, 0.01, None, 0, 0, None, 60, 0.5),
)


@dataclass(frozen=True)
class PlantedBase:
    columns: CustomerColumns
    groups: npt.NDArray[np.int32]  # index into PLANTED_GROUPS, per customer

    def conversions(self, rows: npt.NDArray[np.bool_], rng: np.random.Generator) -> int:
        """How many of ``rows`` buy when reached, each at their group's true rate."""
        rates = np.array([g.conversion_rate for g in PLANTED_GROUPS])[self.groups[rows]]
        return int((rng.random(len(rates)) < rates).sum())


def spread(rng: np.random.Generator, count: int, median: float) -> npt.NDArray[np.float64]:
    """Log-normal around ``median``: days, counts and money are all right-skewed."""
    return median * rng.lognormal(0.0, 0.35, count)


def planted_base(size: int, seed: int | list[int] = 1, first_id: int = 0) -> PlantedBase:
    rng = np.random.default_rng(seed)
    shares = np.array([g.share for g in PLANTED_GROUPS])
    groups = rng.choice(len(PLANTED_GROUPS), size=size, p=shares / shares.sum()).astype(np.int32)
    purchase = np.full(size, np.nan)
    engaged = np.full(size, np.nan)
    orders = np.zeros(size, dtype=np.int64)
    spent = np.zeros(size, dtype=np.int64)
    tenure = np.zeros(size)
    opt_in = np.zeros(size, dtype=np.bool_)
    for index, group in enumerate(PLANTED_GROUPS):
        rows = groups == index
        count = int(rows.sum())

        if group.days_since_purchase is not None:
            purchase[rows] = spread(rng, count, group.days_since_purchase)
            orders[rows] = 1 + rng.poisson(group.orders - 1, count)
            spent[rows] = np.round(spread(rng, count, group.spend) * 100).astype(np.int64)
        if group.days_since_engaged is not None:
            engaged[rows] = spread(rng, count, group.days_since_engaged)
        tenure[rows] = spread(rng, count, group.tenure_days)
        opt_in[rows] = rng.random(count) < group.opt_in
    columns = CustomerColumns(
        customer_ids=np.array(
            [f"customer-{i:08d}" for i in range(first_id, first_id + size)], dtype=object
        ),
        currencies=np.full(size, "USD", dtype=object),
        email_opt_in=opt_in,
        orders_count=orders,
        spent_cents=spent,
        days_since_purchase=purchase,
        days_since_engaged=engaged,
        tenure_days=tenure,
        # Engaged customers last engaged at a random hour of the week; the rest never did.
        engaged_hour_of_week=np.where(np.isnan(engaged), -1, rng.integers(0, 168, size)).astype(
            np.int64
        ),
    )
    return PlantedBase(columns=columns, groups=groups)


def planted_chunks(size: int, chunk_size: int, seed: int = 1) -> Iterator[PlantedBase]:
    """A planted base of ``size`` customers generated ``chunk_size`` at a time, the same
    chunks on every call (each chunk seeded by its position), never whole in memory."""
    for first in range(0, size, chunk_size):
        yield planted_base(min(chunk_size, size - first), seed=[seed, first], first_id=first)
