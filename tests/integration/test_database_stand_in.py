"""What the database must hold to, whichever server the suite runs against: one document
per ``_id``, numeric ids compared by value (1, 1.0 and Int64(1) are one id), inserts one at
a time or many at once, and upserts. The local stand-in skips its full-collection id scan
for non-numeric ids (``shared/devstack/mongo_server.py``); these checks keep it honest."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from bson.int64 import Int64
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, DuplicateKeyError

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ("customer-1", "customer-1"),
        ({"campaign": "spring", "customer": "c1"}, {"campaign": "spring", "customer": "c1"}),
        (1, 1.0),
        (1, Int64(1)),
        ({"n": 2}, {"n": 2.0}),
    ],
)
async def test_a_second_document_with_the_same_id_is_refused(
    infra: TestInfrastructure, first: object, again: object
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb)
    try:
        documents = client[f"{infra.db_prefix}ids"][f"c{uuid.uuid4().hex[:8]}"]
        await documents.insert_many([{"_id": f"filler-{i}"} for i in range(50)])
        await documents.insert_one({"_id": first, "v": 1})
        with pytest.raises(DuplicateKeyError):
            await documents.insert_one({"_id": again, "v": 2})
        with pytest.raises(BulkWriteError):
            await documents.insert_many([{"_id": "fresh"}, {"_id": again}], ordered=True)
        await documents.update_one({"_id": again}, {"$set": {"v": 3}}, upsert=True)
        assert await documents.count_documents({}) == 52
        assert (await documents.find_one({"_id": first}) or {})["v"] == 3
    finally:
        await client.close()
