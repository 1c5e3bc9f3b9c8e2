"""The demo's shoppers: purchases through the payment API, as a storefront would make them.

Shoppers act on what they received: most opened the campaign's email and followed its
tracked link, some clicked an ad on the sandbox exchange, a few buy with no click at all
(organic). Each pays with the click id its landing page received, never with a claim of
where the sale came from: analytics credits it from the journey. Each uses one of the five
payment methods; one card is the processor's always-declined test card, to show a failure
end to end. A payment the risk rules hold for review is shown, then approved by the demo's
reviewer, as a back office would; one the processor has not decided yet is read back until
it is.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from shared.events.customers import CustomerUpserted
from shared.events.payments import PaymentMethod
from shared.money import Money

DECLINED_CARD = "pm_card_chargeDeclined"

WALLET = "wallet"  # each shopper's own PayPal or crypto wallet token; sandboxes approve it
# (method, token) in the order the shoppers pay.
CHECKOUTS: tuple[tuple[PaymentMethod, str], ...] = (
    (PaymentMethod.CREDIT_CARD, "pm_card_visa"),
    (PaymentMethod.PAYPAL, WALLET),
    (PaymentMethod.DEBIT_CARD, "pm_card_visa_debit"),
    (PaymentMethod.BITCOIN, WALLET),
    (PaymentMethod.CREDIT_CARD, "pm_card_mastercard"),
    (PaymentMethod.ETHEREUM, WALLET),
    (PaymentMethod.CREDIT_CARD, DECLINED_CARD),
    (PaymentMethod.PAYPAL, WALLET),
    (PaymentMethod.CREDIT_CARD, "pm_card_visa"),
    (PaymentMethod.DEBIT_CARD, "pm_card_visa_debit"),
    (PaymentMethod.ETHEREUM, WALLET),
    (PaymentMethod.CREDIT_CARD, "pm_card_mastercard"),
    (PaymentMethod.PAYPAL, WALLET),
    (PaymentMethod.BITCOIN, WALLET),
    (PaymentMethod.CREDIT_CARD, "pm_card_visa"),
)


REVIEWER = "demo-reviewer"
SETTLE_SECONDS = 30


class PaymentApiError(RuntimeError):
    """The payment API answered something a storefront cannot act on."""


@dataclass(frozen=True)
class Purchase:
    customer_id: str
    price: Money
    quantity: int
    method: PaymentMethod
    token: str
    click_id: str | None  # None: an organic sale, no tracked click behind it
    came_from: str  # "email", "ad" or "organic", for the demo's own display

    @property
    def client_ip(self) -> str:
        """The shopper's own address (TEST-NET-3), as the storefront's proxy forwards it."""
        return f"203.0.113.{int(uuid.uuid5(uuid.NAMESPACE_OID, self.customer_id)) % 250 + 1}"

    def body(self, campaign_id: str) -> dict[str, Any]:
        amount = self.price.times(Decimal(self.quantity))
        return {
            "customer_id": self.customer_id,
            "campaign_id": campaign_id,
            "amount": amount.model_dump(mode="json"),
            "payment_method": self.method.value,
            "payment_token": self.token,
        } | ({"click_id": self.click_id} if self.click_id else {})


@dataclass(frozen=True)
class ShopperClick:
    """A click a shopper made: an email recipient's (customer known) or an ad's (not)."""

    click_id: str
    customer_id: str | None
    came_from: str


def plan_purchases(
    customers: Sequence[CustomerUpserted],
    clicks: Sequence[ShopperClick],
    price: Money,
    *,
    organic: int = 2,
    seed: int = 15,
) -> list[Purchase]:
    """One purchase per checkout by distinct customers: the clicks first (an ad click's
    buyer is any customer not otherwise buying), then ``organic`` sales with no click."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo shoppers, not a secret
    journeys = list(clicks)[: len(CHECKOUTS) - organic]
    journeys += [ShopperClick("", None, "organic")] * (len(CHECKOUTS) - len(journeys))
    named = {c.customer_id for c in journeys if c.customer_id}
    others = [c.customer_id for c in customers if c.customer_id not in named]
    anonymous = iter(rng.sample(others, k=sum(1 for c in journeys if c.customer_id is None)))
    return [
        Purchase(
            customer_id=(buyer := journey.customer_id or next(anonymous)),
            price=price,
            quantity=rng.choice((1, 1, 1, 2)),
            method=method,
            token=f"{method.value}-{buyer}" if token == WALLET else token,
            click_id=journey.click_id or None,
            came_from=journey.came_from,
        )
        for journey, (method, token) in zip(journeys, CHECKOUTS, strict=True)
    ]


def _record(response: httpx.Response, request: str) -> dict[str, Any]:
    if response.status_code not in (200, 201, 202, 402):
        raise PaymentApiError(f"{request} answered {response.status_code}: {response.text[:300]}")
    record: dict[str, Any] = response.json()
    return record


async def buy(
    client: httpx.AsyncClient,
    campaign_id: str,
    purchase: Purchase,
    api_key: str,
    on_record: Callable[[dict[str, Any]], None] = lambda record: None,
) -> dict[str, Any]:
    """The payment's settled record (completed or failed), every intermediate one shown."""
    auth = {"Authorization": f"Bearer {api_key}"}
    response = await client.post(
        "/v1/payments",
        json=purchase.body(campaign_id),
        headers=auth
        | {"Idempotency-Key": str(uuid.uuid4()), "X-Forwarded-For": purchase.client_ip},
    )
    record = _record(response, "POST /v1/payments")
    if record["status"] == "review":
        on_record(record)
        decision = {"decision": "approve", "reviewer": REVIEWER, "reason": "demo: known shopper"}
        response = await client.post(
            f"/v1/payments/{record['id']}/review",
            json=decision,
            headers=auth | {"Idempotency-Key": str(uuid.uuid4())},
        )
        record = _record(response, "POST /v1/payments/{id}/review")
    async with asyncio.timeout(SETTLE_SECONDS):
        while record["status"] == "processing":
            await asyncio.sleep(0.5)
            response = await client.get(f"/v1/payments/{record['id']}", headers=auth)
            record = _record(response, "GET /v1/payments/{id}")
    return record


async def shop(
    payment_url: str,
    api_key: str,
    campaign_id: str,
    purchases: Sequence[Purchase],
    on_paid: Callable[[dict[str, Any]], None] = lambda record: None,
) -> list[dict[str, Any]]:
    records = []
    async with httpx.AsyncClient(base_url=payment_url, timeout=15) as client:
        for purchase in purchases:
            record = await buy(client, campaign_id, purchase, api_key, on_paid)
            on_paid(record)
            records.append(record)
    return records
