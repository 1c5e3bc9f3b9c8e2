"""What the payments already stored say about a new one's amount: the customer's usual
payment, the campaign's usual basket, and whether the customer ever paid before.

Read outside the payment's transaction, in one aggregation together with the payment's
velocity counters as they stand: the amounts move slowly, and a payment racing another
one cannot change them much. Velocity, which races can change, is checked again as the
transaction bumps the counters (``velocity``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.risk import AmountHistory
from services.payment.domain.risk_policy import Lookback
from services.payment.storage.payments import PAYMENTS
from services.payment.storage.velocity import VELOCITY
from shared.events.payments import PaymentStatus
from shared.money import Money
from shared.storage.mongo import Document


@dataclass(frozen=True)
class AmountFacts:
    customer_history: AmountHistory
    campaign_basket: AmountHistory
    customer_is_new: bool  # no completed payment in any currency


class RiskHistory:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._payments = db[PAYMENTS]

    async def ensure_indexes(self) -> None:
        # created_at too, so the newest-first samples are read in index order.
        newest_first = ("created_at", DESCENDING)
        await self._payments.create_indexes(
            [
                IndexModel([("customer_id", 1), ("status", 1), newest_first]),
                IndexModel([("campaign_id", 1), ("status", 1), newest_first]),
            ]
        )

    async def amount_facts(
        self, customer_id: str, campaign_id: str, amount: Money, lookback: Lookback
    ) -> AmountFacts:
        facts, _ = await self.signals(customer_id, campaign_id, amount, lookback, [])
        return facts

    async def signals(
        self,
        customer_id: str,
        campaign_id: str,
        amount: Money,
        lookback: Lookback,
        counters: list[str],
    ) -> tuple[AmountFacts, dict[str, Document]]:
        """The amount facts and the velocity counters named ``counters``, as stored now,
        in one aggregation: one round trip whatever the policy reads."""
        completed = {"status": PaymentStatus.COMPLETED.value, "currency": amount.currency}
        pipeline: list[Document] = [
            {"$match": {"$or": [{"customer_id": customer_id}, {"campaign_id": campaign_id}]}},
            {
                "$facet": {
                    "customer": _newest_amounts(
                        {"customer_id": customer_id, **completed}, lookback.customer_sample
                    ),
                    "campaign": _newest_amounts(
                        {"campaign_id": campaign_id, **completed}, lookback.campaign_sample
                    ),
                    "paid": [
                        {"$match": {"customer_id": customer_id, "status": completed["status"]}},
                        {"$limit": 1},
                        {"$project": {"_id": 1}},
                    ],
                }
            },
            {
                "$unionWith": {
                    "coll": VELOCITY,
                    "pipeline": [{"$match": {"_id": {"$in": counters}}}],
                }
            },
        ]
        found = await (await self._payments.aggregate(pipeline)).to_list()
        facets = next((d for d in found if "_id" not in d), {})
        history = _median(facets.get("customer", []))
        is_new = history.count == 0 and not facets.get("paid")
        facts = AmountFacts(history, _median(facets.get("campaign", [])), is_new)
        return facts, {str(d["_id"]): d for d in found if "_id" in d}


def _counters_named(keys: list[str]) -> Document:
    return {"$match": {"_id": {"$in": keys}}}


def _newest_amounts(query: Document, sample: int) -> list[Document]:
    return [
        {"$match": query},
        {"$sort": {"created_at": DESCENDING}},
        {"$limit": sample},
        {"$project": {"amount": 1, "_id": 0}},
    ]


def _median(documents: list[Document]) -> AmountHistory:
    amounts = [document["amount"] for document in documents]
    return AmountHistory(len(amounts), statistics.median(amounts) if amounts else None)
