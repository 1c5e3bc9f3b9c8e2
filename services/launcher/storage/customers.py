"""The launcher's own view of each customer: what it takes to send them email.

Kept from ``customer.upserted`` (never read from another service's database): address,
first name, consent, country and time zone, with the event time it is as of. The newest
event wins whatever order events arrive in: the write is one conditional upsert, so a
redelivered or older event changes nothing and needs no transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.launcher.domain.recipients import Recipient
from shared.events.customers import CustomerUpserted
from shared.storage.mongo import Document


class CustomerProjection:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._customers = db["customers"]

    async def upsert(self, customer: CustomerUpserted, as_of: datetime) -> bool:
        """Keep ``customer`` unless what is stored is as new or newer; True if kept."""
        recipient = Recipient(
            customer_id=customer.customer_id,
            email=customer.email,
            first_name=customer.first_name,
            email_opt_in=customer.email_opt_in,
            country=customer.country,
            timezone=customer.timezone,
            as_of=as_of,
        )
        try:
            result = await self._customers.update_one(
                {"_id": customer.customer_id, "as_of": {"$lt": as_of}},
                {"$set": recipient.model_dump(mode="python")},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # stored and as new or newer: the upsert's insert collided
        return result.modified_count + (1 if result.upserted_id is not None else 0) > 0

    async def count(self) -> int:
        # The collection's own count, not a scan: a whole-collection count_documents is an
        # aggregation, which a large base takes past a server's in-memory budget.
        return await self._customers.estimated_document_count()

    async def find(self, customer_ids: Iterable[str]) -> dict[str, Recipient]:
        cursor = self._customers.find({"_id": {"$in": list(customer_ids)}}, {"_id": 0})
        return {doc["customer_id"]: Recipient.model_validate(doc) async for doc in cursor}
