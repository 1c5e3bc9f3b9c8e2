"""The database every test runs on refuses a repeated ``_id`` whatever its type, including
on the local stand-in, whose duplicate lookup ``shared/devstack/mongo_server.py`` narrows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from bson import ObjectId
from bson.int64 import Int64
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
    [
        ("c/email/1", "c/email/1"),
        (ObjectId("0123456789ab0123456789ab"),) * 2,
        (1, 1.0),
        (1, Int64(1)),
        ({"n": 2}, {"n": 2.0}),
        ({"campaign": "spring", "customer": "c1"},) * 2,
    ],
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


async def test_listed_ids_find_update_and_delete_exactly_the_matching_documents(
    collection: AsyncCollection[Document],
) -> None:
    await collection.insert_many(
        [{"_id": f"row-{n}", "n": n, "even": n % 2 == 0} for n in range(10)]
        + [{"_id": 7, "n": 7}, {"_id": ObjectId("0123456789ab0123456789ab"), "n": 99}]
    )
    listed = ["row-8", "row-3", "row-4", "absent", "filler-1"]

    found = await collection.find({"_id": {"$in": listed}, "even": True}).to_list()
    assert [document["_id"] for document in found] == ["row-4", "row-8"]  # natural order
    changed = await collection.update_many({"_id": {"$in": listed}}, {"$set": {"seen": True}})
    assert changed.modified_count == 4
    assert await collection.count_documents({"seen": True}) == 4
    mixed = collection.find({"_id": {"$in": [7, ObjectId("0123456789ab0123456789ab")]}})
    assert sorted(document["n"] for document in await mixed.to_list()) == [7, 99]
    removed = await collection.delete_many({"_id": {"$in": listed}})
    assert removed.deleted_count == 4


async def test_an_id_not_stored_matches_nothing_and_an_upsert_inserts_it(
    collection: AsyncCollection[Document],
) -> None:
    missing = await collection.update_one({"_id": "new", "n": {"$lt": 5}}, {"$set": {"n": 1}})
    assert missing.matched_count == 0
    upserted = await collection.update_one(
        {"_id": "new", "n": {"$lt": 5}}, {"$set": {"n": 1}}, upsert=True
    )
    assert upserted.upserted_id == "new"
    assert await collection.find_one({"_id": "new"}) == {"_id": "new", "n": 1}


async def test_unions_led_by_a_match_answer_as_the_whole_collection_would(
    collection: AsyncCollection[Document],
) -> None:
    # The stand-in loads only what a union's leading $match names (mongo_server.py); what
    # the aggregation answers must not change, within a transaction or not.
    others = collection.database["union_others"]
    await others.drop()
    await others.insert_many([{"_id": f"o-{n}", "k": n % 3, "v": n} for n in range(30)])
    await collection.insert_many([{"_id": f"c-{n}", "k": n % 4} for n in range(12)])
    pipeline: list[Document] = [
        {"$match": {"k": 3}},
        {"$facet": {"ids": [{"$project": {"_id": 1}}], "n": [{"$count": "n"}]}},
        {
            "$unionWith": {
                "coll": "union_others",
                "pipeline": [
                    {"$match": {"k": 1}},
                    {"$sort": {"v": -1}},
                    {"$limit": 3},
                    {"$project": {"_id": 0, "v": 1}},
                ],
            }
        },
        {"$unionWith": {"coll": "union_others", "pipeline": [{"$match": {"_id": "o-2"}}]}},
        {"$unionWith": {"coll": collection.name, "pipeline": [{"$match": {"_id": "c-1"}}]}},
    ]
    answered = await (await collection.aggregate(pipeline)).to_list()
    assert answered == [
        {"ids": [{"_id": "c-3"}, {"_id": "c-7"}, {"_id": "c-11"}], "n": [{"n": 3}]},
        {"v": 28},
        {"v": 25},
        {"v": 22},
        {"_id": "o-2", "k": 2, "v": 2},
        {"_id": "c-1", "k": 1},
    ]
    # A lookup reads the whole collection: the same answer as before the correction.
    joined = await (
        await collection.aggregate(
            [
                {"$match": {"_id": "c-5"}},
                {
                    "$lookup": {
                        "from": "union_others",
                        "localField": "k",
                        "foreignField": "k",
                        "as": "same_k",
                    }
                },
                {"$project": {"n": {"$size": "$same_k"}}},
            ]
        )
    ).to_list()
    assert joined == [{"_id": "c-5", "n": 10}]
    await others.drop()
