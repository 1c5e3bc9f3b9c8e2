"""An overloaded payment service sheds work with 503 and Retry-After instead of queueing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tests.support.factories import payment_request
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    idempotency_key,
    payment_api,
    payment_settings,
)

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


async def test_payments_beyond_the_limit_get_503_and_succeed_when_retried_with_their_key(
    infra: TestInfrastructure,
) -> None:
    settings = payment_settings(
        infra,
        "shedding",
        payment_max_in_flight=1,
        payment_processor_latency_seconds=0.5,
        **WITHOUT_RISK_HOLDS,
    )
    body = payment_request()
    async with payment_api(settings) as api:
        first = asyncio.create_task(
            api.post("/v1/payments", json=payment_request(), headers=idempotency_key())
        )
        await asyncio.sleep(0.2)  # the first is now at the processor, holding the only slot
        key = idempotency_key()
        shed = await api.post("/v1/payments", json=body, headers=key)
        assert (await first).status_code == 201
        retried = await api.post("/v1/payments", json=body, headers=key)

    assert shed.status_code == 503
    assert shed.headers["Retry-After"] == "1"
    assert "Idempotency-Key" in shed.json()["error"]["message"]
    assert retried.status_code == 201  # shed before it started: the retry pays, once
    assert retried.headers.get("Idempotent-Replayed") is None
