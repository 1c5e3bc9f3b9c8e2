"""Each launched campaign's email waves (``_id`` = campaign id), and its queued deliveries.

A campaign's waves are opened when its launch is reported (wave 0 is out). Each release is
decided once, in a transaction that moves ``next`` on only from the wave it read, and writes
the wave's weights to ``pending``; the queued deliveries of a pending wave are then given
their variants in batches, each write conditional on the delivery still being queued, so a
release interrupted by a crash is finished by the next round and nobody's variant changes.
The evaluation cycles already seen are kept, so one evaluation releases at most one wave.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.launcher.domain.deliveries import Delivery, DeliveryStatus, SkipReason
from shared.storage.mongo import Document

type SegmentWeights = dict[str, dict[str, float]]
RELEASED_FIELDS = ("variant_id", "status", "skip_reason", "send_at", "updated_at")


@dataclass(frozen=True)
class WaveState:
    campaign_id: str
    waves: int
    next: int
    released_at: datetime
    ends_at: datetime
    cycles: frozenset[int]
    last_weights: SegmentWeights | None
    last_cycle: int | None
    pending: dict[int, SegmentWeights]

    @property
    def unreleased(self) -> list[int]:
        return list(range(self.next, self.waves))


class Waves:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._waves = db["waves"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._waves.create_index("done")

    async def open(self, campaign_id: str, waves: int, now: datetime, ends_at: datetime) -> None:
        """Wave 0 is out at ``now``; the rest wait. Opening twice changes nothing."""
        document = {
            "_id": campaign_id,
            "waves": waves,
            "next": 1,
            "released_at": now,
            "ends_at": ends_at,
            "cycles": [],
            "last_weights": None,
            "last_cycle": None,
            "pending": {},
            "done": waves <= 1,
        }
        with contextlib.suppress(DuplicateKeyError):
            await self._waves.insert_one(document, session=self._session)

    async def get(self, campaign_id: str) -> WaveState | None:
        document = await self._waves.find_one({"_id": campaign_id}, session=self._session)
        return _state(document) if document else None

    async def unfinished(self) -> list[WaveState]:
        cursor = self._waves.find({"done": False}, session=self._session)
        return [_state(document) async for document in cursor]

    async def evaluated(self, campaign_id: str, cycle: int, weights: SegmentWeights) -> None:
        """Remember an evaluation's cycle and its weights: the timeout releases with them."""
        await self._waves.update_one(
            {"_id": campaign_id},
            {
                "$addToSet": {"cycles": cycle},
                "$set": {"last_weights": weights, "last_cycle": cycle},
            },
            session=self._session,
        )

    async def release(
        self, campaign_id: str, wave: int, weights: SegmentWeights, now: datetime
    ) -> bool:
        """Mark ``wave`` released with ``weights``, if it is still the next; whether it was."""
        result = await self._waves.update_one(
            {"_id": campaign_id, "next": wave},
            {
                "$set": {"released_at": now, f"pending.{wave}": weights},
                "$inc": {"next": 1},
            },
            session=self._session,
        )
        return result.modified_count == 1

    async def applied(self, campaign_id: str, wave: int) -> None:
        """Every delivery of ``wave`` has its variant (or was sent nothing)."""
        await self._waves.update_one(
            {"_id": campaign_id}, {"$unset": {f"pending.{wave}": ""}}, session=self._session
        )
        state = await self.get(campaign_id)
        if state is not None and not state.pending and not state.unreleased:
            await self._waves.update_one(
                {"_id": campaign_id}, {"$set": {"done": True}}, session=self._session
            )

    async def close(self, campaign_id: str) -> None:
        """The campaign ended: no wave is released any more."""
        await self._waves.update_one(
            {"_id": campaign_id},
            {"$set": {"done": True, "pending": {}}},
            session=self._session,
        )


class QueuedDeliveries:
    """A campaign's email deliveries waiting for their wave (in the ``deliveries`` ledger)."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._deliveries = db["deliveries"]
        self._session = session

    def _queued(self, campaign_id: str, waves: Sequence[int]) -> Document:
        return {
            "campaign_id": campaign_id,
            "status": DeliveryStatus.QUEUED.value,
            "wave": {"$in": list(waves)},
        }

    async def count(self, campaign_id: str, waves: Sequence[int]) -> int:
        return await self._deliveries.count_documents(
            self._queued(campaign_id, waves), session=self._session
        )

    async def batch(self, campaign_id: str, wave: int, limit: int) -> list[Delivery]:
        cursor = self._deliveries.find(
            self._queued(campaign_id, [wave]), limit=limit, session=self._session
        )
        return [Delivery.model_validate(document) async for document in cursor]

    async def released(self, deliveries: Sequence[Delivery]) -> None:
        """Write what a release gave each delivery, if it is still queued."""
        if not deliveries:
            return
        await self._deliveries.bulk_write(
            [
                UpdateOne(
                    {"_id": delivery.id, "status": DeliveryStatus.QUEUED.value},
                    {"$set": delivery.model_dump(mode="python", include=set(RELEASED_FIELDS))},
                )
                for delivery in deliveries
            ],
            ordered=False,
            session=self._session,
        )

    async def skip_all(self, campaign_id: str, reason: SkipReason, now: datetime) -> int:
        result = await self._deliveries.update_many(
            {"campaign_id": campaign_id, "status": DeliveryStatus.QUEUED.value},
            {
                "$set": {
                    "status": DeliveryStatus.SKIPPED.value,
                    "skip_reason": reason.value,
                    "send_at": None,
                    "updated_at": now,
                }
            },
            session=self._session,
        )
        return result.modified_count


def _state(document: Document) -> WaveState:
    return WaveState(
        campaign_id=document["_id"],
        waves=document["waves"],
        next=document["next"],
        released_at=document["released_at"],
        ends_at=document["ends_at"],
        cycles=frozenset(document["cycles"]),
        last_weights=document["last_weights"],
        last_cycle=document["last_cycle"],
        pending={int(wave): weights for wave, weights in document["pending"].items()},
    )
