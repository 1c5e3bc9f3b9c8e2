"""What a campaign page shows, independent of HTML: sections of named figures (a number),
tables and charts. Every name becomes the element's ``data-figure``, so a test or a script
can find each one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.analytics.dashboard.charts import FigureJson

type Json = dict[str, Any]
NOTHING = "—"


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    text: str


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Chart:
    name: str
    figure: FigureJson


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def money_text(money: Json | None) -> str:
    """``{"amount": "50000.00", "currency": "USD"}`` -> ``50,000.00 USD``."""
    if money is None:
        return NOTHING
    return f"{Decimal(money['amount']):,} {money['currency']}"


def percent_text(rate: float | None) -> str:
    return NOTHING if rate is None else f"{rate:.1%}"


def count_text(count: int | None) -> str:
    return NOTHING if count is None else f"{count:,}"


def amount(money: Json) -> str:
    """The decimal string a chart plots."""
    return str(money["amount"])


def time_text(moment: str) -> str:
    """An ISO timestamp as the page shows it: to the second, in UTC."""
    return f"{datetime.fromisoformat(moment).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
