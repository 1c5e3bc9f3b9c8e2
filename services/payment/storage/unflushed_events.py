"""Events kept on a payment until they are in the outbox: the recovery of the payment's
outcome write, which is made outside any transaction.

A new payment keeps the outbox rows of its first changes on its own document
(``UNFLUSHED``); the write that records its processor's answer adds the rows that answer
announces, and the request then inserts them all into the outbox. A process that dies
between the two leaves the rows on the payment: each reconciliation round inserts the rows
of every payment that still holds some (each row keeps the ``_id`` it was made with, so one
inserted already stays one), then takes them off the payment, unless it changed meanwhile.
The rows are taken off in bulk here rather than by each request: one write per round, not
one per payment.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.storage.payments import PAYMENTS, UNFLUSHED
from shared.storage.mongo import Document
from shared.storage.unit_of_work import insert_outbox_rows

# Published outbox rows expire after a day; rows of payments older than this are never
# inserted again, so a row published long ago cannot come back.
KEPT_FOR = timedelta(hours=12)
BATCH = 500


class UnflushedEvents:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._payments = db[PAYMENTS]

    async def ensure_indexes(self) -> None:
        await self._payments.create_index(UNFLUSHED, sparse=True)

    async def flush(self, now: datetime, settled_for: timedelta) -> int:
        """Inserts the rows still kept on payments made before ``now - settled_for`` (the
        requests still running are left to insert their own); returns how many."""
        found = self._payments.find(
            {
                UNFLUSHED: {"$exists": True},
                "created_at": {"$gt": now - KEPT_FOR, "$lte": now - settled_for},
            },
            {UNFLUSHED: 1},
        ).limit(BATCH)
        held = [document async for document in found]
        rows = [row for document in held for row in document[UNFLUSHED]]
        await insert_outbox_rows(self._db, rows)
        if held:
            await self._payments.bulk_write(
                [
                    UpdateOne(
                        {"_id": document["_id"], UNFLUSHED: document[UNFLUSHED]},
                        {"$unset": {UNFLUSHED: ""}},
                    )
                    for document in held
                ],
                ordered=False,
            )
        return len(rows)
