"""The demo's shoppers: purchases through the payment API, as a storefront would make them.

Each purchase follows a real content piece's tracking link (its segment, channel and
variant become the payment's attribution) and uses one of the five payment methods; one
card is the processor's always-declined test card, to show a failure end to end.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from shared.events.campaigns import ContentPiece
from shared.events.customers import CustomerUpserted
from shared.events.payments import PaymentMethod
from shared.money import Money

DECLINED_CARD = "pm_card_chargeDeclined"

# (method, token) in the order the shoppers pay; sandbox processors accept any other token.
CHECKOUTS: tuple[tuple[PaymentMethod, str], ...] = (
    (PaymentMethod.CREDIT_CARD, "pm_card_visa"),
    (PaymentMethod.PAYPAL, "sandbox_ok"),
    (PaymentMethod.DEBIT_CARD, "pm_card_visa_debit"),
    (PaymentMethod.BITCOIN, "sandbox_ok"),
    (PaymentMethod.CREDIT_CARD, "pm_card_mastercard"),
    (PaymentMethod.ETHEREUM, "sandbox_ok"),
    (PaymentMethod.CREDIT_CARD, DECLINED_CARD),
    (PaymentMethod.PAYPAL, "sandbox_ok"),
    (PaymentMethod.CREDIT_CARD, "pm_card_visa"),
    (PaymentMethod.DEBIT_CARD, "pm_card_visa_debit"),
    (PaymentMethod.ETHEREUM, "sandbox_ok"),
    (PaymentMethod.CREDIT_CARD, "pm_card_mastercard"),
    (PaymentMethod.PAYPAL, "sandbox_ok"),
    (PaymentMethod.BITCOIN, "sandbox_ok"),
    (PaymentMethod.CREDIT_CARD, "pm_card_visa"),
)


class PaymentApiError(RuntimeError):
    """The payment API answered neither "completed" (201) nor "declined" (402)."""


@dataclass(frozen=True)
class Purchase:
    customer_id: str
    price: Money
    quantity: int
    method: PaymentMethod
    token: str
    piece: ContentPiece

    def body(self, campaign_id: str) -> dict[str, Any]:
        amount = self.price.times(Decimal(self.quantity))
        return {
            "customer_id": self.customer_id,
            "campaign_id": campaign_id,
            "amount": format(amount.amount, "f"),
            "currency": amount.currency,
            "payment_method": self.method.value,
            "payment_token": self.token,
            "attribution": {
                "segment_id": self.piece.segment_id,
                "channel": self.piece.channel.value,
                "variant_id": self.piece.variant_id,
            },
        }


def plan_purchases(
    customers: Sequence[CustomerUpserted],
    content: Sequence[ContentPiece],
    price: Money,
    *,
    seed: int = 15,
) -> list[Purchase]:
    """One purchase per checkout, by distinct customers, each from a content piece."""
    if not content:
        raise ValueError("content: the campaign has no content pieces to attribute sales to")
    rng = random.Random(seed)
    buyers = rng.sample(list(customers), k=len(CHECKOUTS))
    return [
        Purchase(
            customer_id=buyer.customer_id,
            price=price,
            quantity=rng.choice((1, 1, 1, 2)),
            method=method,
            token=token,
            piece=rng.choice(content),
        )
        for buyer, (method, token) in zip(buyers, CHECKOUTS, strict=True)
    ]


async def buy(
    client: httpx.AsyncClient, campaign_id: str, purchase: Purchase, api_key: str
) -> dict[str, Any]:
    """The payment record; a decline is a normal outcome, anything else is an error."""
    response = await client.post(
        "/v1/payments",
        json=purchase.body(campaign_id),
        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": str(uuid.uuid4())},
    )
    if response.status_code not in (201, 402):
        raise PaymentApiError(
            f"POST /v1/payments answered {response.status_code}: {response.text[:300]}"
        )
    record: dict[str, Any] = response.json()
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
            record = await buy(client, campaign_id, purchase, api_key)
            on_paid(record)
            records.append(record)
    return records
