"""The launcher's own view of each customer: what it takes to send them email.

Kept from ``customer.upserted`` (never read from another service's database): address,
first name, consent, country and time zone, with the event time it is as of. The newest
event wins whatever order events arrive in (``shared/storage/newest.py``): an older or a
redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.launcher.domain.recipients import Recipient
from shared.events.customers import CustomerUpserted
from shared.storage.mongo import Document
from shared.storage.newest import Version, keep_newest


class CustomerProjection:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._customers = db["customers"]
        self._session = session

    async def keep_newest(self, updates: Iterable[tuple[CustomerUpserted, datetime]]) -> int:
        """Keep each customer's newest update unless a newer one is stored; how many were
        written."""
        versions = (
            Version(customer.customer_id, as_of, _recipient(customer, as_of))
            for customer, as_of in updates
        )
        return await keep_newest(self._customers, versions, session=self._session)

    async def count(self) -> int:
        # The collection's own count, not a scan: a whole-collection count_documents is an
        # aggregation, which a large base takes past a server's in-memory budget.
        return await self._customers.estimated_document_count()

    async def find(self, customer_ids: Iterable[str]) -> dict[str, Recipient]:
        cursor = self._customers.find({"_id": {"$in": list(customer_ids)}}, {"_id": 0})
        return {doc["customer_id"]: Recipient.model_validate(doc) async for doc in cursor}


def _recipient(customer: CustomerUpserted, as_of: datetime) -> Document:
    recipient = Recipient(
        customer_id=customer.customer_id,
        email=customer.email,
        first_name=customer.first_name,
        email_opt_in=customer.email_opt_in,
        country=customer.country,
        timezone=customer.timezone,
        as_of=as_of,
    )
    return recipient.model_dump(mode="python")
