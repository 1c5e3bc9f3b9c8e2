"""The customer base as columns, and the standardised features clustering reads.

Columns are numpy arrays, one entry per customer, so a chunk of customers costs a few
arrays instead of thousands of objects; the base is read and segmented a chunk at a time.
Spend is kept in integer cents (exact); it becomes a float only inside the features, where
it is one coordinate among six.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from sklearn.preprocessing import StandardScaler

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Strings = npt.NDArray[np.object_]

# "Never" for purchase and engagement recency: ten years, well past any at-risk window.
NEVER_DAYS = 3650.0
# Consent is binary: at full weight it splits every behavioural group into opted-in and
# not, which is a question for the channel, not the segment. Half weight keeps it a trait.
CONSENT_WEIGHT = 0.5
FEATURES = ("recency", "frequency", "monetary", "engagement", "tenure", "consent")


@dataclass(frozen=True)
class CustomerColumns:
    """One row per customer; ``NaN`` days mean never (bought, engaged) or unknown (created)."""

    customer_ids: Strings
    currencies: Strings
    email_opt_in: Bools
    orders_count: Ints
    spent_cents: Ints
    days_since_purchase: Floats
    days_since_engaged: Floats
    tenure_days: Floats
    engaged_hour_of_week: Ints  # weekday * 24 + hour of the last engagement, UTC; -1 never

    def __len__(self) -> int:
        return len(self.customer_ids)

    def take(self, rows: npt.NDArray[np.intp] | Bools) -> CustomerColumns:
        return CustomerColumns(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @classmethod
    def joined(cls, parts: Sequence[CustomerColumns]) -> CustomerColumns:
        if not parts:
            return cls.empty()
        return CustomerColumns(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    @property
    def has_purchased(self) -> Bools:
        return (self.orders_count > 0) & ~np.isnan(self.days_since_purchase)

    @classmethod
    def empty(cls) -> CustomerColumns:
        return ColumnsBuilder(0, datetime.now().astimezone()).columns()


def _hour_of_week(moment: datetime | None) -> int:
    if moment is None:
        return -1
    utc = moment.astimezone(UTC)
    return utc.weekday() * 24 + utc.hour


def cents(amount: Decimal) -> int:
    """Exact for any amount with at most two decimals, which covers every minor unit used."""
    return int(amount.scaleb(2).to_integral_value())


class ColumnsBuilder:
    """Fills preallocated columns batch by batch; grows (doubling) if more rows arrive."""

    def __init__(self, capacity: int, now: datetime) -> None:
        self._now = now.timestamp()
        self._size = 0
        capacity = max(capacity, 1)
        self._arrays: dict[str, np.ndarray] = {
            "customer_ids": np.empty(capacity, dtype=object),
            "currencies": np.empty(capacity, dtype=object),
            "email_opt_in": np.zeros(capacity, dtype=np.bool_),
            "orders_count": np.zeros(capacity, dtype=np.int64),
            "spent_cents": np.zeros(capacity, dtype=np.int64),
            "days_since_purchase": np.full(capacity, np.nan),
            "days_since_engaged": np.full(capacity, np.nan),
            "tenure_days": np.full(capacity, np.nan),
            "engaged_hour_of_week": np.full(capacity, -1, dtype=np.int64),
        }

    def add(
        self,
        *,
        customer_ids: Sequence[str],
        currencies: Sequence[str],
        email_opt_in: Sequence[bool],
        orders_count: Sequence[int],
        spent_cents: Sequence[int],
        purchased_at: Sequence[datetime | None],
        engaged_at: Sequence[datetime | None],
        created_at: Sequence[datetime | None],
    ) -> None:
        count = len(customer_ids)
        self._reserve(self._size + count)
        batch = {
            "customer_ids": customer_ids,
            "currencies": currencies,
            "email_opt_in": email_opt_in,
            "orders_count": orders_count,
            "spent_cents": spent_cents,
            "days_since_purchase": self._days_since(purchased_at),
            "days_since_engaged": self._days_since(engaged_at),
            "tenure_days": self._days_since(created_at),
            "engaged_hour_of_week": [_hour_of_week(m) for m in engaged_at],
        }
        for name, values in batch.items():
            self._arrays[name][self._size : self._size + count] = values
        self._size += count

    def columns(self) -> CustomerColumns:
        return CustomerColumns(**{k: v[: self._size] for k, v in self._arrays.items()})

    def _days_since(self, moments: Sequence[datetime | None]) -> Floats:
        stamps = np.array([m.timestamp() if m else np.nan for m in moments], dtype=np.float64)
        return np.maximum(self._now - stamps, 0.0) / 86_400

    def _reserve(self, needed: int) -> None:
        capacity = len(self._arrays["customer_ids"])
        if needed <= capacity:
            return
        grown = max(needed, capacity * 2)
        for name, array in self._arrays.items():
            fill = np.nan if array.dtype == np.float64 else 0
            extra = np.full(grown - capacity, fill, dtype=array.dtype)
            self._arrays[name] = np.concatenate([array, extra])


def raw_features(columns: CustomerColumns) -> Floats:
    """Rows x ``FEATURES`` before scaling: log1p where skewed (counts, money, days).

    Spend enters at face value whatever its currency: a base that mixes currencies should be
    converted to one before clustering (the rules for small bases compare per currency).
    """
    recency = np.log1p(np.nan_to_num(columns.days_since_purchase, nan=NEVER_DAYS))
    recency[~columns.has_purchased] = np.log1p(NEVER_DAYS)
    return np.column_stack(
        [
            recency,
            np.log1p(columns.orders_count.astype(np.float64)),
            np.log1p(columns.spent_cents / 100.0),
            np.log1p(np.nan_to_num(columns.days_since_engaged, nan=NEVER_DAYS)),
            np.log1p(np.nan_to_num(columns.tenure_days, nan=0.0)),
            columns.email_opt_in.astype(np.float64),
        ]
    )


class FeatureScaling:
    """Standardisation learnt a chunk at a time (``StandardScaler.partial_fit``), so the
    base's means and variances never need the base in memory."""

    def __init__(self) -> None:
        self._scaler = StandardScaler()
        self.rows = 0

    def learn(self, raw: Floats) -> None:
        if len(raw):
            self._scaler.partial_fit(raw)
            self.rows += len(raw)

    def scaled(self, raw: Floats) -> Floats:
        scaled: Floats = self._scaler.transform(raw)
        scaled[:, FEATURES.index("consent")] *= CONSENT_WEIGHT
        return scaled
