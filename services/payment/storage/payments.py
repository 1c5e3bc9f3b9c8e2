"""The payment records: stored with their request data sealed, saved against their
revision, listed newest first a page at a time.

Idempotency keys are stored by ``idempotency_keys``, handled webhook deliveries by
``webhook_events``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.storage.field_encryption import Keyring, seal, unseal
from shared.events.payments import PaymentRecord, PaymentStatus
from shared.storage.mongo import Document


class InvalidCursorError(ValueError):
    """A cursor this service did not hand out."""


@dataclass(frozen=True)
class PaymentQuery:
    limit: int
    campaign_id: str | None = None
    customer_id: str | None = None
    status: PaymentStatus | None = None
    cursor: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[PaymentRecord]
    next_cursor: str | None


def _encode_cursor(last: PaymentRecord) -> str:
    raw = json.dumps([last.created_at.isoformat(), last.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, last_id = json.loads(raw)
        return datetime.fromisoformat(at), str(last_id)
    except (ValueError, TypeError) as error:
        raise InvalidCursorError("cursor is not one this API returned") from error


class StaleRecordError(Exception):
    """The payment changed since it was read: re-read it and decide again."""


# Sealed at rest, field by field; the AES-GCM context binds each value to its payment and
# field, so a ciphertext copied elsewhere does not decrypt.
SEALED_FIELDS = ("ip_address", "user_agent")
TOKEN = "payment_token"  # noqa: S105 - a field name, not a secret


class Payments:
    """One document per payment, ``_id`` = ``id``; amounts as Decimal128.

    The request's IP address and user agent, and the processor token (kept to charge a
    payment a reviewer approves later), are stored encrypted and only ever decrypted here.
    Writes after the first are checked against ``revision``, so a change made from a stale
    copy raises ``StaleRecordError`` instead of overwriting a newer one. Fields this class
    does not own (the risk fingerprints) are never touched by a save.
    """

    def __init__(self, db: AsyncDatabase[Document], keyring: Keyring) -> None:
        self._payments = db["payments"]
        self._keyring = keyring

    async def ensure_indexes(self) -> None:
        await self._payments.create_index([("campaign_id", 1), ("created_at", -1), ("_id", -1)])
        await self._payments.create_index([("customer_id", 1), ("created_at", -1), ("_id", -1)])
        await self._payments.create_index([("status", 1), ("created_at", -1), ("_id", -1)])
        await self._payments.create_index([("created_at", -1), ("_id", -1)])
        await self._payments.create_index("attempts.processor_reference", sparse=True)

    async def add(
        self,
        payment: PaymentRecord,
        token: str,
        extra: Document,
        session: AsyncClientSession,
    ) -> None:
        document = self._document(payment) | extra
        document[TOKEN] = seal(self._keyring, token, context=f"{payment.id}:{TOKEN}")
        await self._payments.insert_one(document, session=session)

    async def save(self, payment: PaymentRecord, session: AsyncClientSession) -> PaymentRecord:
        """Writes ``payment`` over the stored revision it was read at; returns it as stored,
        one revision on."""
        saved = payment.model_copy(update={"revision": payment.revision + 1})
        result = await self._payments.update_one(
            {"_id": payment.id, "revision": payment.revision},
            {"$set": self._document(saved)},
            session=session,
        )
        if result.matched_count == 0:
            raise StaleRecordError(
                f"payment {payment.id} changed since revision {payment.revision}"
            )
        return saved

    async def get(
        self, payment_id: str, session: AsyncClientSession | None = None
    ) -> PaymentRecord | None:
        document = await self._payments.find_one({"_id": payment_id}, session=session)
        return self._record(document) if document else None

    async def token_of(self, payment_id: str) -> str | None:
        document = await self._payments.find_one({"_id": payment_id}, {TOKEN: 1})
        if document is None or document.get(TOKEN) is None:
            return None
        return unseal(self._keyring, document[TOKEN], context=f"{payment_id}:{TOKEN}")

    async def by_processor_reference(self, reference: str) -> PaymentRecord | None:
        document = await self._payments.find_one({"attempts.processor_reference": reference})
        return self._record(document) if document else None

    async def by_attempt_key(self, attempt_key: str) -> PaymentRecord | None:
        payment_id = attempt_key.split(":", 1)[0]
        return await self.get(payment_id)

    async def processing_ids(self, created_before: datetime) -> list[str]:
        """Payments still ``processing`` created at or before ``created_before``, oldest
        first: the candidates for reconciliation, answered from the status index alone."""
        found = self._payments.find(
            {"status": PaymentStatus.PROCESSING.value, "created_at": {"$lte": created_before}},
            {"_id": 1},
        ).sort([("created_at", 1), ("_id", 1)])
        return [str(document["_id"]) async for document in found]

    async def page(self, query: PaymentQuery) -> Page:
        """Newest first; ``query.cursor`` continues after the last payment of a page."""
        found: Document = {
            name: value
            for name, value in (
                ("campaign_id", query.campaign_id),
                ("customer_id", query.customer_id),
                ("status", query.status.value if query.status else None),
            )
            if value is not None
        }
        if query.cursor is not None:
            at, last_id = _decode_cursor(query.cursor)
            found["$or"] = [
                {"created_at": {"$lt": at}},
                {"created_at": at, "_id": {"$lt": last_id}},
            ]
        documents = self._payments.find(found).sort([("created_at", -1), ("_id", -1)])
        batch = [self._record(d) async for d in documents.limit(query.limit + 1)]
        items = batch[: query.limit]
        more = len(batch) > query.limit
        return Page(items, _encode_cursor(items[-1]) if more and items else None)

    def _document(self, payment: PaymentRecord) -> Document:
        document = {"_id": payment.id, **payment.model_dump(mode="python")}
        metadata = document["metadata"]
        for name in SEALED_FIELDS:
            if metadata.get(name) is not None:
                metadata[name] = seal(self._keyring, metadata[name], context=f"{payment.id}:{name}")
        return document

    def _record(self, document: Document) -> PaymentRecord:
        metadata = dict(document["metadata"])
        for name in SEALED_FIELDS:
            if metadata.get(name) is not None:
                metadata[name] = unseal(
                    self._keyring, metadata[name], context=f"{document['_id']}:{name}"
                )
        return PaymentRecord.model_validate(document | {"metadata": metadata})
