"""Refuse card data anywhere in a request, before it can reach validation errors or logs.

Card numbers are tokenised by the processor's own client; the payment API never takes them,
so a request that carries one is refused whole and the finding names where it was (a JSON
path, ``header:Idempotency-Key``, ``query:customer_id``, ``path:payment_id``), never the
value. What counts as a card number in text is in ``card_numbers``.

In a JSON body:

- A string counts when its text holds a card number.
- A JSON number counts when it is an integer (or an integral decimal) whose digits are a
  card number. Decimal points break a run, so amounts ("149.99") and ISO timestamps do not.
- Keys count too: any key naming a card verification code (cvv, cvc, cvv2, cvc2, csc,
  security_code, card_verification..., in any case and with ``-``/``_``/camelCase
  spelling), any key naming a card number (card_number, pan, primary_account_number),
  ``number`` inside a card object (``card.number``, ``cards[0].number``), and a key that
  is itself a card number, which the path shows as ``<key>``.
- A body that is not JSON is searched as text, URL-encoded forms included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from urllib.parse import unquote_plus

from services.payment.api.card_numbers import (
    MAX_PAN_DIGITS,
    digits_are_card_number,
    text_has_card_number,
)

BODY = "body"
REDACTED_KEY = "<key>"
_TOO_LONG = 10**MAX_PAN_DIGITS

_CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")
_WORD_BREAK = re.compile(r"[^a-z0-9]+")
_CVV_WORDS = frozenset({"cvv", "cvc", "cvv2", "cvc2", "csc"})
_CARD_WORDS = frozenset({"card", "cards"})


class _Pairs(list[tuple[str, object]]):
    """A JSON object as its key/value pairs, so a duplicated key cannot hide a value."""


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
            [BODY] if text_has_card_number(text) or text_has_card_number(unquote_plus(text)) else []
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
        key_is_card_number = text_has_card_number(name)
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
        return text_has_card_number(value)
    digits = _integer_digits(value)
    return digits is not None and digits_are_card_number(digits)


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


def request_parts_with_card_data(
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
    path: Mapping[str, object],
) -> list[str]:
    """Where headers, query parameters and path parameters hold a card number:
    ``header:<name>``, ``query:<name>``, ``path:<name>``; a query parameter whose name is
    itself a card number shows as ``query:<key>``."""
    found: dict[str, None] = {}
    for name, value in headers:
        if text_has_card_number(value):
            found[f"header:{name}"] = None
    for name, value in query:
        shown = REDACTED_KEY if text_has_card_number(name) else name
        if shown != name or text_has_card_number(value):
            found[f"query:{shown}"] = None
    for name, parameter in path.items():
        if text_has_card_number(str(parameter)):
            found[f"path:{name}"] = None
    return list(found)
