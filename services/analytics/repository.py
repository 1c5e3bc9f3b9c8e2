"""Analytics storage: campaign totals, the payments projection, revenue and what was reported.

Each repository works inside a transaction when given its session (``AnalyticsTransaction``
binds them), and reads outside one otherwise (the report API, the performance schedule).
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics import figures
from services.analytics.domain import CampaignTotals, CurrencyTotals, ProcessorTally
from services.analytics.payment_lines import PaymentLine
from shared.events.campaigns import CampaignPlanned, Segment
from shared.events.common import Channel
from shared.events.envelope import utc_now
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.storage.mongo import Document
from shared.storage.unit_of_work import Transaction


class CampaignTotalsRepository:
    """``campaign_totals`` (_id = campaign id) and ``performance_reports`` (the last version sent).

    Derived figures (success rate, average, ROI, conversion) are stored alongside the running
    sums for anyone reading the database; the domain recomputes them, it never reads them.
    """

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._totals = db["campaign_totals"]
        self._reports = db["performance_reports"]
        self._session = session

    async def get(self, campaign_id: str) -> CampaignTotals | None:
        document = await self._totals.find_one({"_id": campaign_id}, session=self._session)
        return _totals_from(document) if document else None

    async def get_or_start(self, campaign_id: str) -> CampaignTotals:
        """The campaign's totals, or empty ones: any of its events may be the first to arrive."""
        return await self.get(campaign_id) or CampaignTotals(campaign_id)

    async def save(self, totals: CampaignTotals) -> None:
        await self._totals.replace_one(
            {"_id": totals.campaign_id}, _document_of(totals), upsert=True, session=self._session
        )

    async def changed_since_reported(self) -> list[str]:
        find = self._totals.find({}, {"version": 1}, session=self._session)
        versions = {d["_id"]: d["version"] async for d in find}
        reported = {d["_id"]: d["version"] async for d in self._reports.find({})}
        return sorted(cid for cid, version in versions.items() if reported.get(cid) != version)

    async def mark_reported(self, totals: CampaignTotals, at: datetime) -> None:
        await self._reports.replace_one(
            {"_id": totals.campaign_id},
            {"version": totals.version, "reported_at": at},
            upsert=True,
            session=self._session,
        )


class PaymentsRepository:
    """``revenue`` (_id = payment id: one per payment, whatever the event id), ``reversals``
    (_id = refund id: one per refund, however often it is announced) and ``payments``, the
    report's row per payment."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._revenue = db["revenue"]
        self._reversals = db["reversals"]
        self._payments = db["payments"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._payments.create_index([("campaign_id", 1), ("occurred_at", 1)])
        await self._reversals.create_index([("payment_id", 1), ("reversed_at", 1)])

    async def revenue_recorded(self, payment_id: str) -> bool:
        found = await self._revenue.find_one({"_id": payment_id}, {"_id": 1}, session=self._session)
        return found is not None

    async def revenue_of(self, payment_id: str) -> RevenueRecorded | None:
        document = await self._revenue.find_one({"_id": payment_id}, session=self._session)
        return RevenueRecorded.model_validate(document) if document else None

    async def add_revenue(self, revenue: RevenueRecorded) -> None:
        document = revenue.model_dump(mode="python") | {"_id": revenue.payment_id}
        await self._revenue.insert_one(document, session=self._session)

    async def reversals_of(self, payment_id: str) -> list[RevenueReversed]:
        cursor = self._reversals.find({"payment_id": payment_id}, session=self._session)
        return [RevenueReversed.model_validate(document) async for document in cursor]

    async def add_reversal(self, reversal: RevenueReversed) -> None:
        document = reversal.model_dump(mode="python") | {"_id": reversal.refund_id}
        await self._reversals.insert_one(document, session=self._session)

    async def is_known(self, payment_id: str) -> bool:
        found = await self._payments.find_one(
            {"_id": payment_id}, {"_id": 1}, session=self._session
        )
        return found is not None

    async def project(self, campaign_id: str, line: PaymentLine) -> None:
        document = line.model_dump(mode="python") | {"campaign_id": campaign_id}
        await self._payments.replace_one(
            {"_id": line.payment_id},
            document | {"_id": line.payment_id},
            upsert=True,
            session=self._session,
        )

    async def line_of(self, payment_id: str) -> PaymentLine | None:
        document = await self._payments.find_one({"_id": payment_id}, session=self._session)
        return PaymentLine.model_validate(document) if document else None

    async def for_campaign(self, campaign_id: str) -> list[PaymentLine]:
        cursor = self._payments.find({"campaign_id": campaign_id}, session=self._session)
        return [PaymentLine.model_validate(d) async for d in cursor.sort("occurred_at", 1)]


class AnalyticsTransaction(Transaction):
    """Analytics' repositories, bound to one transaction: ``async with uow as tx``."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str
    ) -> None:
        super().__init__(db, session, source)
        self.campaigns = CampaignTotalsRepository(db, session)
        self.payments = PaymentsRepository(db, session)


def _document_of(totals: CampaignTotals) -> Document:
    return {
        "_id": totals.campaign_id,
        "first_currency": totals.first_currency,
        "currencies": {
            currency: _sums_document(sums) for currency, sums in totals.currencies.items()
        },
        "reporting_currency": totals.reporting_currency,
        "payments_completed": totals.payments_completed,
        "payments_failed": totals.payments_failed,
        "payments_refunded": totals.payments_refunded,
        "plan": totals.plan.model_dump(mode="python") if totals.plan else None,
        "segments": [segment.model_dump(mode="python") for segment in totals.segments],
        "reach": {channel.value: count for channel, count in totals.reach.items()},
        "total_reach": totals.total_reach,
        "ai_costs": totals.ai_costs,
        "ai_cost": totals.ai_cost,
        "success_rate": figures.success_rate(totals),
        "average_transaction": figures.average_transaction(totals).amount,
        "roi": figures.actual_roi(totals),
        "conversion_rate": figures.conversion_rate(totals),
        "version": totals.version + 1,
        "updated_at": utc_now(),
    }


def _sums_document(sums: CurrencyTotals) -> Document:
    return {
        "gross": sums.gross,
        "fees": sums.fees,
        "net": sums.net,
        "refunded": sums.refunded,
        "payments_completed": sums.payments_completed,
        "processor_mix": [
            {"processor": name, "count": tally.count, "gross": tally.gross}
            for name, tally in sums.processors.items()
        ],
    }


def _sums_from(document: Document) -> CurrencyTotals:
    return CurrencyTotals(
        gross=document["gross"],
        fees=document["fees"],
        net=document["net"],
        refunded=document["refunded"],
        payments_completed=document["payments_completed"],
        processors={
            share["processor"]: ProcessorTally(share["count"], share["gross"])
            for share in document["processor_mix"]
        },
    )


def _totals_from(document: Document) -> CampaignTotals:
    return CampaignTotals(
        campaign_id=document["_id"],
        first_currency=document.get("first_currency"),
        currencies={
            currency: _sums_from(sums) for currency, sums in document.get("currencies", {}).items()
        },
        payments_failed=document.get("payments_failed", 0),
        payments_refunded=document.get("payments_refunded", 0),
        plan=CampaignPlanned.model_validate(document["plan"]) if document.get("plan") else None,
        segments=[Segment.model_validate(s) for s in document.get("segments", [])],
        reach={Channel(channel): count for channel, count in document.get("reach", {}).items()},
        total_reach=document.get("total_reach", 0),
        ai_costs=dict(document.get("ai_costs", {})),
        version=document.get("version", 0),
    )
