"""The risk score's inputs, read from the payments the service has already stored.

Velocity is counted by keyed fingerprints (``risk.ip_fingerprint``, ``risk.token_fingerprint``),
never by the IP address or token themselves, so the counts keep working once those are
encrypted at rest. Every count leaves out the payment being scored and then adds it once,
so gathering gives the same inputs whether that payment is already stored or not.
"""

from __future__ import annotations

import ipaddress
import statistics
from dataclasses import dataclass
from datetime import datetime

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.payment import CreatePayment, RequestContext
from services.payment.domain.risk import (
    AmountHistory,
    RiskAssessment,
    RiskInputs,
    WindowCounts,
    assess,
    fingerprint,
)
from services.payment.domain.risk_policy import Lookback, RiskPolicy
from services.payment.processors.sandbox import SHARED_TEST_TOKENS
from shared.events.payments import PaymentStatus
from shared.money import Money
from shared.storage.mongo import Document

PAYMENTS = "payments"  # the collection ``repository.Payments`` writes
IP_FINGERPRINT = "risk.ip_fingerprint"
TOKEN_FINGERPRINT = "risk.token_fingerprint"  # noqa: S105 - a field name, not a secret


@dataclass(frozen=True)
class PaymentFacts:
    """The payment being scored, as far as risk needs it: fingerprints, never raw values."""

    payment_id: str
    customer_id: str
    campaign_id: str
    amount: Money
    token_fingerprint: str
    ip_fingerprint: str | None = None
    ip_country: str | None = None
    customer_country: str | None = None


def risk_subdocument(facts: PaymentFacts, assessment: RiskAssessment) -> Document:
    """The payment document's ``risk`` field: what later payments are counted by, and the
    assessment with its score, level, reasons and signals."""
    return {
        "ip_fingerprint": facts.ip_fingerprint,
        "token_fingerprint": facts.token_fingerprint,
        **assessment.as_document(),
    }


class RiskSignals:
    """Counts and medians over the payments collection for ``risk.assess``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._payments = db[PAYMENTS]

    async def ensure_indexes(self) -> None:
        newest_first = ("created_at", DESCENDING)
        await self._payments.create_indexes(
            [
                IndexModel([("customer_id", 1), newest_first]),
                IndexModel([(IP_FINGERPRINT, 1), newest_first]),
                IndexModel([(TOKEN_FINGERPRINT, 1), newest_first]),
                # created_at too, so the basket's newest-first sample is read in index order.
                IndexModel([("campaign_id", 1), ("status", 1), newest_first]),
            ]
        )

    async def gather(
        self,
        facts: PaymentFacts,
        lookback: Lookback,
        *,
        now: datetime,
        session: AsyncClientSession | None = None,
    ) -> RiskInputs:
        # Half-open windows, (now - window, now]: a payment exactly a window old is out.
        recent = {
            "_id": {"$ne": facts.payment_id},
            "created_at": {"$gt": now - lookback.long_window, "$lte": now},
        }
        within = (recent, now - lookback.short_window)
        customer, customer_declines = await self._counts(
            "customer_id", facts.customer_id, within, session
        )
        token, token_declines = await self._counts(
            TOKEN_FINGERPRINT, facts.token_fingerprint, within, session
        )
        ip = None
        if facts.ip_fingerprint is not None:
            ip, _ = await self._counts(IP_FINGERPRINT, facts.ip_fingerprint, within, session)
        completed = {"status": PaymentStatus.COMPLETED.value, "currency": facts.amount.currency}
        history = await self._median(
            {"customer_id": facts.customer_id, **completed}, lookback.customer_sample, session
        )
        basket = await self._median(
            {"campaign_id": facts.campaign_id, **completed}, lookback.campaign_sample, session
        )
        is_new = history.count == 0 and not await self._has_completed(facts.customer_id, session)
        return RiskInputs(
            amount=facts.amount,
            customer=customer,
            ip=ip,
            token=token,
            customer_history=history,
            campaign_basket=basket,
            customer_is_new=is_new,
            customer_declines=customer_declines,
            token_declines=token_declines,
            ip_country=facts.ip_country,
            customer_country=facts.customer_country,
        )

    async def _counts(
        self,
        key: str,
        value: str,
        within: tuple[Document, datetime],
        session: AsyncClientSession | None,
    ) -> tuple[WindowCounts, int]:
        """Payments by ``key`` in each window, the scored one included, and the declined."""
        recent, short_since = within
        pipeline: list[Document] = [
            {"$match": {key: value, **recent}},
            {
                "$group": {
                    "_id": None,
                    "long": {"$sum": 1},
                    "short": _sum_if({"$gt": ["$created_at", short_since]}),
                    "declined": _sum_if({"$eq": ["$status", PaymentStatus.FAILED.value]}),
                }
            },
        ]
        cursor = await self._payments.aggregate(pipeline, session=session)
        rows = await cursor.to_list()
        row = rows[0] if rows else {"short": 0, "long": 0, "declined": 0}
        return WindowCounts(short=row["short"] + 1, long=row["long"] + 1), row["declined"]

    async def _median(
        self, query: Document, sample: int, session: AsyncClientSession | None
    ) -> AmountHistory:
        cursor = (
            self._payments.find(query, {"amount": 1, "_id": 0}, session=session)
            .sort("created_at", DESCENDING)
            .limit(sample)
        )
        amounts = [document["amount"] async for document in cursor]
        return AmountHistory(len(amounts), statistics.median(amounts) if amounts else None)

    async def _has_completed(self, customer_id: str, session: AsyncClientSession | None) -> bool:
        query = {"customer_id": customer_id, "status": PaymentStatus.COMPLETED.value}
        return await self._payments.find_one(query, {"_id": 1}, session=session) is not None


def _sum_if(condition: Document) -> Document:
    return {"$sum": {"$cond": [condition, 1, 0]}}


@dataclass(frozen=True)
class PaymentRiskScorer:
    """Scores a payment request: fingerprints its IP and token, gathers what the payments
    collection says about them, and assesses it under the policy."""

    signals: RiskSignals
    policy: RiskPolicy
    fingerprint_key: bytes

    async def assess(
        self,
        payment_id: str,
        request: CreatePayment,
        context: RequestContext,
        now: datetime,
    ) -> tuple[RiskAssessment, Document]:
        ip = _normalised_ip(context.ip_address)
        facts = PaymentFacts(
            payment_id=payment_id,
            customer_id=request.customer_id,
            campaign_id=request.campaign_id,
            amount=request.money,
            token_fingerprint=fingerprint(self.fingerprint_key, _token_identity(request)),
            ip_fingerprint=fingerprint(self.fingerprint_key, ip) if ip else None,
            ip_country=context.ip_country,
            customer_country=request.customer_country,
        )
        inputs = await self.signals.gather(facts, self.policy.lookback, now=now)
        assessment = assess(inputs, self.policy)
        return assessment, risk_subdocument(facts, assessment)


def _token_identity(request: CreatePayment) -> str:
    """What token velocity counts by. A processor's shared test token (``pm_card_visa``) is
    used by every test customer alike, so it counts per customer, not across all of them."""
    if request.payment_token in SHARED_TEST_TOKENS:
        return f"{request.customer_id}:{request.payment_token}"
    return request.payment_token


def _normalised_ip(address: str | None) -> str | None:
    """One spelling per address (``::ffff:1.2.3.4`` is ``1.2.3.4``), so velocity counts it once."""
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return parsed.compressed
