"""Analytics storage: campaign totals and what was reported, and the transaction that binds
every analytics repository.

Each repository works inside a transaction when given its session (``AnalyticsTransaction``
binds them), and reads outside one otherwise (the report API, the jobs).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics import figures
from services.analytics.domain import CampaignTotals, ChannelTally, CurrencyTotals, ProcessorTally
from services.analytics.journey_store import (
    AdSetsRepository,
    ClicksRepository,
    JourneysRepository,
)
from services.analytics.optimisation_store import (
    AdjustmentsRepository,
    EvaluationsRepository,
    ReallocationsRepository,
)
from services.analytics.parked_payments import ParkedPayments
from services.analytics.payment_store import PaymentsRepository, PaymentStarts
from shared.ai.decisions import DecisionLog
from shared.events.campaigns import CampaignLaunched, CampaignPlanned, Segment
from shared.events.common import Channel
from shared.events.envelope import utc_now
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

    async def get_or_start_many(self, campaign_ids: Collection[str]) -> dict[str, CampaignTotals]:
        """``get_or_start`` for many campaigns, in one read."""
        found = self._totals.find({"_id": {"$in": list(campaign_ids)}}, session=self._session)
        stored = {document["_id"]: _totals_from(document) async for document in found}
        return {cid: stored.get(cid) or CampaignTotals(cid) for cid in campaign_ids}

    async def save_many(self, totals: Collection[CampaignTotals]) -> None:
        """``save`` for many campaigns, in one write."""
        if totals:
            writes = [
                ReplaceOne({"_id": t.campaign_id}, _document_of(t), upsert=True) for t in totals
            ]
            await self._totals.bulk_write(writes, session=self._session)

    async def launched(self) -> list[CampaignTotals]:
        """Every campaign whose campaign.launched arrived."""
        cursor = self._totals.find({"launch": {"$ne": None}}, session=self._session)
        return [_totals_from(document) async for document in cursor]

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


class AnalyticsTransaction(Transaction):
    """Analytics' repositories, bound to one transaction: ``async with uow as tx``."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str
    ) -> None:
        super().__init__(db, session, source)
        self.campaigns = CampaignTotalsRepository(db, session)
        self.payments = PaymentsRepository(db, session)
        self.starts = PaymentStarts(db, session)
        self.parked = ParkedPayments(db, session)
        self.journeys = JourneysRepository(db, session)
        self.clicks = ClicksRepository(db, session)
        self.ad_sets = AdSetsRepository(db, session)
        self.evaluations = EvaluationsRepository(db, session)
        self.reallocations = ReallocationsRepository(db, session)
        self.adjustments = AdjustmentsRepository(db, session)
        self.decisions = DecisionLog(db, session)


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
        "trace": totals.trace,
        "segments": [segment.model_dump(mode="python") for segment in totals.segments],
        "reach": {channel.value: count for channel, count in totals.reach.items()},
        "total_reach": totals.total_reach,
        "launch": totals.launch.model_dump(mode="python") if totals.launch else None,
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
        "channels": {
            channel.value: {"gross": tally.gross, "net": tally.net}
            for channel, tally in sums.channels.items()
        },
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
        channels={
            Channel(channel): ChannelTally(tally["gross"], tally["net"])
            for channel, tally in document.get("channels", {}).items()
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
        trace=document.get("trace"),
        segments=[Segment.model_validate(s) for s in document.get("segments", [])],
        reach={Channel(channel): count for channel, count in document.get("reach", {}).items()},
        total_reach=document.get("total_reach", 0),
        launch=CampaignLaunched.model_validate(launch)
        if (launch := document.get("launch"))
        else None,
        ai_costs=dict(document.get("ai_costs", {})),
        version=document.get("version", 0),
    )


def _launch_from(document: Document | None) -> CampaignLaunched | None:
    return CampaignLaunched.model_validate(document) if document else None
