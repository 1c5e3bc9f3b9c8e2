"""Money as a value type: a Decimal amount in a currency, never a float.

Amounts are exact decimals quantised to the currency's minor unit (cents for USD, none
for JPY). Arithmetic that can produce sub-unit fractions (rates, splits) rounds half-up,
the rounding rule card networks and processors use for fees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

# ISO 4217 minor units for the currencies the product accepts.
MAX_DIGITS = 28  # the default decimal context's precision
MINOR_UNITS: Mapping[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "CHF": 2,
    "SEK": 2,
    "JPY": 0,
}


def decimal_from(value: Any) -> Any:
    """A decimal read from a message, a request or a document: never a float, since a
    float has already lost the exact amount by the time it arrives."""
    if isinstance(value, float):
        raise ValueError("must be a decimal string such as '149.99', not a float")
    try:
        parsed = Decimal(str(value)) if isinstance(value, int | str) else value
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal amount") from None
    if isinstance(parsed, Decimal) and not parsed.is_finite():
        raise ValueError("must be a finite number")
    return parsed


# Every decimal field of every contract: a string on the wire, refused as a float.
DecimalString = Annotated[
    Decimal,
    BeforeValidator(decimal_from),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]


class CurrencyMismatchError(ValueError):
    """Two amounts in different currencies were combined."""


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: Decimal('0.01') for USD, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def round_half_up(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


class Money(BaseModel):
    """An amount of money. In JSON: ``{"amount": "145.34", "currency": "USD"}``."""

    model_config = ConfigDict(frozen=True)

    amount: DecimalString = Field(
        description="Decimal string, never a float; at most the currency's minor unit.",
        examples=["149.99"],
    )
    currency: str = Field(description="ISO 4217 code.", examples=["USD"])

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in MINOR_UNITS:
            known = ", ".join(sorted(MINOR_UNITS))
            raise ValueError(f"unknown currency {value!r}; use one of {known}")
        return value

    def model_post_init(self, context: Any, /) -> None:
        places = MINOR_UNITS[self.currency]
        if self.amount.adjusted() >= MAX_DIGITS - places:
            # Decimal's 28-digit context cannot quantize it; no real amount comes near.
            raise ValueError(f"amount {self.amount:.3e} is too large")
        exponent = self.amount.as_tuple().exponent
        if (
            isinstance(exponent, int)
            and exponent < -places
            and self.amount != round_half_up(self.amount, self.currency)
        ):
            raise ValueError(
                f"amount {self.amount} has more than {places} decimal places for {self.currency}"
            )
        object.__setattr__(self, "amount", self.amount.quantize(minor_unit(self.currency)))

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Self:
        return cls(amount=Decimal(str(amount)), currency=currency)

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls.of(0, currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def times(self, rate: Decimal) -> Money:
        """This amount multiplied by ``rate``, rounded half-up to the minor unit."""
        return Money(
            amount=round_half_up(self.amount * rate, self.currency), currency=self.currency
        )

    def is_positive(self) -> bool:
        return self.amount > 0

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def sum_money(amounts: Sequence[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
