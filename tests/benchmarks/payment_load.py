"""Load on the payment API: closed-loop clients and an open-loop fixed rate.

Requests look like a shop's: a few thousand customers, each behind its own address (sent as
X-Forwarded-For through a trusted proxy) and paying with its own wallet token, a mix of
cards and wallets, a few declines. Every request carries a new Idempotency-Key, so each
one is a new payment.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from shared.settings import DEV_ONLY_PAYMENT_API_KEY

CUSTOMERS = 2_000
CAMPAIGNS = [f"bench_campaign_{n}" for n in range(5)]
AMOUNTS = ["9.95", "19.99", "49.00", "149.99", "249.50"]
# (weight, method, token); "{c}" is the customer's own token, as a wallet would issue it.
MIX = [
    (30, "credit_card", "pm_card_visa"),
    (17, "credit_card", "pm_card_mastercard"),
    (2, "credit_card", "pm_card_chargeDeclined"),
    (15, "debit_card", "pm_card_visa_debit"),
    (20, "paypal", "ba_{c}"),
    (1, "paypal", "sandbox_decline"),
    (10, "bitcoin", "btc_{c}"),
    (5, "ethereum", "eth_{c}"),
]

# The client addresses arrive as X-Forwarded-For from the bench's loopback "proxy". Risk is
# scored in full, but nothing is held or blocked: every bench customer shares the sandbox's
# handful of card test tokens, which token velocity would otherwise send to review.
SERVICE_ENV = {
    "PAYMENT_TRUSTED_PROXIES": "127.0.0.1",
    "PAYMENT_RISK_REVIEW_THRESHOLD": "1",
    "PAYMENT_RISK_BLOCK_THRESHOLD": "1",
    "PAYMENT_COUNT_COMMANDS": "true",  # round trips per payment (``CommandMeter``)
}


@dataclass(frozen=True)
class Sample:
    """One POST: when it was due (open loop) or sent, when it answered, and what."""

    sent: float  # wall clock, to compare with the timestamps the service stores
    latency: float
    status_code: int
    payment: dict[str, Any] | None
    error: str | None = None  # the error body's type, e.g. idempotency_key_in_use

    @property
    def processor_calls(self) -> int:
        return len(self.payment["attempts"]) if self.payment else 0

    def at(self, name: str) -> float | None:
        """A stored timestamp of this payment as wall-clock seconds."""
        value = self.payment.get(name) if self.payment else None
        return wall_seconds(value) if value else None


def wall_seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class PaymentRequests:
    """Builds the n-th request of a run, reproducibly."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._weights = [weight for weight, _, _ in MIX]

    def next(self) -> tuple[dict[str, Any], dict[str, str]]:
        rng = self._rng
        customer = rng.randrange(CUSTOMERS)
        _, method, token = rng.choices(MIX, self._weights)[0]
        body = {
            "customer_id": f"bench_customer_{customer}",
            "campaign_id": CAMPAIGNS[customer % len(CAMPAIGNS)],
            "amount": {
                "amount": AMOUNTS[(customer + rng.randrange(2)) % len(AMOUNTS)],
                "currency": "USD",
            },
            "payment_method": method,
            "payment_token": token.format(c=customer),
            "customer_country": "US",
        }
        headers = {
            "Idempotency-Key": str(uuid.uuid4()),
            "X-Forwarded-For": f"10.{customer // 256 % 256}.{customer % 256}.{1 + customer % 7}",
        }
        return body, headers


def payment_client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {DEV_ONLY_PAYMENT_API_KEY}"},
        timeout=60,
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=512),
    )


async def _post(
    http: httpx.AsyncClient, requests: PaymentRequests, due: float | None = None
) -> Sample:
    """``due`` (perf_counter) counts an open-loop request's latency from when it was due,
    so a late send is charged to the service as a real client would see it."""
    body, headers = requests.next()
    started = time.perf_counter()
    sent = time.time() - (started - due if due is not None else 0.0)
    try:
        response = await http.post("/v1/payments", json=body, headers=headers)
    except httpx.TransportError as failure:  # counted, as a client would count it
        latency = time.perf_counter() - (due if due is not None else started)
        return Sample(sent, latency, 0, None, type(failure).__name__)
    latency = time.perf_counter() - (due if due is not None else started)
    if response.status_code in (201, 202, 402):
        return Sample(sent, latency, response.status_code, response.json())
    return Sample(sent, latency, response.status_code, None, _error_type(response))


def _error_type(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["type"])
    except (ValueError, KeyError, TypeError):
        return None


async def closed_loop(
    http: httpx.AsyncClient, requests: PaymentRequests, *, clients: int, seconds: float
) -> tuple[list[Sample], float]:
    """``clients`` each post, await the answer and post again, for ``seconds``."""
    samples: list[Sample] = []
    began = time.perf_counter()
    deadline = began + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            samples.append(await _post(http, requests))

    await asyncio.gather(*(client() for _ in range(clients)))
    return samples, time.perf_counter() - began


async def open_loop(
    http: httpx.AsyncClient, requests: PaymentRequests, *, rate: float, seconds: float
) -> tuple[list[Sample], float, float]:
    """Posts at ``rate`` per second whether or not earlier ones have answered. Returns the
    samples, the rate the sends reached, and the time until the last one answered."""
    count = int(rate * seconds)
    began = time.perf_counter()
    tasks = []
    for i in range(count):
        due = began + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(_post(http, requests, due)))
    sent_per_s = (count - 1) / (time.perf_counter() - began)
    samples = list(await asyncio.gather(*tasks))
    return samples, sent_per_s, time.perf_counter() - began
