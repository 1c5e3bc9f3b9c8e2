"""The planner's records: each accepted campaign's plan and current allocation, each rejected
request, and the observed performance of past campaigns per channel."""

from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.planner.domain import ChannelObservation, EmailAudience
from services.planner.response_curves import Observation
from shared.ai.decisions import DecisionLog
from shared.events.campaigns import CampaignPlanned, CampaignRejected
from shared.events.common import Channel
from shared.money import Money
from shared.storage.mongo import Document
from shared.storage.once_per_campaign import OncePerCampaign
from shared.storage.unit_of_work import Transaction


def campaign_plans(
    db: AsyncDatabase[Document], session: AsyncClientSession | None = None
) -> OncePerCampaign[CampaignPlanned]:
    """One plan per campaign id: a campaign id is accepted once."""
    return OncePerCampaign(db, "plans", CampaignPlanned, session)


class Rejections:
    """Invalid requests, by the id of the event that carried them."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._rejections = db["rejections"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._rejections.create_index("campaign_id")

    async def add(self, rejection: CampaignRejected, event_id: str) -> None:
        document = rejection.model_dump(mode="python") | {"_id": event_id}
        await self._rejections.insert_one(document, session=self._session)


# The most recent observations are enough to fit a curve, and keep planning fast.
HISTORY_LIMIT = 3000


class Observations:
    """Per past campaign and channel, its spend and the revenue it earned: the curves' history.

    A campaign's performance is reported again as revenue arrives; the latest report replaces
    the earlier ones, so each campaign counts once per channel.
    """

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._observations = db["observations"]
        self._session = session

    async def record(
        self,
        campaign_id: str,
        as_of: datetime,
        observations: list[ChannelObservation],
    ) -> None:
        for item in observations:
            key = f"{campaign_id}:{item.channel.value}"
            earlier = await self._observations.find_one({"_id": key}, session=self._session)
            if earlier is not None and earlier["as_of"] >= as_of:
                continue  # an older report arriving late changes nothing
            document = {
                "_id": key,
                "campaign_id": campaign_id,
                "channel": item.channel.value,
                "as_of": as_of,
                "spend": item.observation.spend,
                "revenue": item.observation.revenue,
                "price": item.observation.price,
            }
            await self._observations.replace_one(
                {"_id": key}, document, upsert=True, session=self._session
            )

    async def history(self) -> list[ChannelObservation]:
        return [
            ChannelObservation(
                Channel(document["channel"]),
                Observation(
                    spend=document["spend"], revenue=document["revenue"], price=document["price"]
                ),
            )
            async for document in self._observations.find({}).sort("as_of", -1).limit(HISTORY_LIMIT)
        ]


class Audiences:
    """The email audience from the latest segmentation of the customer base."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._audiences = db["audiences"]
        self._session = session

    async def record(self, audience: EmailAudience, as_of: datetime) -> None:
        """Keeps ``audience`` unless a later segmentation was recorded already."""
        recorded = await self._audiences.find_one({"_id": LATEST}, session=self._session)
        if recorded is not None and recorded["as_of"] > as_of:
            return  # segmentations can arrive out of order; the latest base wins
        document = {
            "as_of": as_of,
            "reachable": audience.reachable,
            "expected_purchases": audience.expected_purchases,
            "engagement_by_hour": list(audience.engagement_by_hour),
        }
        await self._audiences.replace_one(
            {"_id": LATEST}, document, upsert=True, session=self._session
        )

    async def latest(self) -> EmailAudience | None:
        document = await self._audiences.find_one({"_id": LATEST})
        if document is None:
            return None
        return EmailAudience(
            document["reachable"],
            document["expected_purchases"],
            tuple(document.get("engagement_by_hour", ())),
        )


LATEST = "latest"


class CurrentAllocations:
    """Each running campaign's allocation as the last optimisation cycle left it, and that
    cycle: the next cycle starts from it, and a cycle is applied once."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._allocations = db["allocations"]
        self._session = session

    async def latest(self, campaign_id: str) -> tuple[dict[Channel, Money], int] | None:
        """The allocation and the cycle that set it; None before the first cycle."""
        document = await self._allocations.find_one({"_id": campaign_id}, session=self._session)
        if document is None:
            return None
        allocation = {
            Channel(channel): Money.model_validate(money)
            for channel, money in document["allocation"].items()
        }
        return allocation, document["cycle"]

    async def record(self, campaign_id: str, allocation: dict[Channel, Money], cycle: int) -> None:
        document = {
            "cycle": cycle,
            "allocation": {c.value: m.model_dump(mode="json") for c, m in allocation.items()},
        }
        await self._allocations.replace_one(
            {"_id": campaign_id}, document, upsert=True, session=self._session
        )


class PlannerTransaction(Transaction):
    """The planner's repositories, bound to one transaction: ``async with uow as tx``."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str
    ) -> None:
        super().__init__(db, session, source)
        self.plans = campaign_plans(db, session)
        self.rejections = Rejections(db, session)
        self.observations = Observations(db, session)
        self.audiences = Audiences(db, session)
        self.allocations = CurrentAllocations(db, session)
        self.decisions = DecisionLog(db, session)
