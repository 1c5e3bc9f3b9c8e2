"""Card numbers enter the payment API through no door: not the body, not a header it stores
or echoes, not the query string, not the path. A refusal names where the number was and
never repeats it; neither do answers about unknown ids, reused keys or invalid fields.

Bodies come from the factories and values are planted by walking their JSON, so the tests
hold whatever shape the payment request takes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from stdnum import luhn

from services.payment.settings import PaymentSettings
from shared.events.topics import PAYMENT_COMPLETED
from tests.support.factories import campaign_id, payment_request, usd
from tests.support.kafka import EventLog, for_campaign
from tests.support.payment_service import (
    AUTH,
    WITHOUT_RISK_HOLDS,
    containing,
    digits_pattern,
    idempotency_key,
    logged_text,
    payment_api,
    payment_settings,
    published_records,
    stored_documents,
)

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

COUNTRY_HEADER = "CF-IPCountry"
CHECKED_HEADERS = ("Idempotency-Key", "User-Agent", "X-Forwarded-For", COUNTRY_HEADER)
PAN = "4000056655665556"  # Stripe's test Visa debit
WRITTEN = "VISA4000 0566 5566 5556"
PAYMENT_ROUTES = ("", "/{payment_id}", "/{payment_id}/review", "/{payment_id}/refunds")
EXAMPLES = 25  # each one is ~50 requests

type Path = tuple[str | int, ...]


@pytest.fixture(scope="module")
def settings(infra: TestInfrastructure) -> PaymentSettings:
    """The test client is the trusted proxy, so the country header is read."""
    return payment_settings(
        infra,
        "card_numbers",
        payment_trusted_proxies="127.0.0.1",
        payment_ip_country_header=COUNTRY_HEADER,
        **WITHOUT_RISK_HOLDS,
    )


@pytest.fixture(scope="module")
async def api(settings: PaymentSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with payment_api(settings) as client:
        yield client


def leaves(value: Any, path: Path = ()) -> Iterator[Path]:
    """The path of every scalar in a JSON value, in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def planted(value: Any, path: Path, text: str) -> Any:
    """A copy of ``value`` with ``text`` at ``path``."""
    if not path:
        return text
    head, *rest = path
    if isinstance(value, dict):
        return value | {head: planted(value[head], tuple(rest), text)}
    copy = list(value)
    copy[int(head)] = planted(copy[int(head)], tuple(rest), text)
    return copy


def field_name(path: Path) -> str:
    """The path as the API names it: ``attribution.variant_id``, ``items[2]``."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name.removeprefix(".")


def with_leaf(body: dict[str, Any], name: str, text: str) -> dict[str, Any]:
    """``body`` with every string leaf called ``name`` (at any depth) set to ``text``."""
    for path in leaves(body):
        if path and path[-1] == name and isinstance(_at(body, path), str):
            body = planted(body, path, text)
    return body


def _at(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value


def review_body() -> dict[str, Any]:
    return {"decision": "approve", "reviewer": "risk@shop.example", "reason": "known shopper"}


def refund_body() -> dict[str, Any]:
    return {"amount": usd("1.00"), "reason": "requested_by_customer"}


def unknown_payment_id() -> str:
    return f"pay_{uuid.uuid4()}"


def refusal_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "card_data_refused", error
    return [e["field"] for e in error["errors"]]


async def assert_kept_nowhere(
    api: httpx.AsyncClient,
    settings: PaymentSettings,
    infra: TestInfrastructure,
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
    numbers: list[str],
) -> None:
    """No document of the payment database, no ``payment.*`` record and no log line holds
    any of ``numbers``; a payment taken afterwards shows that each reader sees."""
    cid = campaign_id()
    sentinel = await api.post("/v1/payments", json=payment_request(cid), headers=idempotency_key())
    assert sentinel.status_code == 201, sentinel.text
    await events.wait_for(PAYMENT_COMPLETED, for_campaign(cid))
    stored = [d for documents in (await stored_documents(settings)).values() for d in documents]
    published = await published_records(infra.kafka)
    logged = logged_text(caplog)

    sentinel_id = re.compile(re.escape(sentinel.json()["id"]))
    assert containing(stored, sentinel_id), "the database reader sees this test's payment"
    assert containing(published, sentinel_id), "the broker reader sees this test's events"
    assert sentinel_id.search(logged), "the logs of the service are captured"
    for number in numbers:
        anywhere = digits_pattern(number)
        for kept_in, texts in (("database", stored), ("broker", published), ("logs", [logged])):
            assert containing(texts, anywhere) == [], f"{number} in the {kept_in}"


@pytest.mark.parametrize("header", CHECKED_HEADERS)
async def test_card_number_in_a_header_we_store_or_echo_is_refused_naming_the_header(
    api: httpx.AsyncClient,
    settings: PaymentSettings,
    infra: TestInfrastructure,
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
    header: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = idempotency_key() | {header: WRITTEN}

    refused = await api.post("/v1/payments", json=payment_request(), headers=headers)

    assert f"header:{header}" in refusal_fields(refused)
    assert not digits_pattern(PAN).search(refused.text)
    await assert_kept_nowhere(api, settings, infra, events, caplog, [PAN])


async def test_card_number_in_a_repeated_header_line_is_refused(api: httpx.AsyncClient) -> None:
    headers = [*idempotency_key().items(), ("User-Agent", "Shop/1.0"), ("User-Agent", WRITTEN)]

    refused = await api.post("/v1/payments", json=payment_request(), headers=headers)

    assert refusal_fields(refused) == ["header:User-Agent"]


@pytest.mark.parametrize("parameter", ["campaign_id", "customer_id", "cursor", "status", "note"])
async def test_card_number_in_the_query_string_is_refused_naming_the_parameter(
    api: httpx.AsyncClient, parameter: str
) -> None:
    refused = await api.get("/v1/payments", params={parameter: WRITTEN})

    assert refusal_fields(refused) == [f"query:{parameter}"]
    assert not digits_pattern(PAN).search(refused.text)


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("GET", "/{payment_id}", None),
        ("POST", "/{payment_id}/review", review_body()),
        ("POST", "/{payment_id}/refunds", refund_body()),
    ],
)
async def test_card_number_in_the_path_is_refused_naming_the_parameter(
    api: httpx.AsyncClient, method: str, route: str, body: dict[str, Any] | None
) -> None:
    url = "/v1/payments" + route.format(payment_id=quote(WRITTEN, safe=""))

    refused = await api.request(method, url, json=body, headers=idempotency_key())

    assert refusal_fields(refused) == ["path:payment_id"]
    assert not digits_pattern(PAN).search(refused.text)


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("GET", "/{payment_id}", None),
        ("POST", "/{payment_id}/review", review_body()),
        ("POST", "/{payment_id}/refunds", refund_body()),
    ],
)
async def test_an_unknown_payment_id_is_not_repeated_in_the_answer(
    api: httpx.AsyncClient, method: str, route: str, body: dict[str, Any] | None
) -> None:
    payment_id = unknown_payment_id()
    url = "/v1/payments" + route.format(payment_id=payment_id)

    missing = await api.request(method, url, json=body, headers=idempotency_key())

    assert missing.status_code == 404, missing.text
    assert missing.json()["error"]["message"] == "no payment with this id"
    assert payment_id not in missing.text


async def test_a_reused_idempotency_key_is_not_repeated_in_the_conflict(
    api: httpx.AsyncClient,
) -> None:
    key = idempotency_key()
    first = await api.post("/v1/payments", json=payment_request(), headers=key)

    reused = await api.post("/v1/payments", json=payment_request(), headers=key)

    assert first.status_code == 201, first.text
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"]["type"] == "idempotency_key_reused"
    assert key["Idempotency-Key"] not in reused.text


@pytest.mark.parametrize(("leaf", "value"), [("currency", "QQZ"), ("amount", "twelve-ish")])
async def test_a_validation_error_names_the_field_without_repeating_the_input(
    api: httpx.AsyncClient, leaf: str, value: str
) -> None:
    body = with_leaf(payment_request(), leaf, value)

    invalid = await api.post("/v1/payments", json=body, headers=idempotency_key())

    assert invalid.status_code == 422, invalid.text
    assert any(e["field"].endswith(leaf) for e in invalid.json()["error"]["errors"])
    assert value not in invalid.text


# Issuer prefixes (IINs) and the lengths their cards come in.
ISSUERS = [
    ("4", (13, 16, 19)),  # Visa
    *((str(p), (16,)) for p in range(51, 56)),  # Mastercard
    ("2221", (16,)),
    ("2720", (16,)),
    ("34", (15,)),  # American Express
    ("37", (15,)),
    *((str(p), (14,)) for p in range(300, 306)),  # Diners Club
    ("36", (14,)),
    ("6011", (16, 19)),  # Discover
    ("65", (16, 19)),
    ("3528", (16, 19)),  # JCB
    ("3589", (16,)),
    ("62", (16, 17, 18, 19)),  # UnionPay
    ("6759", (13, 16, 19)),  # Maestro
]
WORDS = ["card", "PAN", "VISA", "Mastercard", "amex", "number", "exp", "n°", "thanks", "#"]
# Headers carry Latin-1 without control characters; JSON, queries and paths carry anything.
TEXT_SEPARATORS = [" ", "\t", "\n", "\u00a0", "\u2009", "\u3000", "\u202f", "-", ".", "/", "_"]
HEADER_SEPARATORS = [" ", "\t", "\u00a0", "-", ".", "/", "_"]


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix, lengths = draw(st.sampled_from(ISSUERS))
    length = draw(st.sampled_from(lengths))
    rest = draw(st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length))
    payload = (prefix + rest)[: length - 1]
    return payload + luhn.calc_check_digit(payload)


@st.composite
def written(draw: st.DrawFn, digits: str, separators: list[str]) -> str:
    """Unbroken, or grouped as printed (fours; 4-6-5 and 4-6-4), each gap a separator run."""
    layouts = {15: (4, 6, 5), 14: (4, 6, 4)}
    if draw(st.booleans()):
        return digits
    if len(digits) in layouts and draw(st.booleans()):
        cuts = list(accumulate(layouts[len(digits)], initial=0))
        groups = [digits[a:b] for a, b in pairwise(cuts)]
    else:
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    runs = st.lists(st.sampled_from(separators), min_size=1, max_size=3).map("".join)
    text = groups[0]
    for group in groups[1:]:
        text += draw(runs) + group
    return text


def surroundings(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Words, letters and punctuation, with no digit: one touching the card's digits
    would make them part of a longer number."""
    return st.lists(st.sampled_from(WORDS) | st.text(alphabet, max_size=4), max_size=3).map("".join)


TEXT_AROUND = surroundings(st.characters(exclude_categories=["Nd", "Cs"]))
HEADER_AROUND = surroundings(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: not c.isdigit())
)


@dataclass
class Planted:
    """One request carrying the card number somewhere, and the name it must be refused by."""

    method: str
    url: str
    where: str
    body: Any = None
    headers: dict[str, Any] = field(default_factory=idempotency_key)
    params: dict[str, str] = field(default_factory=dict)


def valid_body(route: str) -> dict[str, Any] | None:
    if route == "":
        return payment_request()
    if route.endswith("/review"):
        return review_body()
    return refund_body()


def every_door(text: str, header_text: bytes) -> Iterator[Planted]:
    """The number in every body field, checked header, query and path parameter of every
    route, one place per request; everything else as a request that would succeed."""
    for method, route, parameters in OPERATIONS:
        url = "/v1/payments" + route.format(payment_id=unknown_payment_id())
        body = valid_body(route) if method == "POST" else None
        for path in leaves(body) if body is not None else ():
            yield Planted(method, url, field_name(path), body=planted(body, path, text))
        for header in CHECKED_HEADERS:
            headers = idempotency_key() | {header: header_text}
            yield Planted(method, url, f"header:{header}", body, headers=headers)
        for parameter in [*parameters, "note"]:
            yield Planted(method, url, f"query:{parameter}", body, params={parameter: text})
        if "{payment_id}" in route:
            at = "/v1/payments" + route.format(payment_id=quote(text, safe=""))
            # A "/" in the id leaves no route to match: the path as a whole is refused.
            where = "path" if "/" in text else "path:payment_id"
            yield Planted(method, at, where, body)


OPERATIONS = [
    ("POST", "", []),
    ("GET", "", ["campaign_id", "customer_id", "status", "limit", "cursor"]),
    ("GET", "/{payment_id}", []),
    ("POST", "/{payment_id}/review", []),
    ("POST", "/{payment_id}/refunds", []),
]


# Hypothesis checks that drawing left the global ``random`` untouched; the service, running
# in the loop meanwhile, may use it (jitter), which is no fault of these strategies.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
async def test_generated_card_numbers_are_refused_at_every_door_and_kept_nowhere(
    api: httpx.AsyncClient,
    settings: PaymentSettings,
    infra: TestInfrastructure,
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    numbers: list[str] = []

    @given(data=st.data(), number=card_numbers())
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    def refused_everywhere(client: httpx.Client, data: st.DataObject, number: str) -> None:
        numbers.append(number)
        text = data.draw(TEXT_AROUND) + data.draw(written(number, TEXT_SEPARATORS))
        text += data.draw(TEXT_AROUND)
        header = data.draw(HEADER_AROUND) + data.draw(written(number, HEADER_SEPARATORS))
        header += data.draw(HEADER_AROUND)
        for door in every_door(text, header.encode("latin-1")):
            answer = client.request(
                door.method, door.url, json=door.body, headers=door.headers, params=door.params
            )
            assert door.where in refusal_fields(answer), (door.method, door.url, door.where)
            assert not digits_pattern(number).search(answer.text), door.where

    def run_examples() -> None:
        with httpx.Client(base_url=str(api.base_url), headers=AUTH, timeout=30) as client:
            refused_everywhere(client)

    # Hypothesis drives a blocking client in a thread; the service answers in this loop.
    await asyncio.to_thread(run_examples)

    assert len(numbers) >= EXAMPLES
    await assert_kept_nowhere(api, settings, infra, events, caplog, numbers)
