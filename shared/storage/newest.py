"""Keeping the newest version of each document, whatever order versions arrive in.

A projection fed by events (a customer's profile, say) is stamped ``as_of`` with the time
of the event it came from. Events arrive out of order, twice, and in batches; a version
replaces the stored one only when it is as new or newer, so an older or a redelivered
event never regresses a document. On equal times the later one read wins, as it would
one event at a time.

``keep_newest`` writes many at once, inside a transaction: it keeps the newest version
per document within the batch and reads what is stored for those ids. A document not
stored yet is inserted (an insert costs less than an upsert); a stored one is replaced on
condition that what is stored is still no newer, so a newer version a concurrent writer
stored meanwhile stays. Only an insert can
collide, when a concurrent writer inserted the same id between the read and the write; a
duplicate key aborts a MongoDB transaction, so it is raised as ``WriteConflictError`` and
the transaction run again reads the winner.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from shared.storage.mongo import Document, is_duplicate_key
from shared.storage.unit_of_work import WriteConflictError

AS_OF = "as_of"


class Version(NamedTuple):
    """One document's content (``_id`` aside) as of an event's time."""

    key: str
    as_of: datetime
    document: Document


def newest_per_key(versions: Iterable[Version]) -> dict[str, Version]:
    """The newest of each key's versions; on equal times the later one given."""
    newest: dict[str, Version] = {}
    for given in versions:
        version = given._replace(as_of=as_stored(given.as_of))
        kept = newest.get(version.key)
        if kept is None or version.as_of >= kept.as_of:
            newest[version.key] = version
    return newest


def as_stored(moment: datetime) -> datetime:
    """``moment`` at BSON's millisecond precision, so that a version compares with a stored
    one as the server compares them."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def keep_newest(
    collection: AsyncCollection[Document],
    versions: Iterable[Version],
    *,
    session: AsyncClientSession | None,
) -> int:
    """Store each key's newest version unless a newer one is stored; how many it inserted
    or replaced."""
    newest = newest_per_key(versions)
    stored = collection.find({"_id": {"$in": list(newest)}}, {AS_OF: 1}, session=session)
    replacing = {}
    async for document in stored:
        version = newest.pop(document["_id"])
        if version.as_of >= document[AS_OF]:
            replacing[version.key] = version
    try:
        if newest:
            rows = [{"_id": v.key, **v.document, AS_OF: v.as_of} for v in newest.values()]
            await collection.insert_many(rows, session=session)
        if replacing:
            await collection.bulk_write(
                [
                    ReplaceOne(
                        {"_id": v.key, AS_OF: {"$lte": v.as_of}}, v.document | {AS_OF: v.as_of}
                    )
                    for v in replacing.values()
                ],
                ordered=False,
                session=session,
            )
    except PyMongoError as error:
        if is_duplicate_key(error):
            raise WriteConflictError(f"{collection.name} written concurrently: {error}") from error
        raise
    return len(newest) + len(replacing)
