"""Valid domain inputs, built fresh per test; override what the test is about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.payment.processors import Charge
from shared.events.payments import PaymentMethod
from shared.money import Money


def usd(amount: str) -> dict[str, str]:
    """Money as every contract carries it."""
    return {"amount": amount, "currency": "USD"}


def campaign_id(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    """Money as every contract carries it."""
    return {"amount": amount, "currency": currency}


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
    """A campaign.planned payload for a 50,000 USD campaign over all three channels; the
    allocation is in the budget's currency when only the budget is overridden."""
    currency = overrides.get("budget", {}).get("currency", "USD")
    planned: dict[str, Any] = {
        "campaign_id": cid or campaign_id(),
        "name": "Spring sale",
        "budget": {"amount": "50000.00", "currency": "USD"},
        "allocation": {
            "email": money("20000.00", currency),
            "social": money("17500.00", currency),
            "web": money("12500.00", currency),
        },
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


def payment_event(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """What every payment event carries: 149.99 USD by card through stripe, from an email."""
    event: dict[str, Any] = {
        "payment_id": f"pay_{uuid.uuid4()}",
        "campaign_id": cid or campaign_id(),
        "customer_id": f"customer-{uuid.uuid4().hex[:12]}",
        "amount": money("149.99"),
        "payment_method": "credit_card",
        "processor": "stripe",
        "click_id": None,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    return event | overrides


def payment_initiated(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A payment.initiated payload: the factory's payment, scored low risk."""
    return payment_event(cid, risk_level="low", risk_score=0.05) | overrides


def payment_review_required(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A payment.review_required payload: held for the payment token's velocity."""
    held = payment_event(cid, risk_score=0.7, risk_signals=["token_velocity"])
    return held | overrides


def payment_completed(
    cid: str | None = None,
    *,
    amount: str = "149.99",
    fee: str = "4.65",
    currency: str = "USD",
    **overrides: Any,
) -> dict[str, Any]:
    """A payment.completed payload: 149.99 USD by card through stripe, fee 4.65, net 145.34;
    the net is always the amount less the fee."""
    completed = payment_event(
        cid,
        amount=money(amount, currency),
        processor_transaction_id=f"ch_{uuid.uuid4().hex[:24]}",
        fee=money(fee, currency),
        net=money(str(Decimal(amount) - Decimal(fee)), currency),
    )
    return completed | overrides


def payment_failed(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A payment.failed payload: the factory's payment, declined."""
    return payment_event(cid, failure_reason="card_declined") | overrides


def payment_refunded(
    completed: dict[str, Any],
    refund_amount: str,
    refunded_total: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A payment.refunded payload: one refund of ``refund_amount`` of the ``completed``
    payment; ``refunded_total`` (this one included) defaults to the refund alone."""
    currency = completed["amount"]["currency"]
    refunded = {key: value for key, value in completed.items() if key != "occurred_at"} | {
        "refund_id": f"re_{uuid.uuid4()}",
        "refund_amount": money(refund_amount, currency),
        "refunded_total": money(refunded_total or refund_amount, currency),
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    return refunded | overrides


def revenue_recorded(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A revenue.recorded payload: the factory's completed payment, as analytics records it."""
    completed = payment_completed(cid)
    recorded = {
        key: completed[key]
        for key in ("campaign_id", "payment_id", "customer_id", "processor", "payment_method")
    } | {
        "gross": completed["amount"],
        "fee": completed["fee"],
        "net": completed["net"],
        "recorded_at": completed["occurred_at"],
        "attribution": {
            "segment_id": "high_value",
            "channel": "email",
            "variant_id": "high_value-email-a",
        },
        "click_id": None,
    }
    return recorded | overrides


def revenue_reversed(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A revenue.reversed payload: 50.00 of the factory's payment refunded, fee share 1.55."""
    recorded = revenue_recorded(cid)
    reversed_ = {key: value for key, value in recorded.items() if key != "recorded_at"} | {
        "refund_id": f"re_{uuid.uuid4()}",
        "gross": money("50.00"),
        "fee": money("1.55"),
        "net": money("48.45"),
        "reversed_at": datetime.now(UTC).isoformat(),
    }
    return reversed_ | overrides


def campaign_performance(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A campaign.performance payload with every optional part filled: two payments in USD,
    one in EUR beside them, an AI cost and a refund."""
    performance: dict[str, Any] = {
        "campaign_id": cid or campaign_id(),
        "as_of": datetime.now(UTC).isoformat(),
        "gross_revenue": money("199.99"),
        "fees": money("6.89"),
        "net_revenue": money("193.10"),
        "payments_completed": 3,
        "payments_failed": 1,
        "success_rate": 0.75,
        "average_transaction": money("100.00"),
        "processor_mix": [
            {"processor": "stripe", "count": 1, "gross": money("149.99")},
            {"processor": "paypal", "count": 1, "gross": money("50.00")},
        ],
        "reach": 2000,
        "spend": money("50000.25"),
        "roi": -0.9961,
        "ai_cost": "0.25",
        "conversion_rate": 0.0015,
        "revenue_by_channel": {"email": money("149.99"), "social": money("0.00")},
        "net_revenue_by_channel": {"email": money("145.34"), "social": money("0.00")},
        "refunds": money("10.00"),
        "other_currencies": [
            {
                "currency": "EUR",
                "gross": money("100.00", "EUR"),
                "fees": money("3.20", "EUR"),
                "net": money("96.80", "EUR"),
                "payments_completed": 1,
                "refunded": money("0.00", "EUR"),
            }
        ],
    }
    return performance | overrides


def campaign_launched(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A campaign.launched payload reaching 2,000 people: 800 by email, 1,200 on social."""
    launched: dict[str, Any] = {
        "campaign_id": cid or campaign_id(),
        "reach": {"email": 800, "social": 1200},
        "total_reach": 2000,
        "launched_at": datetime.now(UTC).isoformat(),
    }
    return launched | overrides


def campaign_launched_with_ads(cid: str | None = None) -> dict[str, Any]:
    """A campaign.launched payload with one ad set bought on social."""
    return campaign_launched(
        cid,
        messages_accepted=760,
        scheduled=40,
        skipped={"no_consent": 120, "frequency_capped": 4},
        held_out=42,
        impressions={"social": 90000},
        ad_sets=[
            {
                "ad_set_id": "as_1",
                "channel": "social",
                "segment_id": "high_value",
                "variant_id": "high_value-social-a",
                "budget": money("5000.00"),
                "bid": money("9.00"),
            }
        ],
    )


def touch(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """What every engagement event names: campaign, segment, channel, variant and when."""
    return {
        "campaign_id": cid or campaign_id(),
        "segment_id": "high_value",
        "channel": "email",
        "variant_id": "high_value-email-a",
        "at": datetime.now(UTC).isoformat(),
    } | overrides


def message_sent(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    return (
        touch(
            cid,
            customer_id=f"customer-{uuid.uuid4().hex[:12]}",
            message_id=f"<{uuid.uuid4()}@shop>",
        )
        | overrides
    )


def link_clicked(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    return (
        touch(
            cid,
            click_id=f"clk_{uuid.uuid4().hex}",
            customer_id=f"customer-{uuid.uuid4().hex[:12]}",
            source="email",
        )
        | overrides
    )


def ads_reported(cid: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An ads.reported payload: 12,000 impressions and 96 clicks for 84.30 of 5,000.00."""
    return {
        "campaign_id": cid or campaign_id(),
        "ad_set_id": "as_1",
        "channel": "social",
        "segment_id": "high_value",
        "variant_id": "high_value-social-a",
        "impressions": 12000,
        "clicks": 96,
        "spend": money("84.30"),
        "budget": money("5000.00"),
        "as_of": datetime.now(UTC).isoformat(),
    } | overrides


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
        "click_id": f"clk_{uuid.uuid4().hex}",
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
