"""Customers paying and asking for refunds through the payment API, as storefronts do: a
request that got no answer (or a 5xx, or "in use") is sent again with its Idempotency-Key
until it is answered.

Each payment comes from a customer's own address, which the storefront's proxy forwards
(``X-Forwarded-For``; the stack trusts loopback as that proxy). From one address, the
burst's eight payments at a time would all count against one velocity counter, and the
payments racing on it are scored again until one wins each round: a load no storefront's
customers make, which at 1,000 payments kept requests from an answer for minutes."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from ipaddress import IPv4Address
from typing import Any

import httpx

from shared.settings import DEV_ONLY_PAYMENT_API_KEY
from tests.support.factories import payment_request, usd

AUTH = {"Authorization": f"Bearer {DEV_ONLY_PAYMENT_API_KEY}"}
CONCURRENCY = 8
ANSWERED_WITHIN = 300.0
PRIVATE = IPv4Address("10.0.0.0")
TAKEN = frozenset({"completed", "partially_refunded", "refunded"})
UNDECIDED = frozenset({"pending", "processing"})


@dataclass
class Round:
    """One fault's share of the burst: what the API accepted, and how it settled."""

    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered: int = 0
    refunds: dict[str, str] = field(default_factory=dict)  # refund id -> payment id
    answered_changed: asyncio.Event = field(default_factory=asyncio.Event)

    def taken(self) -> set[str]:
        return {p for p, view in self.accepted.items() if view["status"] in TAKEN}

    def refunds_succeeded(self) -> set[str]:
        return {
            r["id"]
            for view in self.accepted.values()
            for r in view["refunds"]
            if r["status"] == "succeeded"
        }

    def undecided(self) -> list[str]:
        return [
            p
            for p, view in self.accepted.items()
            if view["status"] in UNDECIDED or any(r["status"] == "pending" for r in view["refunds"])
        ]


class Storefront:
    def __init__(self, base_url: str, campaign_id: str, rng: random.Random) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=30)
        self.campaign_id = campaign_id
        self.rng = rng
        self.resent = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def send(
        self, path: str, body: dict[str, Any], key: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async with asyncio.timeout(ANSWERED_WITHIN):
            while True:
                try:
                    response = await self.http.post(
                        path, json=body, headers={"Idempotency-Key": key, **(headers or {})}
                    )
                except httpx.TransportError:
                    response = None  # the service died under the request, or is starting
                if response is not None and not _try_again(response):
                    return response
                self.resent += 1
                await asyncio.sleep(0.2)

    async def pay(self, count: int, into: Round) -> None:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            amount = str(Decimal(self.rng.randint(1000, 30_000)) / 100)
            body = payment_request(self.campaign_id, amount=amount)
            address = {"X-Forwarded-For": str(PRIVATE + self.rng.randrange(1 << 24))}  # 10/8
            async with gate:
                answer = await self.send("/v1/payments", body, f"pay-{uuid.uuid4()}", address)
            if answer.is_success:
                view = answer.json()
                into.accepted[view["id"]] = view
            into.answered += 1
            into.answered_changed.set()

        await asyncio.gather(*(one() for _ in range(count)))

    async def refund(self, share: float, into: Round) -> None:
        """A part of ``share`` of the round's taken payments given back."""
        chosen = [p for p in sorted(into.taken()) if self.rng.random() < share]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(payment_id: str) -> None:
            paid = Decimal(into.accepted[payment_id]["amount"]["amount"])
            part = (paid * Decimal(self.rng.randint(10, 60)) / 100).quantize(Decimal("0.01"))
            body = {"amount": usd(str(part))}
            async with gate:
                answer = await self.send(
                    f"/v1/payments/{payment_id}/refunds", body, f"refund-{uuid.uuid4()}"
                )
            if answer.is_success:
                into.accepted[payment_id] = answer.json()

        await asyncio.gather(*(one(p) for p in chosen))

    async def settle(self, into: Round) -> None:
        """Each accepted payment as the service finally decided it (reconciliation included)."""
        async with asyncio.timeout(ANSWERED_WITHIN):
            pending = list(into.accepted)
            while pending:
                for payment_id in pending:
                    try:
                        response = await self.http.get(f"/v1/payments/{payment_id}")
                    except httpx.TransportError:
                        continue
                    if response.status_code == 200:
                        into.accepted[payment_id] = response.json()
                pending = into.undecided()
                if pending:
                    await asyncio.sleep(0.5)


def _try_again(response: httpx.Response) -> bool:
    in_use = response.status_code == 409 and "in_use" in response.text
    return response.status_code >= 500 or in_use or response.status_code == 429
