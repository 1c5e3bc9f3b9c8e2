"""What the payments already stored say about a new one: the customer's usual payment, the
campaign's usual basket, whether the customer ever paid before, and the payments of the
customer and of the token that failed in the long window.

Read outside the payment's transaction, in one aggregation together with the payment's
velocity counters as they stand: the amounts move slowly, and a payment racing another
one cannot change them much. Velocity, which races can change, is checked again as the
transaction bumps the counters (``velocity``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.risk import AmountHistory
from services.payment.domain.risk_policy import Lookback
from services.payment.storage.payments import PAYMENTS
from services.payment.storage.velocity import VELOCITY
from shared.events.payments import PaymentStatus
from shared.money import Money
from shared.storage.mongo import Document

SIGNAL, CAMPAIGN = "signal", "campaign"  # marks the campaign branch's documents
TOKEN_FINGERPRINT = "risk.token_fingerprint"  # noqa: S105 - a field name, not a secret


@dataclass(frozen=True)
class AmountFacts:
    customer_history: AmountHistory
    campaign_basket: AmountHistory
    customer_is_new: bool  # no completed payment in any currency


@dataclass(frozen=True)
class SignalsAsked:
    customer_id: str
    campaign_id: str
    amount: Money
    token: str  # the token's fingerprint (``risk.token_fingerprint``)
    counters: list[str]  # the velocity counters to read


@dataclass(frozen=True)
class StoredSignals:
    facts: AmountFacts
    customer_declines: int  # failed payments in the long window
    token_declines: int
    counters: dict[str, Document]  # as stored, by key; absent when never counted


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
                IndexModel([(TOKEN_FINGERPRINT, 1), ("status", 1), newest_first]),
            ]
        )

    async def amount_facts(
        self, customer_id: str, campaign_id: str, amount: Money, lookback: Lookback
    ) -> AmountFacts:
        asked = SignalsAsked(customer_id, campaign_id, amount, "", [])
        return (await self.signals(asked, lookback, datetime.now(UTC))).facts

    async def signals(
        self, asked: SignalsAsked, lookback: Lookback, now: datetime
    ) -> StoredSignals:
        """The amount facts, the declines in the long window and the velocity counters
        named in ``asked``, as stored now, in one aggregation: one round trip."""
        completed = {"status": PaymentStatus.COMPLETED.value, "currency": asked.amount.currency}
        failed = {
            "status": PaymentStatus.FAILED.value,
            "created_at": {"$gt": now - lookback.long_window},
        }
        customer, token = {"customer_id": asked.customer_id}, {TOKEN_FINGERPRINT: asked.token}
        campaign = _newest_amounts(
            {"campaign_id": asked.campaign_id, **completed}, lookback.campaign_sample
        )
        # The customer's and the token's payments are few: one match, split by $facet. A
        # campaign's may be millions: its branch is led by its own indexed match, sort and
        # limit, so it never reads more than its sample.
        pipeline: list[Document] = [
            {"$match": {"$or": [customer, token]}},
            {
                "$facet": {
                    "customer": _newest_amounts(customer | completed, lookback.customer_sample),
                    "paid": _any(customer | {"status": completed["status"]}),
                    "customer_declines": _count(customer | failed),
                    "token_declines": _count(token | failed),
                }
            },
            {"$unionWith": {"coll": PAYMENTS, "pipeline": [*campaign, _labelled(CAMPAIGN)]}},
            {"$unionWith": {"coll": VELOCITY, "pipeline": [_counters_named(asked.counters)]}},
        ]
        found = await (await self._payments.aggregate(pipeline)).to_list()
        facets = next((d for d in found if "paid" in d), {})
        history = _median(facets.get("customer", []))
        basket = _median([d for d in found if d.get(SIGNAL) == CAMPAIGN])
        return StoredSignals(
            AmountFacts(history, basket, history.count == 0 and not facets.get("paid")),
            customer_declines=_counted(facets.get("customer_declines", [])),
            token_declines=_counted(facets.get("token_declines", [])),
            counters={str(d["_id"]): d for d in found if "_id" in d},
        )


def _labelled(signal: str) -> Document:
    return {"$addFields": {SIGNAL: signal}}


def _any(query: Document) -> list[Document]:
    return [{"$match": query}, {"$limit": 1}, {"$project": {"_id": 1}}]


def _count(query: Document) -> list[Document]:
    return [{"$match": query}, {"$count": "n"}]


def _counted(documents: list[Document]) -> int:
    return int(documents[0]["n"]) if documents else 0


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
