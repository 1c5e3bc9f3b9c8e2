"""Analytics storage: campaign totals, the payments projection, revenue and what was reported."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics import domain
from services.analytics.domain import CampaignTotals, ProcessorTally
from services.analytics.payment_lines import PaymentLine
from shared.events.campaigns import CampaignPlanned, Segment
from shared.events.common import Channel
from shared.events.envelope import utc_now
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.storage.mongo import Document


class CampaignTotalsRepository:
    """``campaign_totals`` (_id = campaign id) and ``performance_reports`` (the last version sent).

    Derived figures (success rate, average, ROI, conversion) are stored alongside the running
    sums for anyone reading the database; the domain recomputes them, it never reads them.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._totals = db["campaign_totals"]
        self._reports = db["performance_reports"]

    async def get(
        self, campaign_id: str, session: AsyncClientSession | None = None
    ) -> CampaignTotals | None:
        document = await self._totals.find_one({"_id": campaign_id}, session=session)
        return _totals_from(document) if document else None

    async def get_or_start(self, campaign_id: str, session: AsyncClientSession) -> CampaignTotals:
        """The campaign's totals, or empty ones: any of its events may be the first to arrive."""
        return await self.get(campaign_id, session) or CampaignTotals(campaign_id)

    async def save(self, totals: CampaignTotals, session: AsyncClientSession) -> None:
        await self._totals.replace_one(
            {"_id": totals.campaign_id}, _document_of(totals), upsert=True, session=session
        )

    async def changed_since_reported(self) -> list[str]:
        versions = {d["_id"]: d["version"] async for d in self._totals.find({}, {"version": 1})}
        reported = {d["_id"]: d["version"] async for d in self._reports.find({})}
        return sorted(cid for cid, version in versions.items() if reported.get(cid) != version)

    async def mark_reported(
        self, totals: CampaignTotals, at: datetime, session: AsyncClientSession
    ) -> None:
        await self._reports.replace_one(
            {"_id": totals.campaign_id},
            {"version": totals.version, "reported_at": at},
            upsert=True,
            session=session,
        )


class PaymentsRepository:
    """``revenue`` (_id = payment id: one per payment, whatever the event id), ``reversals``
    (_id = refund id: one per refund, however often the payment announces it) and
    ``payments``, the report's row per payment."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._revenue = db["revenue"]
        self._reversals = db["reversals"]
        self._payments = db["payments"]

    async def ensure_indexes(self) -> None:
        await self._payments.create_index([("campaign_id", 1), ("created_at", 1)])
        await self._reversals.create_index([("payment_id", 1), ("reversed_at", 1)])

    async def revenue_recorded(self, payment_id: str, session: AsyncClientSession) -> bool:
        found = await self._revenue.find_one({"_id": payment_id}, {"_id": 1}, session=session)
        return found is not None

    async def revenue_of(
        self, payment_id: str, session: AsyncClientSession
    ) -> RevenueRecorded | None:
        document = await self._revenue.find_one({"_id": payment_id}, session=session)
        return RevenueRecorded.model_validate(document) if document else None

    async def reversals_of(
        self, payment_id: str, session: AsyncClientSession
    ) -> list[RevenueReversed]:
        cursor = self._reversals.find({"payment_id": payment_id}, session=session)
        return [RevenueReversed.model_validate(document) async for document in cursor]

    async def add_reversal(self, reversal: RevenueReversed, session: AsyncClientSession) -> None:
        document = reversal.model_dump(mode="python")
        document["_id"] = reversal.refund_id
        await self._reversals.insert_one(document, session=session)

    async def add_revenue(self, revenue: RevenueRecorded, session: AsyncClientSession) -> None:
        document = revenue.model_dump(mode="python")
        document["_id"] = revenue.payment_id
        await self._revenue.insert_one(document, session=session)

    async def is_known(self, payment_id: str, session: AsyncClientSession) -> bool:
        found = await self._payments.find_one({"_id": payment_id}, {"_id": 1}, session=session)
        return found is not None

    async def project(
        self, campaign_id: str, line: PaymentLine, session: AsyncClientSession
    ) -> None:
        document = line.model_dump(mode="python") | {"campaign_id": campaign_id}
        await self._payments.replace_one(
            {"_id": line.payment_id},
            document | {"_id": line.payment_id},
            upsert=True,
            session=session,
        )

    async def line_of(self, payment_id: str, session: AsyncClientSession) -> PaymentLine | None:
        document = await self._payments.find_one({"_id": payment_id}, session=session)
        return PaymentLine.model_validate(document) if document else None

    async def for_campaign(self, campaign_id: str) -> list[PaymentLine]:
        cursor = self._payments.find({"campaign_id": campaign_id}).sort("created_at", 1)
        return [PaymentLine.model_validate(document) async for document in cursor]


def _document_of(totals: CampaignTotals) -> Document:
    return {
        "_id": totals.campaign_id,
        "currency": totals.currency,
        "gross": totals.gross,
        "fees": totals.fees,
        "net": totals.net,
        "payments_completed": totals.payments_completed,
        "payments_failed": totals.payments_failed,
        "refunded": totals.refunded,
        "payments_refunded": totals.payments_refunded,
        "processor_mix": [
            {"processor": name, "count": tally.count, "gross": tally.gross}
            for name, tally in totals.processors.items()
        ],
        "plan": totals.plan.model_dump(mode="python") if totals.plan else None,
        "segments": [segment.model_dump(mode="python") for segment in totals.segments],
        "reach": {channel.value: count for channel, count in totals.reach.items()},
        "total_reach": totals.total_reach,
        "ai_costs": totals.ai_costs,
        "ai_cost": totals.ai_cost,
        "success_rate": domain.success_rate(totals),
        "average_transaction": domain.average_transaction(totals).amount,
        "roi": domain.actual_roi(totals),
        "conversion_rate": domain.conversion_rate(totals),
        "version": totals.version + 1,
        "updated_at": utc_now(),
    }


def _totals_from(document: Document) -> CampaignTotals:
    return CampaignTotals(
        campaign_id=document["_id"],
        currency=document.get("currency"),
        gross=document.get("gross", Decimal(0)),
        fees=document.get("fees", Decimal(0)),
        net=document.get("net", Decimal(0)),
        payments_completed=document.get("payments_completed", 0),
        payments_failed=document.get("payments_failed", 0),
        refunded=document.get("refunded", Decimal(0)),
        payments_refunded=document.get("payments_refunded", 0),
        processors={
            share["processor"]: ProcessorTally(share["count"], share["gross"])
            for share in document.get("processor_mix", [])
        },
        plan=CampaignPlanned.model_validate(document["plan"]) if document.get("plan") else None,
        segments=[Segment.model_validate(s) for s in document.get("segments", [])],
        reach={Channel(channel): count for channel, count in document.get("reach", {}).items()},
        total_reach=document.get("total_reach", 0),
        ai_costs=dict(document.get("ai_costs", {})),
        version=document.get("version", 0),
    )
