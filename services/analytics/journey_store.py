"""Analytics' engagement storage: journeys, clicks by click id, and the ad sets' reports.

``journeys`` (_id = campaign|person) are the campaign's record and are kept; ``clicks``
(_id = click id) only serve to find the click a payment names, so a TTL index drops them a
day after the lookback window has passed (the rule refuses older clicks anyway, so when the
TTL monitor runs never changes an attribution).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import timedelta

from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.analytics.journeys import Journey, Touch, customer_person
from shared.events.engagement import AdsReported
from shared.storage.mongo import Document
from shared.storage.unit_of_work import ensure_ttl_index

# Past the lookback window, for payments consumed late (a backlog, a parked payment).
CLICK_KEPT_BEYOND_LOOKBACK = timedelta(days=1)


class JourneysRepository:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._journeys = db["journeys"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._journeys.create_index("campaign_id")

    async def get(self, campaign_id: str, person: str) -> Journey | None:
        document = await self._journeys.find_one(
            {"_id": f"{campaign_id}|{person}"}, session=self._session
        )
        return Journey.model_validate(document) if document else None

    async def of_customer(self, campaign_id: str, customer_id: str) -> Journey:
        """The customer's journey, or an empty one: any of its events may come first."""
        found = await self.get(campaign_id, customer_person(customer_id))
        return found or Journey.of_customer(campaign_id, customer_id)

    async def save(self, journey: Journey) -> None:
        document = journey.model_dump(mode="python") | {"_id": journey.id}
        await self._journeys.replace_one(
            {"_id": journey.id}, document, upsert=True, session=self._session
        )

    async def of_customers(self, wanted: Collection[tuple[str, str]]) -> dict[str, Journey]:
        """``of_customer`` for many (campaign id, customer id) pairs in one read, by journey id."""
        journeys = {
            (journey := Journey.of_customer(cid, customer_id)).id: journey
            for cid, customer_id in wanted
        }
        found = self._journeys.find({"_id": {"$in": list(journeys)}}, session=self._session)
        async for document in found:
            journeys[document["_id"]] = Journey.model_validate(document)
        return journeys

    async def save_many(self, journeys: Collection[Journey]) -> None:
        """``save`` for many journeys, in one write."""
        if journeys:
            writes = [
                ReplaceOne({"_id": j.id}, j.model_dump(mode="python") | {"_id": j.id}, upsert=True)
                for j in journeys
            ]
            await self._journeys.bulk_write(writes, session=self._session)

    async def delete(self, journey: Journey) -> None:
        await self._journeys.delete_one({"_id": journey.id}, session=self._session)

    async def of_campaign(self, campaign_id: str) -> AsyncIterator[Journey]:
        async for document in self._journeys.find({"campaign_id": campaign_id}):
            yield Journey.model_validate(document)


class ClicksRepository:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._clicks = db["clicks"]
        self._session = session

    async def ensure_indexes(self, lookback: timedelta) -> None:
        await ensure_ttl_index(self._clicks, "at", lookback + CLICK_KEPT_BEYOND_LOOKBACK)

    async def get(self, click_id: str) -> Touch | None:
        document = await self._clicks.find_one({"_id": click_id}, session=self._session)
        return Touch.model_validate(document) if document else None

    async def get_many(self, click_ids: Collection[str]) -> dict[str, Touch]:
        """The clicks of ``click_ids`` that were seen, by click id, in one read."""
        if not click_ids:
            return {}
        found = self._clicks.find({"_id": {"$in": list(click_ids)}}, session=self._session)
        return {document["_id"]: Touch.model_validate(document) async for document in found}

    async def add(self, click: Touch) -> bool:
        """False when the click was recorded already (re-published under a new event id)."""
        document = click.model_dump(mode="python") | {"_id": click.key}
        try:
            await self._clicks.insert_one(document, session=self._session)
        except DuplicateKeyError:
            return False
        return True

    async def claim(self, click: Touch, customer_id: str) -> Touch:
        """The ad click, now known to be ``customer_id``'s."""
        await self._clicks.update_one(
            {"_id": click.key}, {"$set": {"customer_id": customer_id}}, session=self._session
        )
        return click.claimed_by(customer_id)


class AdSetsRepository:
    """``ad_sets`` (_id = ad set id): the latest of each ad set's running totals."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._ad_sets = db["ad_sets"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._ad_sets.create_index("campaign_id")

    async def record(self, report: AdsReported) -> None:
        """Keep ``report`` unless a later one is kept already (reports may arrive late)."""
        earlier = await self._ad_sets.find_one(
            {"_id": report.ad_set_id}, {"as_of": 1}, session=self._session
        )
        if earlier is not None and earlier["as_of"] >= report.as_of:
            return
        document = report.model_dump(mode="python") | {"_id": report.ad_set_id}
        await self._ad_sets.replace_one(
            {"_id": report.ad_set_id}, document, upsert=True, session=self._session
        )

    async def of_campaign(self, campaign_id: str) -> list[AdsReported]:
        cursor = self._ad_sets.find({"campaign_id": campaign_id}, session=self._session)
        return [AdsReported.model_validate(document) async for document in cursor]
