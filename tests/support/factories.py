"""Valid domain inputs, built fresh per test; override what the test is about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.payment.processors import Charge
from shared.events.payments import PaymentMethod
from shared.money import Money


def usd(amount: str) -> dict[str, str]:
    """Money as every contract carries it."""
    return {"amount": amount, "currency": "USD"}


def campaign_id(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def campaign_request(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "campaign_id": cid or campaign_id(),
        "name": "Spring sale",
        "budget": {"amount": "50000.00", "currency": "USD"},
        "channels": ["email", "social", "web"],
        "product": {
            "sku": "SKU-HEADPHONES-01",
            "name": "Noise-cancelling headphones",
            "price": {"amount": "149.99", "currency": "USD"},
        },
    }
    return request | overrides


def customer(customer_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A customer.upserted payload: a recent, opted-in repeat buyer unless overridden."""
    now = datetime.now(UTC)
    record: dict[str, Any] = {
        "customer_id": customer_id or f"customer-{uuid.uuid4().hex[:12]}",
        "email": "ana@example.com",
        "first_name": "Ana",
        "country": "US",
        "email_opt_in": True,
        "created_at": (now - timedelta(days=400)).isoformat(),
        "last_purchase_at": (now - timedelta(days=10)).isoformat(),
        "orders_count": 4,
        "total_spent": {"amount": "640.00", "currency": "USD"},
        "last_engaged_at": (now - timedelta(days=2)).isoformat(),
    }
    return record | overrides


def campaign_planned(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A campaign.planned payload for a 50,000 USD campaign over all three channels."""
    planned: dict[str, Any] = {
        "campaign_id": cid or campaign_id(),
        "name": "Spring sale",
        "budget": {"amount": "50000.00", "currency": "USD"},
        "allocation": {"email": "20000.00", "social": "17500.00", "web": "12500.00"},
        "product": {
            "sku": "SKU-HEADPHONES-01",
            "name": "Noise-cancelling headphones",
            "price": {"amount": "149.99", "currency": "USD"},
        },
        "predicted_revenue": {"amount": "61234.50", "currency": "USD"},
        "predicted_roi": 0.2247,
        "schedule": {
            "starts_at": "2026-03-01T00:00:00+00:00",
            "ends_at": "2026-03-15T00:00:00+00:00",
        },
        "engine": "offline",
        "rationale": "Budget split by channel weight.",
    }
    return planned | overrides


def campaign_segmented(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A campaign.segmented payload with two segments, 1,300 of whose members opted in."""
    segmented: dict[str, Any] = {
        "campaign_id": cid or campaign_id(),
        "total_customers": 3000,
        "segments": [
            {
                "segment_id": "high_value",
                "name": "High-value customers",
                "size": 1000,
                "predicted_conversion_rate": 0.12,
                "email_reachable": 800,
            },
            {
                "segment_id": "at_risk",
                "name": "At-risk customers",
                "size": 2000,
                "predicted_conversion_rate": 0.03,
                "email_reachable": 500,
            },
        ],
    }
    return segmented | overrides


def campaign_content_generated(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A campaign.content_generated payload with one email variant."""
    generated: dict[str, Any] = {
        "campaign_id": cid or campaign_id(),
        "content": [
            {
                "segment_id": "high_value",
                "channel": "email",
                "variant_id": "high_value-email-a",
                "subject": "Made for our best customers",
                "body": "Hi {first_name}, it is here.",
                "cta_url": "https://shop.example.com/p/SKU-HEADPHONES-01?utm_source=email",
            }
        ],
    }
    return generated | overrides


def payment_record(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A payment.completed payload: 149.99 USD by card through stripe, fee 4.65, net 145.34."""
    campaign = cid or campaign_id()
    now = datetime.now(UTC)
    record: dict[str, Any] = {
        "id": f"pay_{uuid.uuid4()}",
        "customer_id": f"customer-{uuid.uuid4().hex[:12]}",
        "campaign_id": campaign,
        "amount": "149.99",
        "currency": "USD",
        "payment_method": "credit_card",
        "processor": "stripe",
        "processor_transaction_id": f"ch_{uuid.uuid4().hex[:24]}",
        "status": "completed",
        "failure_reason": None,
        "created_at": now.isoformat(),
        "processed_at": now.isoformat(),
        "metadata": {
            "campaign_attribution": campaign,
            "attribution": {
                "segment_id": "high_value",
                "channel": "email",
                "variant_id": "high_value-email-a",
            },
            "processor_fees": {
                "processor_fee": "4.65",
                "net_amount": "145.34",
                "fee_rate": "0.029",
                "fee_fixed": "0.30",
            },
        },
    }
    return record | overrides


def failed_payment_record(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A payment.failed payload: a declined card, so no processor fees."""
    record = payment_record(cid, status="failed", failure_reason="card_declined")
    record["processor_transaction_id"] = None
    record["metadata"] = record["metadata"] | {"processor_fees": None}
    return record | overrides


def campaign_launched(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A campaign.launched payload reaching 2,000 people: 800 by email, 1,200 on social."""
    launched: dict[str, Any] = {
        "campaign_id": cid or campaign_id(),
        "reach": {"email": 800, "social": 1200},
        "total_reach": 2000,
        "launched_at": datetime.now(UTC).isoformat(),
    }
    return launched | overrides


def payment_request(
    cid: str | None = None, *, amount: str = "149.99", currency: str = "USD", **overrides: Any
) -> dict[str, Any]:
    """A POST /v1/payments body: 149.99 USD by card (Stripe's test visa), from an email link."""
    request: dict[str, Any] = {
        "customer_id": f"customer-{uuid.uuid4().hex[:12]}",
        "campaign_id": cid or campaign_id(),
        "amount": {"amount": amount, "currency": currency},
        "payment_method": "credit_card",
        "payment_token": "pm_card_visa",
        "attribution": {
            "segment_id": "high_value",
            "channel": "email",
            "variant_id": "high_value-email-a",
        },
    }
    return request | overrides


# How the factory's customer pays through each processor when a test does not say.
BILLING_AGREEMENT = "B-8AB12345CD678901E"
WALLET = "0x742d35Cc6634C0532925a3b844Bc454e4438f44e"
_PAID_WITH = {
    "stripe": (PaymentMethod.CREDIT_CARD, "pm_card_visa"),
    "paypal": (PaymentMethod.PAYPAL, BILLING_AGREEMENT),
    "crypto": (PaymentMethod.ETHEREUM, WALLET),
}


def charge_request(processor: str = "stripe", **overrides: Any) -> Charge:
    """The factory's payment (149.99 USD) as one attempt on ``processor``, paid as that
    processor is usually paid: Stripe's test visa, a PayPal billing agreement, an Ethereum
    wallet. Override any ``Charge`` field by name."""
    request = payment_request()
    method, token = _PAID_WITH[processor]
    payment_id = f"pay_{uuid.uuid4()}"
    fields: dict[str, Any] = {
        "payment_id": payment_id,
        "amount": Money.of(request["amount"]["amount"], request["amount"]["currency"]),
        "payment_method": method,
        "payment_token": token,
        "campaign_id": request["campaign_id"],
        "customer_id": request["customer_id"],
        "attempt_key": f"{payment_id}:{processor}",
    }
    return Charge(**(fields | overrides))
