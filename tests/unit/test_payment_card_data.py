"""Card data in a request body is found by path, never echoed, and ordinary values pass;
card numbers in headers, query strings and paths are found by where they are."""

from __future__ import annotations

import itertools
import json
import string
import uuid
from datetime import datetime
from decimal import Decimal
from itertools import accumulate
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from services.payment.api.card_data import (
    body_contains_card_data,
    find_card_data,
    request_parts_with_card_data,
)
from tests.support.factories import payment_request

TEST_PANS = {
    "visa": "4242424242424242",
    "mastercard": "5555555555554444",
    "amex-15": "378282246310005",
    "diners-14": "30569309025904",
    "unionpay-19": "6205500000000000004",
    "visa-13": "4222222222222",
}


@pytest.mark.parametrize("pan", TEST_PANS.values(), ids=TEST_PANS.keys())
def test_processor_test_card_numbers_pass_luhn_and_are_found(pan: str) -> None:
    assert luhn.is_valid(pan)
    assert find_card_data({"metadata": {"note": pan}}) == ["metadata.note"]


@pytest.mark.parametrize("digits", ["4242424242424241", "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", "4242424242424242" * 2])
def test_wrong_check_digits_non_ascii_digits_and_long_runs_are_not_card_numbers(
    digits: str,
) -> None:
    assert find_card_data({"n": digits}) == []


@pytest.mark.parametrize(
    "written",
    [
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "3782 822463 10005",
        "my card is 4242424242424242 thanks",
        "card: 5555-5555-5555-4444, exp 12/29",
        "4242 4242 4242 4242 12 29 123",
        "pan=4242424242424242&cvc=123",
        "4242424242424242.00",
        "(4242424242424242)",
        "4242.4242.4242.4242",
        "4242/4242/4242/4242",
        "4242_4242_4242_4242",
        "4242  4242  4242  4242",
        "4242\t4242\t4242\t4242",
        "4242\u00a04242\u00a04242\u00a04242",  # non-breaking spaces
        "4242\u20094242\u30004242\u202f4242",  # thin, ideographic, narrow no-break
        "4242 - 4242 / 4242 ._ 4242",
        "3782.822463.10005",
        "3056/930902/5904",
        "VISA4242 4242 4242 4242",
        "pan4242424242424242",
        "4242424242424242abc",
        "ref4242424242424242",
        "card:4242.4242.4242.4242EXP",
    ],
)
def test_card_numbers_are_found_however_they_are_written(written: str) -> None:
    assert find_card_data({"items": ["ok", 7, written]}) == ["items[2]"]


def test_a_card_number_sent_as_a_json_number_is_found() -> None:
    body = {"amount": 4242424242424242, "fee": 4242424242424242.0, "ok": 1234}

    assert find_card_data(body) == ["amount", "fee"]


def test_a_card_number_as_the_whole_body_is_reported_as_body() -> None:
    assert find_card_data("4242 4242 4242 4242") == ["body"]
    assert find_card_data([[], ["4242424242424242"]]) == ["[1][0]"]


@pytest.mark.parametrize(
    "key", ["cvv", "CVC", "cvv2", "Cvc2", "csc", "security_code", "securityCode",
            "card-security-code", "card_verification_value", "cardCvc", "card_number",
            "cardNumber", "credit-card-number", "PAN"],
)  # fmt: skip
def test_keys_naming_card_secrets_are_refused_whatever_their_value(key: str) -> None:
    assert find_card_data({"payment": {key: None}}) == [f"payment.{key}"]


def test_number_is_refused_inside_a_card_object_only() -> None:
    body = {
        "card": {"number": "x"},
        "cards": [{"number": 1}],
        "credit_card": {"number": 2},
        "invoice": {"number": "INV-7"},
    }

    assert find_card_data(body) == ["card.number", "cards[0].number", "credit_card.number"]


def test_a_key_that_is_a_card_number_is_reported_without_its_digits() -> None:
    body = {"notes": {"4242424242424242": "x", "ok": {"5555 5555 5555 4444": 1}}}

    assert find_card_data(body) == ["notes.<key>", "notes.ok.<key>"]


def test_every_finding_is_reported_once_in_document_order() -> None:
    body = {"a": "4242424242424242 and 5555555555554444", "cvv": "123", "b": [4242424242424242]}

    assert find_card_data(body) == ["a", "cvv", "b[0]"]


@pytest.mark.parametrize(
    "value",
    [
        "pay_15eac602-c380-4bce-ad05-12ac162a06b4",
        "68387380-6956-0423-0411-442694208093",  # all decimal, and a Luhn-valid 8-4-4 run
        "2026-03-01T12:00:00.123456+00:00",
        "2026.03.01 12:00:00",
        "01/03/2026 12:00",
        "2026/03/01_12-00-00.123456",
        "192.168.100.200",
        "10.0.0.1:8080, 203.0.113.7",
        "1_000_000.00",
        "1.000.000,00",
        "INV/2026/000123/0042",
        "order_20261126_021622",
        "14242424242424242",  # a card number inside a longer digit run is not one
        "4242424242424242" + "0000",
        "2026-03-01 12:00:00",
        "149.99",
        "+49 1512 3456780",
        "+1 (555) 010-4242",
        "4242424242424241",
        "42424242424242424242",
        "4242 4242 4242",
        1234567890123,
        True,
        None,
    ],
)
def test_ids_timestamps_amounts_and_phone_numbers_are_not_card_numbers(value: object) -> None:
    assert find_card_data({"note": value}) == []


def test_a_valid_payment_request_has_no_card_data() -> None:
    assert find_card_data(payment_request("spring-sale")) == []


def test_raw_json_body_is_searched_after_parsing() -> None:
    raw = b'{"metadata": {"note": "\\u0034242424242424242"}, "amount": "149.99"}'

    assert body_contains_card_data(raw) == ["metadata.note"]


def test_a_duplicated_json_key_cannot_hide_a_card_number() -> None:
    assert body_contains_card_data(b'{"note": "4242424242424242", "note": "fine"}') == ["note"]


def test_a_fractional_json_number_keeps_its_exact_digits() -> None:
    assert body_contains_card_data(b'{"a": 4242424242424242.000, "b": 149.99}') == ["a"]


@pytest.mark.parametrize(
    "raw",
    [
        b"card=4242+4242+4242+4242&cvc=123",
        b"card=4242%204242%204242%204242",
        b"{not json: 4242-4242-4242-4242",
        b"\xff\xfe 4242424242424242",
    ],
)
def test_a_body_that_is_not_json_is_refused_whole(raw: bytes) -> None:
    assert body_contains_card_data(raw) == ["body"]


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b'{"amount": 1e999999999}', b"[" * 100_000 + b"]" * 100_000],
)
def test_odd_bodies_without_card_numbers_pass(raw: bytes) -> None:
    assert body_contains_card_data(raw) == []


def test_a_deeply_nested_card_number_is_found() -> None:
    body: Any = "4242424242424242"
    for _ in range(2_000):
        body = [body]

    assert find_card_data(body) == ["[0]" * 2_000]


@st.composite
def luhn_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    payload = draw(st.text(string.digits, min_size=length - 1, max_size=length - 1))
    return payload + luhn.calc_check_digit(payload)


@st.composite
def written_with_separators(draw: st.DrawFn, digits: str) -> str:
    """Unbroken, or in groups as cards are printed: fours, or 4-6-5 and 4-6-4."""
    separator = draw(st.sampled_from(["", " ", "-"]))
    layouts = {15: (4, 6, 5), 14: (4, 6, 4)}
    if len(digits) in layouts and draw(st.booleans()):
        cuts = list(accumulate(layouts[len(digits)], initial=0))
        return separator.join(digits[a:b] for a, b in itertools.pairwise(cuts))
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


keys = st.text(string.ascii_letters + "_", min_size=1, max_size=8)
filler = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
steps = st.lists(st.tuples(st.booleans(), keys, st.integers(0, 3)), max_size=5)


def _nest(
    value: object, steps: list[tuple[bool, str, int]], data: st.DataObject
) -> tuple[Any, str]:
    """Wraps ``value`` in dicts and lists of filler; returns the tree and the value's path."""
    path = ""
    for in_list, key, index in reversed(steps):
        if in_list:
            items = data.draw(st.lists(filler, min_size=index, max_size=index))
            value = [*items, value]
            path = f"[{index}]{path}"
        else:
            siblings: dict[str, Any] = data.draw(st.dictionaries(keys, filler, max_size=3))
            value = {**siblings, key: value}
            path = f".{key}{path}"
    return value, path.removeprefix(".") or "body"


# Whitespace (``str.isspace``, which covers every Zs space) and the common separators.
SEPARATORS = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2009", "\u3000", "-", ".", "/", "_"])
SEPARATOR_RUNS = st.lists(SEPARATORS, min_size=1, max_size=3).map("".join)
NOT_DIGITS = st.text(st.characters(exclude_categories=["Nd"]), max_size=12)


@st.composite
def printed(draw: st.DrawFn, digits: str) -> str:
    """Grouped as cards are printed, each gap a run of one to three separators."""
    layouts = {15: (4, 6, 5), 14: (4, 6, 4)}
    if len(digits) in layouts and draw(st.booleans()):
        cuts = list(accumulate(layouts[len(digits)], initial=0))
        groups = [digits[a:b] for a, b in itertools.pairwise(cuts)]
    else:
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    written = groups[0]
    for group in groups[1:]:
        written += draw(SEPARATOR_RUNS) + group
    return written


@given(pan=luhn_numbers(), data=st.data(), before=NOT_DIGITS, after=NOT_DIGITS)
def test_a_card_number_with_any_separators_touching_any_text_is_found(
    pan: str, data: st.DataObject, before: str, after: str
) -> None:
    written = data.draw(printed(pan))

    assert find_card_data({"note": before + written + after}) == ["note"]


@given(pan=luhn_numbers(), data=st.data(), steps=steps)
def test_any_card_number_anywhere_in_any_json_is_found_and_never_echoed(
    pan: str, data: st.DataObject, steps: list[tuple[bool, str, int]]
) -> None:
    written = data.draw(written_with_separators(pan))
    before, after = data.draw(st.text(max_size=12)), data.draw(st.text(max_size=12))
    body, path = _nest(f"{before} {written} {after}", steps, data)

    found = find_card_data(json.loads(json.dumps(body)))

    assert path in found
    assert not any(pan in p or written in p for p in found)


@given(pan=luhn_numbers().filter(lambda pan: pan[0] != "0"), data=st.data(), steps=steps)
def test_any_card_number_sent_as_a_json_integer_is_found(
    pan: str, data: st.DataObject, steps: list[tuple[bool, str, int]]
) -> None:
    body, path = _nest(int(pan), steps, data)

    assert path in body_contains_card_data(json.dumps(body).encode())


@given(digits=st.text(string.digits, min_size=13, max_size=19))
def test_a_bare_digit_run_is_a_card_number_exactly_when_luhn_says_so(digits: str) -> None:
    assert (find_card_data({"n": digits}) == ["n"]) == luhn.is_valid(digits)


@given(
    value=st.uuids().map(lambda u: f"pay_{u}")
    | st.uuids().map(str)
    | st.uuids().map(lambda u: u.hex)
    | st.datetimes().map(datetime.isoformat)
    | st.datetimes().map(lambda d: d.isoformat(sep=" "))
    | st.decimals(min_value=0, max_value=10**11, places=2).map(str)
)
def test_ids_timestamps_and_amounts_are_never_card_numbers(value: str) -> None:
    assert find_card_data({"value": value}) == []


@given(moment=st.datetimes(), suffix=st.text(string.ascii_lowercase + string.digits, max_size=6))
def test_ids_built_from_dates_and_times_are_never_card_numbers(
    moment: datetime, suffix: str
) -> None:
    ids = [
        f"demo-{moment:%Y%m%d-%H%M%S}-{suffix}",
        f"order-{moment:%Y-%m-%d-%H%M%S}",
        f"{moment:%Y%m%d %H%M%S%f}",
    ]
    assert find_card_data({"campaign_id": ids}) == []


def test_uuid_generated_ids_are_never_card_numbers() -> None:
    ids = [f"pay_{uuid.uuid4()}" for _ in range(2_000)]

    assert find_card_data(ids) == []


def test_amounts_as_decimals_are_not_card_numbers() -> None:
    assert find_card_data({"amount": Decimal("149.99"), "big": Decimal("4242424242424242.5")}) == []


def test_headers_query_and_path_are_named_by_where_the_number_was() -> None:
    found = request_parts_with_card_data(
        headers=[("Idempotency-Key", "key-4242.4242.4242.4242"), ("User-Agent", "curl/8.5.0")],
        query=[("customer_id", "c-1"), ("note", "pan 4242424242424242"), ("note", "again")],
        path={"payment_id": "VISA4242 4242 4242 4242"},
    )

    assert found == ["header:Idempotency-Key", "query:note", "path:payment_id"]


def test_a_query_parameter_named_by_a_card_number_is_shown_without_it() -> None:
    found = request_parts_with_card_data([], [("4242424242424242", "")], {})

    assert found == ["query:<key>"]


def test_ordinary_headers_queries_and_paths_pass() -> None:
    found = request_parts_with_card_data(
        headers=[("X-Forwarded-For", "198.51.100.9, 203.0.113.77"), ("User-Agent", "Mozilla/5.0")],
        query=[("campaign_id", "spring-sale-2026"), ("limit", "20"), ("status", "completed")],
        path={"payment_id": f"pay_{uuid.uuid4()}"},
    )

    assert found == []
