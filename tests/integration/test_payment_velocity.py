"""Velocity limits hold under parallel requests, against the real database: each payment is
counted in its own transaction, so twenty at once cannot all see an empty window."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from typing import TYPE_CHECKING

from tests.support.factories import campaign_id, payment_request
from tests.support.payment_service import idempotency_key, payment_api, payment_settings

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

PARALLEL = 20
# Token velocity alone: three payments in ten minutes are allowed, each one more adds 0.2,
# so the sixth reaches 0.6, the review threshold (RiskPolicy.token_velocity).
ALLOWED_BEFORE_REVIEW = 5


async def test_twenty_parallel_payments_with_one_token_hold_all_but_the_first_five(
    infra: TestInfrastructure,
) -> None:
    settings = payment_settings(
        infra,
        "velocity",
        payment_trusted_proxies="127.0.0.1",
        payment_risk_review_threshold=0.6,
        payment_risk_block_threshold=1.0,
    )
    token = f"B-{uuid.uuid4().hex[:17].upper()}"  # one PayPal billing agreement
    address = str(ipaddress.IPv6Address(uuid.uuid4().int))  # one client address
    cid = campaign_id()

    async with payment_api(settings) as api:
        answers = await asyncio.gather(
            *(
                api.post(
                    "/v1/payments",
                    json=payment_request(cid, payment_method="paypal", payment_token=token),
                    headers=idempotency_key() | {"X-Forwarded-For": address},
                )
                for _ in range(PARALLEL)
            )
        )

    statuses = sorted(answer.json()["status"] for answer in answers)
    assert statuses.count("completed") == ALLOWED_BEFORE_REVIEW, statuses
    assert statuses.count("review") == PARALLEL - ALLOWED_BEFORE_REVIEW, statuses
