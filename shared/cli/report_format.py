"""How amounts, rates and counts read on screen; tolerant of missing or odd values."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

MISSING = "—"


def amount_text(amount: Any) -> str:
    """``"50000.00"`` -> ``"50,000.00"``; the decimal places are kept as given."""
    try:
        return format(Decimal(str(amount)), ",f")
    except (InvalidOperation, ValueError):
        return str(amount)


def money_text(value: Any, currency: str | None = None) -> str:
    """A Money object (``{"amount", "currency"}``) or a bare decimal string, for display."""
    if value is None:
        return MISSING
    if isinstance(value, dict):
        return money_text(value.get("amount"), value.get("currency") or currency)
    return f"{amount_text(value)} {currency}" if currency else amount_text(value)


def percent_text(rate: Any, places: int = 1) -> str:
    if rate is None:
        return MISSING
    try:
        return f"{float(rate) * 100:.{places}f}%"
    except (TypeError, ValueError):
        return str(rate)


def count_text(count: Any) -> str:
    return f"{count:,}" if isinstance(count, int) else MISSING if count is None else str(count)
