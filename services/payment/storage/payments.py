"""The payments collection: one document per payment in the stored record's shape, the
request's data sealed, saved against its revision, listed newest first a page at a time.

Fields the aggregate does not own (the sealed processor token, the risk fingerprints,
reconciliation's bookkeeping) are written once or by their own methods and never touched
by a save.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.payment import Payment
from services.payment.domain.records import RefundStatus
from services.payment.storage.field_encryption import Keyring, seal, unseal
from shared.events.payments import PaymentStatus
from shared.storage.mongo import Document
from shared.storage.unit_of_work import WriteConflictError

PAYMENTS = "payments"
# Sealed at rest, field by field; the AES-GCM context binds each value to its payment and
# field, so a ciphertext copied elsewhere does not decrypt.
SEALED_FIELDS = ("ip_address", "user_agent")
TOKEN = "payment_token"  # noqa: S105 - a field name, not a secret
# Outbox rows written with an outcome outside a transaction, kept here until they are in
# the outbox (``record_outcome``), and the answers to keys given in the same write.
UNFLUSHED, ANSWERS = "unflushed_events", "answers"
UNSETTLED = [PaymentStatus.PENDING.value, PaymentStatus.PROCESSING.value]


class InvalidCursorError(ValueError):
    """A cursor this service did not hand out."""


class StaleRecordError(WriteConflictError):
    """The payment changed since it was read: read it again and re-apply the change."""


@dataclass(frozen=True)
class PaymentQuery:
    limit: int
    campaign_id: str | None = None
    customer_id: str | None = None
    status: PaymentStatus | None = None
    cursor: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Payment]
    next_cursor: str | None


@dataclass(frozen=True)
class Backoff:
    """Reconciliation's bookkeeping on a payment it could not handle."""

    failures: int
    next_at: datetime


class Payments:
    """Bound to ``session`` when built for a transaction; without one it reads committed data."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        keyring: Keyring,
        session: AsyncClientSession | None = None,
    ) -> None:
        self._payments = db[PAYMENTS]
        self._keyring = keyring
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._payments.create_index([("campaign_id", 1), ("created_at", -1), ("_id", -1)])
        await self._payments.create_index([("customer_id", 1), ("created_at", -1), ("_id", -1)])
        await self._payments.create_index([("status", 1), ("created_at", -1), ("_id", -1)])
        await self._payments.create_index([("created_at", -1), ("_id", -1)])
        await self._payments.create_index("attempts.processor_reference", sparse=True)
        await self._payments.create_index("refunds.status", sparse=True)

    async def add(self, payment: Payment, token: str, extra: Document) -> None:
        document = self._document(payment) | extra
        document[TOKEN] = seal(self._keyring, token, context=f"{payment.id}:{TOKEN}")
        await self._payments.insert_one(document, session=self._session)

    async def save(self, payment: Payment) -> None:
        """Writes ``payment`` over the stored revision it was read at, one revision on."""
        read_at = payment.revision
        payment.revision = read_at + 1
        result = await self._payments.update_one(
            {"_id": payment.id, "revision": read_at},
            {"$set": self._document(payment)},
            session=self._session,
        )
        if result.matched_count == 0:
            payment.revision = read_at
            raise StaleRecordError(f"payment {payment.id} changed since revision {read_at}")

    async def record_outcome(
        self, payment: Payment, rows: list[Document], key: str, answer: Document
    ) -> None:
        """Outside any transaction, in one atomic write of this document: ``payment`` over
        the revision it was read at, the outbox ``rows`` it announces (``UNFLUSHED``, until
        inserted into the outbox) and the answer to ``key``. Raises ``StaleRecordError``
        when the payment changed meanwhile, and then nothing is written."""
        read_at = payment.revision
        payment.revision = read_at + 1
        result = await self._payments.update_one(
            {"_id": payment.id, "revision": read_at},
            {
                "$set": self._document(payment),
                "$push": {UNFLUSHED: {"$each": rows}, ANSWERS: {"key": key, **answer}},
            },
        )
        if result.matched_count == 0:
            payment.revision = read_at
            raise StaleRecordError(f"payment {payment.id} changed since revision {read_at}")

    async def get(self, payment_id: str) -> Payment | None:
        document = await self._payments.find_one({"_id": payment_id}, session=self._session)
        return self._record(document) if document else None

    async def token_of(self, payment_id: str) -> str | None:
        document = await self._payments.find_one(
            {"_id": payment_id}, {TOKEN: 1}, session=self._session
        )
        if document is None or document.get(TOKEN) is None:
            return None
        return unseal(self._keyring, document[TOKEN], context=f"{payment_id}:{TOKEN}")

    async def token_fingerprint(self, payment_id: str) -> str | None:
        """What the payment's token is counted by (``risk.token_fingerprint``)."""
        document = await self._payments.find_one(
            {"_id": payment_id}, {"risk.token_fingerprint": 1}, session=self._session
        )
        return ((document or {}).get("risk") or {}).get("token_fingerprint")

    async def by_processor_reference(self, reference: str) -> Payment | None:
        document = await self._payments.find_one({"attempts.processor_reference": reference})
        return self._record(document) if document else None

    async def unsettled(self) -> list[tuple[str, Backoff | None]]:
        """Payments reconciliation looks at, oldest first, with its backoff on each: not yet
        decided, or with a refund not yet answered."""
        found = self._payments.find(
            {
                "$or": [
                    {"status": {"$in": UNSETTLED}},
                    {"refunds.status": RefundStatus.PENDING.value},
                ]
            },
            {"_id": 1, "reconciliation": 1},
        ).sort([("created_at", 1), ("_id", 1)])
        return [(str(d["_id"]), _backoff(d.get("reconciliation"))) async for d in found]

    async def record_failure(
        self, payment_id: str, error: str, backoff: Backoff, at: datetime
    ) -> None:
        """What went wrong reconciling the payment, and when to try again."""
        await self._payments.update_one(
            {"_id": payment_id},
            {
                "$set": {
                    "reconciliation": {
                        "failures": backoff.failures,
                        "next_at": backoff.next_at,
                        "last_error": error,
                        "failed_at": at,
                    }
                }
            },
        )

    async def clear_failures(self, payment_id: str) -> None:
        await self._payments.update_one({"_id": payment_id}, {"$unset": {"reconciliation": ""}})

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

    def _document(self, payment: Payment) -> Document:
        document = {"_id": payment.id, **payment.model_dump(mode="python", by_alias=True)}
        metadata = document["metadata"]
        for name in SEALED_FIELDS:
            if metadata.get(name) is not None:
                metadata[name] = seal(self._keyring, metadata[name], context=f"{payment.id}:{name}")
        return document

    def _record(self, document: Document) -> Payment:
        metadata = dict(document["metadata"])
        for name in SEALED_FIELDS:
            if metadata.get(name) is not None:
                metadata[name] = unseal(
                    self._keyring, metadata[name], context=f"{document['_id']}:{name}"
                )
        return Payment.model_validate(document | {"metadata": metadata})


def _backoff(bookkeeping: Document | None) -> Backoff | None:
    if not bookkeeping:
        return None
    return Backoff(bookkeeping["failures"], bookkeeping["next_at"])


def _encode_cursor(last: Payment) -> str:
    raw = json.dumps([last.created_at.isoformat(), last.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, last_id = json.loads(raw)
        return datetime.fromisoformat(at), str(last_id)
    except (ValueError, TypeError) as error:
        raise InvalidCursorError("cursor is not one this API returned") from error
