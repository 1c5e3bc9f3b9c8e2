"""Analytics' payment storage: revenue and refunds per payment, the report's row per payment,
and when each payment started.

Each repository works inside a transaction when given its session, and reads outside one
otherwise (the report API, the jobs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from services.analytics.conversions import Conversion
from services.analytics.journeys import Touch
from services.analytics.payment_lines import PaymentLine
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.money import Money
from shared.storage.mongo import Document, is_duplicate_key
from shared.storage.unit_of_work import WriteConflictError


class PaymentsRepository:
    """``revenue`` (_id = payment id: one per payment, whatever the event id; with the path
    its attribution rests on), ``reversals`` (_id = refund id: one per refund, however often
    it is announced) and ``payments``, the report's row per payment."""

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
        await self._revenue.create_index("campaign_id")
        await self._reversals.create_index("campaign_id")

    async def revenue_recorded(self, payment_id: str) -> bool:
        found = await self._revenue.find_one({"_id": payment_id}, {"_id": 1}, session=self._session)
        return found is not None

    async def revenue_of(self, payment_id: str) -> RevenueRecorded | None:
        document = await self._revenue.find_one({"_id": payment_id}, session=self._session)
        return RevenueRecorded.model_validate(document) if document else None

    async def add_revenue(
        self, revenue: RevenueRecorded, paid_at: datetime, path: Sequence[Touch]
    ) -> None:
        document = _revenue_document(revenue, paid_at, path)
        await self._revenue.insert_one(document, session=self._session)

    async def recorded_among(self, payment_ids: Collection[str]) -> set[str]:
        """Which of ``payment_ids`` have their revenue recorded."""
        return await _found_among(self._revenue, payment_ids, self._session)

    async def add_revenues(self, recorded: Sequence[RecordedRevenue]) -> None:
        """``add_revenue`` for many payments, in one write. A payment recorded meanwhile by
        another transaction (its refund's) is a write conflict: the caller runs again."""
        if not recorded:
            return
        rows = [_revenue_document(*one) for one in recorded]
        try:
            await self._revenue.insert_many(rows, session=self._session)
        except PyMongoError as error:
            if is_duplicate_key(error):
                raise WriteConflictError(f"revenue recorded concurrently: {error}") from error
            raise

    async def reversals_of(self, payment_id: str) -> list[RevenueReversed]:
        cursor = self._reversals.find({"payment_id": payment_id}, session=self._session)
        return [RevenueReversed.model_validate(document) async for document in cursor]

    async def add_reversal(self, reversal: RevenueReversed) -> None:
        document = reversal.model_dump(mode="python") | {"_id": reversal.refund_id}
        await self._reversals.insert_one(document, session=self._session)

    async def conversions_of(self, campaign_id: str) -> list[Conversion]:
        """The campaign's completed payments, each less what its refunds took back."""
        taken: dict[str, list[RevenueReversed]] = defaultdict(list)
        async for document in self._reversals.find({"campaign_id": campaign_id}):
            reversal = RevenueReversed.model_validate(document)
            taken[reversal.payment_id].append(reversal)
        cursor = self._revenue.find({"campaign_id": campaign_id}).sort("paid_at", 1)
        return [_conversion(document, taken[document["_id"]]) async for document in cursor]

    async def is_known(self, payment_id: str) -> bool:
        found = await self._payments.find_one(
            {"_id": payment_id}, {"_id": 1}, session=self._session
        )
        return found is not None

    async def known_among(self, payment_ids: Collection[str]) -> set[str]:
        """Which of ``payment_ids`` have a row in the report."""
        return await _found_among(self._payments, payment_ids, self._session)

    async def project(self, campaign_id: str, line: PaymentLine) -> None:
        await self.project_many([(campaign_id, line)])

    async def project_many(self, lines: Sequence[tuple[str, PaymentLine]]) -> None:
        """Each payment's row in its campaign's report, written in one command."""
        if not lines:
            return
        writes = [
            ReplaceOne(
                {"_id": line.payment_id},
                line.model_dump(mode="python") | {"campaign_id": cid, "_id": line.payment_id},
                upsert=True,
            )
            for cid, line in lines
        ]
        await self._payments.bulk_write(writes, session=self._session)

    async def line_of(self, payment_id: str) -> PaymentLine | None:
        document = await self._payments.find_one({"_id": payment_id}, session=self._session)
        return PaymentLine.model_validate(document) if document else None

    async def for_campaign(self, campaign_id: str) -> list[PaymentLine]:
        cursor = self._payments.find({"campaign_id": campaign_id}, session=self._session)
        return [PaymentLine.model_validate(d) async for d in cursor.sort("occurred_at", 1)]


class RecordedRevenue(NamedTuple):
    """What ``add_revenues`` stores of one payment: its revenue, when it was paid and the
    path its attribution rests on."""

    revenue: RevenueRecorded
    paid_at: datetime
    path: Sequence[Touch]


def _revenue_document(
    revenue: RevenueRecorded, paid_at: datetime, path: Sequence[Touch]
) -> Document:
    return revenue.model_dump(mode="python") | {
        "_id": revenue.payment_id,
        "paid_at": paid_at,
        "path": [touch.model_dump(mode="python") for touch in path],
    }


async def _found_among(
    collection: AsyncCollection[Document], ids: Collection[str], session: AsyncClientSession | None
) -> set[str]:
    if not ids:
        return set()
    cursor = collection.find({"_id": {"$in": list(ids)}}, {"_id": 1}, session=session)
    return {document["_id"] async for document in cursor}


def _conversion(document: Document, reversals: list[RevenueReversed]) -> Conversion:
    revenue = RevenueRecorded.model_validate(document)

    def less(money: Money, taken: Decimal) -> Money:
        return Money.of(money.amount - taken, money.currency)

    return Conversion(
        payment_id=revenue.payment_id,
        customer_id=revenue.customer_id,
        campaign_id=revenue.campaign_id,
        processor=revenue.processor,
        paid_at=document.get("paid_at") or revenue.recorded_at,
        attribution=revenue.attribution,
        click_id=revenue.click_id,
        path=tuple(Touch.model_validate(touch) for touch in document.get("path", [])),
        gross=less(revenue.gross, sum((r.gross.amount for r in reversals), Decimal(0))),
        fee=less(revenue.fee, sum((r.fee.amount for r in reversals), Decimal(0))),
        net=less(revenue.net, sum((r.net.amount for r in reversals), Decimal(0))),
    )


class PaymentStarts:
    """``payment_starts`` (_id = payment id): when each payment was initiated, for the time
    its processing took. The payment events carry no latency of their own."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._starts = db["payment_starts"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._starts.create_index("campaign_id")

    async def record(self, payment_id: str, campaign_id: str, at: datetime) -> None:
        await self._starts.update_one(
            {"_id": payment_id},
            {"$setOnInsert": {"campaign_id": campaign_id, "at": at}},
            upsert=True,
            session=self._session,
        )

    async def for_payments(self, payment_ids: Sequence[str]) -> dict[str, datetime]:
        cursor = self._starts.find({"_id": {"$in": list(payment_ids)}}, session=self._session)
        return {document["_id"]: document["at"] async for document in cursor}
