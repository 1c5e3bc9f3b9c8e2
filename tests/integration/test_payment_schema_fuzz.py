"""The payment API fuzzed from its own OpenAPI document: no generated request, fitting the
schema or not, makes the service answer with a server error.

Each operation gets its own Hypothesis run over ``operation.as_strategy()``: schemathesis's
lazy pytest loader (``schemathesis.pytest.from_fixture``) cannot run under the pytest in
use, and the schema can only be read once the service runs.

The schema is looser than the rules in two places: ``currency`` is any string, where the
service knows eight, and an amount's ``format: decimal`` means nothing to a generator. So
``decimal`` strings are taught to schemathesis, and bodies meant to fit the schema get a
known currency: without both, no generated payment would get past validation to the
processors. Unknown currencies still come from the negative mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.openapi import format as string_format
from schemathesis.openapi import from_url
from schemathesis.specs.openapi.formats import unregister_string_format

from shared.money import MINOR_UNITS
from tests.support import fake_crypto, fake_paypal
from tests.support.fake_stripe import FAKE_API_KEY, FAKE_WEBHOOK_SECRET, fake_stripe_server
from tests.support.payment_service import AUTH, payment_api_in_thread, payment_settings

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from schemathesis.schemas import APIOperation, BaseSchema

    from tests.support.infrastructure import TestInfrastructure

    type Operation = APIOperation[Any, Any, Any, Any]
    type GeneratedCase = Case[Any]

EXAMPLES_PER_OPERATION_AND_MODE = 30
DECIMAL_STRINGS = st.one_of(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000), places=2),
    st.decimals(allow_nan=False, allow_infinity=False),
).map(str)


@pytest.fixture(scope="module")
def payment_schema(infra: TestInfrastructure) -> Iterator[BaseSchema]:
    """The service with every processor's real adapter (on its fake) and every webhook
    secret set, so that no operation answers only that it is not configured."""
    with (
        fake_stripe_server() as stripe,
        fake_paypal.fake_paypal_server() as paypal,
        fake_crypto.fake_crypto_server() as crypto,
    ):
        settings = payment_settings(
            infra,
            "fuzz",
            stripe_api_key=FAKE_API_KEY,
            stripe_api_base_url=stripe.base_url,
            stripe_webhook_secret=FAKE_WEBHOOK_SECRET,
            paypal_client_id=fake_paypal.CLIENT_ID,
            paypal_client_secret=fake_paypal.CLIENT_SECRET,
            paypal_api_base_url=paypal.base_url,
            paypal_webhook_id="WH-FUZZ",
            crypto_api_key=fake_crypto.API_KEY,
            crypto_api_base_url=crypto.base_url,
            crypto_webhook_secret="fuzz-crypto-webhook-secret",
        )
        string_format("decimal", DECIMAL_STRINGS)
        # In a thread of its own: schemathesis calls synchronously, which would stall a
        # service sharing the test's event loop.
        try:
            with payment_api_in_thread(settings) as url:
                yield from_url(f"{url}/openapi.json")
        finally:
            unregister_string_format("decimal")


def _with_known_currency(generated: tuple[GeneratedCase, str]) -> GeneratedCase:
    case, currency = generated
    if isinstance(case.body, dict) and "currency" in case.body:
        case.body["currency"] = currency
    return case


def cases(operation: Operation, mode: GenerationMode) -> st.SearchStrategy[GeneratedCase]:
    generated = operation.as_strategy(generation_mode=mode)
    if not mode.is_positive:
        return generated
    currencies = st.sampled_from(sorted(MINOR_UNITS))
    return st.tuples(generated, currencies).map(_with_known_currency)


def fuzz(operation: Operation, mode: GenerationMode) -> None:
    @given(case=cases(operation, mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    def call(case: GeneratedCase) -> None:
        case.call_and_validate(headers=AUTH, checks=[not_a_server_error])

    call()


def modes(operation: Operation) -> list[GenerationMode]:
    """Both modes; only the positive one for an operation that declares no input (the
    webhooks read their raw bodies), since there is nothing to get wrong."""
    declares_input = bool(list(operation.iter_parameters())) or bool(list(operation.body))
    return list(GenerationMode) if declares_input else [GenerationMode.POSITIVE]


def test_no_generated_request_makes_the_service_answer_a_server_error(
    payment_schema: BaseSchema,
) -> None:
    operations = []
    for result in payment_schema.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an operation it cannot test: {result}"
        operations.append(result.ok())
    failures: dict[str, BaseException] = {}
    for operation in operations:
        for mode in modes(operation):
            try:
                fuzz(operation, mode)
            except (Exception, BaseExceptionGroup) as failure:  # report every operation
                failures[f"{operation.label} ({mode.value})"] = failure

    assert len(operations) >= 8, [o.label for o in operations]
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
