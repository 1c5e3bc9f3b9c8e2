"""Which numbers a text quotes, and whether a decision holds each of them.

A number is quoted as an amount (``2,000``, ``2000.00``, ``$2,000.50``) or a percentage
(``20%``, ``12.5 %``). An amount is held when a known amount, rounded to the quoted
precision, equals it: ``2,000`` stands for 1999.87 as usual prose does, ``2.1`` for 2.10. A
percentage is held when a known share, in percent and rounded likewise, equals it. Numbers
written inside the decision's own texts (its reasons) are known too. Every number counts,
however small: a rationale has no reason to invent a count or a multiple.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Atomic, so "1.5x" reads as 1.5 and is checked, never as a bare 1 that happens to be known.
_NUMBER = re.compile(r"(?<![\w.])(?>(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?)(\s*%)?")


@dataclass(frozen=True)
class Quoted:
    value: Decimal
    percent: bool
    text: str

    @property
    def places(self) -> int:
        exponent = self.value.as_tuple().exponent
        return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass(frozen=True)
class KnownNumbers:
    amounts: frozenset[Decimal]
    shares: frozenset[Decimal]  # fractions: 0.2 is quoted as 20%

    @classmethod
    def of(
        cls, amounts: Iterable[Decimal], shares: Iterable[Decimal], texts: Iterable[str]
    ) -> KnownNumbers:
        quoted = [q for text in texts for q in quoted_numbers(text)]
        shares = [*shares, *(q.value / 100 for q in quoted if q.percent)]
        amounts = [*amounts, *shares, *(q.value for q in quoted if not q.percent)]
        return cls(frozenset(amounts), frozenset(shares))

    def hold(self, quoted: Quoted) -> bool:
        step = Decimal(1).scaleb(-quoted.places)
        if quoted.percent:
            candidates: Iterable[Decimal] = (share * 100 for share in self.shares)
        else:
            candidates = self.amounts
        return any(c.quantize(step, ROUND_HALF_UP) == quoted.value for c in candidates)


def quoted_numbers(text: str) -> list[Quoted]:
    return [
        Quoted(Decimal(whole.replace(",", "") + fraction), bool(percent), match.group(0).strip())
        for match in _NUMBER.finditer(text)
        for whole, fraction, percent in [match.groups(default="")]
    ]


def unsupported_numbers(text: str, known: KnownNumbers) -> list[str]:
    """The numbers ``text`` quotes that ``known`` does not hold, as written, in order."""
    return [q.text for q in quoted_numbers(text) if not known.hold(q)]
