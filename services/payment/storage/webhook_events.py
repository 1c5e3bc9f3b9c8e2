"""The processors' webhook deliveries already handled, so a redelivery is recognised."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.storage.mongo import Document
from shared.storage.unit_of_work import ensure_ttl_index

WEBHOOK_EVENTS = "webhook_events"


class WebhookEvents:
    """Webhook deliveries handled, by ``<processor>:<event id>``, kept ``keep_for``."""

    def __init__(self, db: AsyncDatabase[Document], keep_for: timedelta) -> None:
        self._events = db[WEBHOOK_EVENTS]
        self._keep_for = keep_for

    async def ensure_indexes(self) -> None:
        await ensure_ttl_index(self._events, "received_at", self._keep_for)

    async def seen(self, key: str) -> bool:
        return await self._events.find_one({"_id": key}, {"_id": 1}) is not None

    async def record(self, key: str, payment_id: str | None, now: datetime) -> None:
        """Idempotent: a delivery handled twice at once is recorded once."""
        with contextlib.suppress(DuplicateKeyError):
            await self._events.insert_one(
                {"_id": key, "payment_id": payment_id, "received_at": now}
            )
