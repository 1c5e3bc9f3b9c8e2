"""Deterministic assignment: who is held out, and which variant each recipient gets.

Each draw is a number in [0, 1) from SHA-256 of a purpose, the campaign and the customer,
so it is the same on every replica and every re-run (sticky and reproducible), differs
between campaigns, and the holdout draw is independent of the variant draw. A customer is
held out when their holdout draw is under the holdout share; a recipient's variant is the
one whose slice of the cumulative traffic weights their variant draw falls in (weights
equal at launch). Weights may change while a campaign runs; a delivery keeps the variant
it was first given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal

SCALE = 2**64


def draw(purpose: str, campaign_id: str, customer_id: str) -> float:
    digest = hashlib.sha256(f"{purpose}\x1f{campaign_id}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / SCALE


def held_out(campaign_id: str, customer_id: str, share: Decimal) -> bool:
    return draw("holdout", campaign_id, customer_id) < float(share)


def pick_variant(campaign_id: str, customer_id: str, weighted: Sequence[tuple[str, float]]) -> str:
    """The variant whose slice of ``weighted`` (in order, weights > 0) the draw falls in."""
    if not weighted:
        raise ValueError("no variant to pick from")
    total = sum(weight for _, weight in weighted)
    point = draw("variant", campaign_id, customer_id) * total
    for variant_id, weight in weighted:
        point -= weight
        if point < 0:
            return variant_id
    return weighted[-1][0]  # the draw sat on the top edge through rounding


def equal_weights(variant_ids: Sequence[str]) -> list[tuple[str, float]]:
    return [(variant_id, 1.0) for variant_id in variant_ids]
