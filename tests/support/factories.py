"""Valid domain inputs, built fresh per test; override what the test is about."""

from __future__ import annotations

import uuid
from typing import Any


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
