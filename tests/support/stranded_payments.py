"""Payments as a crashed process leaves them in the database, in the stored record's shape.

A crash keeps whatever the last commit wrote and nothing after it: a payment recorded as
``pending`` whose charge never started, or approved by a reviewer with no attempt begun,
and the request's Idempotency-Key claimed but never answered.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.payment.domain.requests import CreatePayment, ReviewDecision
from services.payment.idempotency import request_hash
from services.payment.settings import DEV_ONLY_DATA_KEY
from services.payment.storage.field_encryption import Keyring, seal

CREATE_ENDPOINT = "POST /v1/payments"


async def stranded_payment(
    db: Any,
    body: dict[str, Any],
    key: dict[str, str],
    *,
    status: str,
    age: timedelta,
    review: dict[str, Any] | None = None,
) -> str:
    """Writes the payment ``body`` asked for, as left ``age`` ago by a process that crashed
    right after committing ``status`` (``pending``, or ``approved`` by ``review``), and its
    key claimed but unanswered. Returns the payment id."""
    payment_id = f"pay_{uuid.uuid4()}"
    at = (datetime.now(UTC) - age).replace(microsecond=0)
    history = [_change(None, "pending", at, "api")]
    if status == "approved":
        history += [
            _change("pending", "review", at, "risk", "risk_review"),
            _change("review", "processing", at, f"reviewer:{(review or {})['reviewer']}"),
        ]
    request = CreatePayment.model_validate(body)
    amount = Decimal(body["amount"]["amount"])
    fee = (amount * Decimal("0.029") + Decimal("0.30")).quantize(Decimal("0.01"))
    keyring = Keyring.parse(DEV_ONLY_DATA_KEY)
    document = {
        "_id": payment_id,
        "id": payment_id,
        "customer_id": body["customer_id"],
        "campaign_id": body["campaign_id"],
        "amount": amount,
        "currency": body["amount"]["currency"],
        "payment_method": body["payment_method"],
        "processor": "stripe",
        "processor_transaction_id": None,
        "status": history[-1]["to"],
        "failure_reason": None,
        "created_at": at,
        "processed_at": None,
        "metadata": {
            "campaign_attribution": body["campaign_id"],
            "click_id": body.get("click_id"),
            "processor_fees": {
                "processor_fee": fee,
                "net_amount": amount - fee,
                "fee_rate": Decimal("0.029"),
                "fee_fixed": Decimal("0.30"),
            },
            "ip_address": None,
            "user_agent": None,
            "risk_score": 0.0,
            "risk_level": "low",
            "risk_reasons": [],
        },
        "status_history": history,
        "attempts": [],
        "refunds": [],
        "refunded_amount": Decimal(0),
        "revision": len(history),
        "flags": [],
        "payment_token": seal(
            keyring, body["payment_token"], context=f"{payment_id}:payment_token"
        ),
    }
    await db["payments"].insert_one(_decimal128(document))
    if review is None:
        hashed = request_hash(CREATE_ENDPOINT, request)
    else:
        hashed = request_hash(f"review:{payment_id}", ReviewDecision.model_validate(review))
    await db["idempotency_keys"].insert_one(
        {
            "_id": key["Idempotency-Key"],
            "request_hash": hashed,
            "payment_id": payment_id,
            "status": "in_progress",
            "created_at": at,
        }
    )
    return payment_id


def _change(
    from_: str | None, to: str, at: datetime, actor: str, reason: str | None = None
) -> dict[str, Any]:
    return {"from": from_, "to": to, "at": at, "reason": reason, "actor": actor}


def _decimal128(value: Any) -> Any:
    from bson.decimal128 import Decimal128

    if isinstance(value, Decimal):
        return Decimal128(value)
    if isinstance(value, dict):
        return {k: _decimal128(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimal128(v) for v in value]
    return value
