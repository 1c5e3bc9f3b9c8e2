"""What the payments already stored say about a new one's amount: the customer's usual
payment, the campaign's usual basket, and whether the customer ever paid before.

Read outside the payment's transaction: these inputs move slowly, and a payment racing
another one cannot change them much. Velocity, which races can change, is counted inside
it (``velocity``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.risk import AmountHistory
from services.payment.domain.risk_policy import Lookback
from services.payment.storage.payments import PAYMENTS
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
        completed = {"status": PaymentStatus.COMPLETED.value, "currency": amount.currency}
        history = await self._median(
            {"customer_id": customer_id, **completed}, lookback.customer_sample
        )
        basket = await self._median(
            {"campaign_id": campaign_id, **completed}, lookback.campaign_sample
        )
        is_new = history.count == 0 and not await self._has_completed(customer_id)
        return AmountFacts(history, basket, is_new)

    async def _median(self, query: Document, sample: int) -> AmountHistory:
        cursor = (
            self._payments.find(query, {"amount": 1, "_id": 0})
            .sort("created_at", DESCENDING)
            .limit(sample)
        )
        amounts = [document["amount"] async for document in cursor]
        return AmountHistory(len(amounts), statistics.median(amounts) if amounts else None)

    async def _has_completed(self, customer_id: str) -> bool:
        query = {"customer_id": customer_id, "status": PaymentStatus.COMPLETED.value}
        return await self._payments.find_one(query, {"_id": 1}) is not None
