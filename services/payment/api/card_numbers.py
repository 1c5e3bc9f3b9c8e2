"""Whether a text holds a card number (PAN), however it is written.

What counts:

- 13 to 19 ASCII digits passing the Luhn check (python-stdnum's ``luhn``), written unbroken
  ("4242424242424242") or grouped as cards are printed: fours with a shorter last group
  ("4242 4242 4242 4242", "6205 5000 0000 0000 004"), or American Express's and Diners
  Club's 4-6-5 and 4-6-4. Other groupings are dates, times, amounts, IP addresses and
  references, not cards: "order-20261126-021622" (8 and 6 digits) passes the Luhn check
  one time in ten, and "192.168.100.200" is no card however its digits add up.
- Between groups, any run of separators: Unicode whitespace (``str.isspace``, so tabs,
  non-breaking and every other Zs space), zero-width spaces and joiners, and ``-``, ``.``,
  ``/``, ``_``, repeated or mixed ("4242 - 4242__4242.4242"). Any run of consecutive groups
  in a card layout is a candidate, so a number followed by more digits
  ("4242 4242 4242 4242 12 26") is still found.
- Letters around the digits do not hide them: "VISA4242 4242 4242 4242", "pan4242424242424242"
  and "4242424242424242abc" are found. Digits around them do: a digit run longer than 19
  digits is one long number, not a card.
- Text shaped like a UUID (8-4-4-4-12 hex digits, or 32 unbroken) is never a card number,
  even when all its hex digits happen to be decimal ones: ids such as
  ``pay_15eac602-c380-4bce-ad05-12ac162a06b4`` would otherwise be refused now and then.

Why a hostile text stays linear: digit groups and separators are disjoint character
classes, so the group pattern never backtracks more than one run; a candidate never holds
more than 19 digits and every group holds at least one, so from each group at most 19
windows are tried, each checked in at most 19 steps. The work is a constant per group.
"""

from __future__ import annotations

import re
from itertools import accumulate

from stdnum import luhn

MIN_PAN_DIGITS = 13
MAX_PAN_DIGITS = 19

_SEPARATORS = r"\s\u200b\u200c\u200d\u2060\ufeff\-./_"
_DIGIT_GROUPS = re.compile(rf"[0-9]+(?:[{_SEPARATORS}]+[0-9]+)*")
_SEPARATOR_RUN = re.compile(rf"[{_SEPARATORS}]+")
_HEX = "[0-9a-fA-F]"
_UUID = re.compile(
    rf"(?<![A-Za-z0-9])(?:{_HEX}{{8}}(?:-{_HEX}{{4}}){{3}}-{_HEX}{{12}}|{_HEX}{{32}})(?![A-Za-z0-9])"
)


def text_has_card_number(text: str) -> bool:
    """Whether ``text`` holds a card number anywhere, written any way described above."""
    text = _UUID.sub("#", text)
    return any(
        _groups_hold_card_number(_SEPARATOR_RUN.split(run.group()))
        for run in _DIGIT_GROUPS.finditer(text)
    )


def digits_are_card_number(digits: str) -> bool:
    """Whether a bare digit string (a JSON number's, say) is a card number."""
    return MIN_PAN_DIGITS <= len(digits) <= MAX_PAN_DIGITS and luhn.is_valid(digits)


def _groups_hold_card_number(groups: list[str]) -> bool:
    """Whether consecutive groups, laid out as a card is printed, join into a card number."""
    lengths = [len(group) for group in groups]
    bounds = list(accumulate(lengths, initial=0))
    for first, start in enumerate(bounds[:-1]):
        for last in range(first + 1, min(len(groups), first + MAX_PAN_DIGITS) + 1):
            if bounds[last] - start > MAX_PAN_DIGITS:
                break
            if _card_layout(lengths[first:last]) and digits_are_card_number(
                "".join(groups[first:last])
            ):
                return True
    return False


def _card_layout(lengths: list[int]) -> bool:
    """Whether digit groups of these lengths are laid out as a card number is printed."""
    if len(lengths) == 1 or lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    *fours, last = lengths
    return all(length == 4 for length in fours) and 1 <= last <= 4
