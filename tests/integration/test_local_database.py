"""The database every test runs on refuses a repeated ``_id`` whatever its type, including
on the local stand-in, whose duplicate lookup ``shared/devstack/mongo_server.py`` narrows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.storage.mongo import Document, connect, service_database

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


@pytest.fixture
async def collection(infra: TestInfrastructure) -> AsyncIterator[AsyncCollection[Document]]:
    client = connect(infra.mongodb, app_name="test-local-database")
    documents = service_database(client, "local_database", infra.db_prefix)["ids"]
    await documents.drop()
    await documents.insert_many([{"_id": f"filler-{n}"} for n in range(50)])
    yield documents
    await client.close()


@pytest.mark.parametrize(
    ("stored", "repeated"),
    [("c/email/1", "c/email/1"), (ObjectId("0123456789ab0123456789ab"),) * 2, (1, 1.0)],
)
async def test_a_repeated_id_is_refused(
    collection: AsyncCollection[Document], stored: Any, repeated: Any
) -> None:
    await collection.insert_one({"_id": stored})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": repeated})
    with pytest.raises(BulkWriteError) as refused:
        await collection.insert_many([{"_id": "new"}, {"_id": repeated}], ordered=False)
    assert refused.value.details["nInserted"] == 1
