"""Refuse card data anywhere in a request body, before it can reach validation errors or logs.

Card numbers are tokenised by the processor's own client; the payment API never takes them,
so a body that carries one is refused whole and the finding names JSON paths, never values.

What counts as a card number (PAN):

- 13 to 19 ASCII digits passing the Luhn check, written unbroken ("4242424242424242") or
  grouped as cards are printed, with single spaces or dashes: fours with a shorter last group
  ("4242 4242 4242 4242", "4242-4242-4242-4", "6205 5000 0000 0000 004"), or American
  Express's and Diners Club's 4-6-5 and 4-6-4. Any run of consecutive groups in such a
  layout is a candidate, so a number followed by more digits ("4242 4242 4242 4242 12 26")
  is still found. Other groupings are dates, times and references, not cards: an id such as
  "order-20261126-021622" (8 and 6 digits) passes the Luhn check one time in ten.
- The digits must stand apart from letters and digits: a group touching an ASCII letter or
  digit belongs to another token. That keeps digit runs inside ids such as
  ``pay_15eac602-c380-4bce-ad05-12ac162a06b4`` out, while "card 4242424242424242 thanks",
  "pan=4242424242424242" and "4242424242424242.00" are found.
- Text shaped like a UUID (8-4-4-4-12 hex digits) is never a card number, even when all its
  hex digits happen to be decimal ones.
- A digit run longer than 19 digits with no separators is one long number, not a card.
- A JSON number counts when it is an integer (or an integral decimal) whose digits pass the
  same rule. Decimal points break a run, so amounts ("149.99") and ISO timestamps do not.

Keys count too: any key naming a card verification code (cvv, cvc, cvv2, cvc2, csc,
security_code, card_verification..., in any case and with ``-``/``_``/camelCase spelling),
any key naming a card number (card_number, pan, primary_account_number), ``number`` inside
a card object (``card.number``, ``cards[0].number``), and a key that is itself a card number,
which the path shows as ``<key>``.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from itertools import accumulate
from urllib.parse import unquote_plus

MIN_PAN_DIGITS = 13
MAX_PAN_DIGITS = 19
BODY = "body"
REDACTED_KEY = "<key>"
_TOO_LONG = 10**MAX_PAN_DIGITS

_DIGIT_GROUPS = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_SEPARATOR = re.compile(r"[ -]")
_UUID = re.compile(
    r"(?<![A-Za-z0-9])[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![A-Za-z0-9])"
)
_ALPHANUMERIC = frozenset(string.ascii_letters + string.digits)
_CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")
_WORD_BREAK = re.compile(r"[^a-z0-9]+")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # 2 x digit, digits summed: Luhn's doubling step
_CVV_WORDS = frozenset({"cvv", "cvc", "cvv2", "cvc2", "csc"})
_CARD_WORDS = frozenset({"card", "cards"})


class _Pairs(list[tuple[str, object]]):
    """A JSON object as its key/value pairs, so a duplicated key cannot hide a value."""


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (ASCII digits only, at least one) passes the Luhn mod-10 check."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    total = sum(
        _DOUBLED[int(char)] if position % 2 else int(char)
        for position, char in enumerate(reversed(digits))
    )
    return total % 10 == 0


def find_card_data(body: object) -> list[str]:
    """The JSON paths (``metadata.note``, ``items[2]``) of card data in a parsed JSON value.

    A card number at the top level is reported as ``body``. Paths never contain the values.
    """
    found: dict[str, None] = {}
    for path, value in _walk(body):
        if _looks_like_card_number(value):
            found[path or BODY] = None
    return list(found)


def body_contains_card_data(raw: bytes) -> list[str]:
    """``find_card_data`` for a raw request body; ``["body"]`` if a body that is not JSON
    holds a card number anywhere in its text (URL-encoded forms included)."""
    try:
        parsed = json.loads(raw, parse_float=Decimal, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        text = raw.decode("utf-8", errors="replace")
        return (
            [BODY]
            if _text_has_card_number(text) or _text_has_card_number(unquote_plus(text))
            else []
        )
    return find_card_data(parsed)


def _walk(root: object) -> Iterator[tuple[str, object]]:
    """Every value and every flagged key, with its path, in document order. A stack rather
    than recursion: a deeply nested body must not crash the check meant to protect it."""
    stack: list[tuple[str, str, object]] = [("", "", root)]
    while stack:
        path, owner, value = stack.pop()
        yield path, value
        if isinstance(value, Mapping | _Pairs):
            pairs = value.items() if isinstance(value, Mapping) else value
            children = list(_keyed_children(path, owner, pairs))
        elif isinstance(value, list | tuple):
            children = [(f"{path}[{index}]", owner, item) for index, item in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))


def _keyed_children(
    path: str, owner: str, pairs: Iterable[tuple[object, object]]
) -> Iterator[tuple[str, str, object]]:
    for key, item in pairs:
        name = str(key)
        key_is_card_number = _text_has_card_number(name)
        segment = REDACTED_KEY if key_is_card_number else name
        child = f"{path}.{segment}" if path else segment
        if key_is_card_number or _names_card_secret(name, owner):
            yield child, name, _FLAGGED
        yield child, name, item


class _Flagged:
    """Stands in for a value whose key alone is the finding, whatever the value holds."""


_FLAGGED = _Flagged()


def _names_card_secret(name: str, owner: str) -> bool:
    words = _words(name)
    joined = "".join(words)
    if _CVV_WORDS.intersection(words) or "securitycode" in joined or "cardverification" in joined:
        return True
    if joined in {"pan", "primaryaccountnumber"} or joined.endswith("cardnumber"):
        return True
    return joined == "number" and bool(_CARD_WORDS.intersection(_words(owner)))


def _words(name: str) -> list[str]:
    return [word for word in _WORD_BREAK.split(_CAMEL_HUMP.sub(r"\1_\2", name).lower()) if word]


def _looks_like_card_number(value: object) -> bool:
    if isinstance(value, _Flagged):
        return True
    if isinstance(value, str):
        return _text_has_card_number(value)
    digits = _integer_digits(value)
    return digits is not None and len(digits) >= MIN_PAN_DIGITS and luhn_valid(digits)


def _integer_digits(value: object) -> str | None:
    """The digits of an integral JSON number short enough to be a card number. The size
    check comes first: ``int()`` of a decimal like 1e999999999 would never finish."""
    if isinstance(value, Decimal):
        too_long = not value.is_finite() or value.adjusted() >= MAX_PAN_DIGITS
        if too_long or value != value.to_integral_value():
            return None
    elif isinstance(value, float):
        if not value.is_integer() or abs(value) >= _TOO_LONG:
            return None
    elif isinstance(value, bool) or not isinstance(value, int) or abs(value) >= _TOO_LONG:
        return None
    return str(abs(int(value)))


def _text_has_card_number(text: str) -> bool:
    text = _UUID.sub("/", text)
    for run in _DIGIT_GROUPS.finditer(text):
        groups = _SEPARATOR.split(run.group())
        if run.start() > 0 and text[run.start() - 1] in _ALPHANUMERIC:
            groups = groups[1:]
        if run.end() < len(text) and text[run.end()] in _ALPHANUMERIC:
            groups = groups[:-1]
        if _groups_hold_card_number(groups):
            return True
    return False


def _groups_hold_card_number(groups: list[str]) -> bool:
    """Whether consecutive groups join into a Luhn-valid 13-19 digit number.

    Prefix sums make each candidate O(1), so a hostile "1 2 3 4 ..." body stays linear.
    ``sums[p][k]`` adds digits before ``k``, doubling those whose index parity differs from
    ``p``; Luhn doubles every second digit counted from the candidate's last one.
    """
    digits = [int(char) for char in "".join(groups)]
    sums = [
        list(
            accumulate((_DOUBLED[d] if i % 2 != p else d for i, d in enumerate(digits)), initial=0)
        )
        for p in (0, 1)
    ]
    lengths = [len(group) for group in groups]
    bounds = list(accumulate(lengths, initial=0))
    for first, start in enumerate(bounds):
        # Every group holds a digit, so no candidate spans more than MAX_PAN_DIGITS groups.
        for last, end in enumerate(bounds[first + 1 : first + 1 + MAX_PAN_DIGITS], first + 1):
            if end - start > MAX_PAN_DIGITS:
                break
            parity = (end - 1) % 2
            if (
                end - start >= MIN_PAN_DIGITS
                and _card_layout(lengths[first:last])
                and (sums[parity][end] - sums[parity][start]) % 10 == 0
            ):
                return True
    return False


def _card_layout(lengths: list[int]) -> bool:
    """Whether digit groups of these lengths are laid out as a card number is printed."""
    if len(lengths) == 1 or lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    *fours, last = lengths
    return all(length == 4 for length in fours) and 1 <= last <= 4
