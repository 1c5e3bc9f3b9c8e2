"""One MongoDB transaction around a state change, its processed-event mark and its outbox rows.

``async with uow as tx:`` opens a transaction; the body reads and writes through the
repositories ``tx`` holds, already bound to the transaction's session, and queues events
with ``tx.emit``. Leaving the block commits, an exception aborts. What the work produced
is an ordinary value of the enclosing function: nothing is smuggled out of a callback.

Consuming an event (``async with uow.consuming(event) as tx:``): the event's identity,
``(source, id)`` as CloudEvents defines uniqueness, goes into ``processed_events``
(unique, with a TTL) in the same transaction as the state change and the events it emits.
A redelivered event raises ``AlreadyProcessedError`` before the body runs, and nothing
changes or is emitted; the delivery policy acknowledges it.

A transaction that loses a write conflict raises ``WriteConflictError`` (MongoDB labels
these ``TransientTransactionError``; the embedded wire server reports them unlabelled at
commit). The unit of work does not re-run the block itself, since a block cannot be
re-entered: the Kafka delivery policy retries the handler, and other callers decorate the
function holding the block with ``retry_on_write_conflict``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, NamedTuple

from bson import ObjectId
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern

from shared.events.envelope import CloudEvent, event_to_json, utc_now
from shared.messaging.trace_context import TRACE_FIELDS, emitted_trace_context
from shared.retry import Backoff
from shared.storage.mongo import Document, is_duplicate_key

log = logging.getLogger(__name__)

PROCESSED_EVENTS = "processed_events"
OUTBOX = "outbox"
DEFAULT_DEDUP_WINDOW = timedelta(days=7)
WRITE_CONFLICT = 112
DUPLICATE_KEY = 11000
CONFLICT_ATTEMPTS = 20
CONFLICT_BACKOFF = Backoff(first=0.005, cap=0.2)


class WriteConflictError(Exception):
    """A concurrent transaction wrote what this one wrote: run the work again."""


class AlreadyProcessedError(Exception):
    """The consumed event was applied before: nothing to do."""


class Transaction:
    """What ``async with uow as tx`` yields: the session, ``emit``, and (in a service's
    subclass) the service's repositories bound to this transaction."""

    def __init__(self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str):
        self.db = db
        self.session = session
        self._source = source
        self.emitted: list[CloudEvent[Any]] = []

    async def emit(
        self,
        topic: str,
        data: BaseModel,
        *,
        key: str,
        cause: CloudEvent[Any] | None = None,
        causation_id: str | None = None,
    ) -> CloudEvent[Any]:
        """Queue ``data`` as a CloudEvent on ``topic``; it is published only if this commits.

        The correlation id is the cause's (the campaign id, end to end), else ``key``.
        """
        event = CloudEvent[Any](
            source=self._source,
            type=topic,
            subject=key,
            correlationid=(cause.correlationid if cause else None) or key,
            causationid=cause.id if cause else causation_id,
            data=data,
            **emitted_trace_context(cause),
        )
        await self.db[OUTBOX].insert_one(_outbox_row(event, key), session=self.session)
        self.emitted.append(event)
        return event

    async def emit_many(self, emissions: Sequence[Emission]) -> list[CloudEvent[Any]]:
        """``emit`` for many events at once: one write, rows in the order given."""
        events: list[CloudEvent[Any]] = []
        rows = []
        for topic, data, key, cause in emissions:
            event = CloudEvent[Any](
                source=self._source,
                type=topic,
                subject=key,
                correlationid=(cause.correlationid if cause else None) or key,
                causationid=cause.id if cause else None,
                data=data,
                **emitted_trace_context(cause),
            )
            events.append(event)
            rows.append(_outbox_row(event, key))
        if rows:
            await self.db[OUTBOX].insert_many(rows, session=self.session)
        self.emitted += events
        return events

    def committed(self) -> None:
        """Called once this transaction has committed; a service's subclass may count here
        what it did, knowing it happened exactly once."""

    @property
    def source(self) -> str:
        return self._source

    async def mark_processed(self, source: str, event_id: str) -> None:
        """Raises ``AlreadyProcessedError`` when the event ``(source, id)`` was marked before."""
        try:
            await self.db[PROCESSED_EVENTS].insert_one(
                {"_id": processed_event_key(source, event_id), "processed_at": utc_now()},
                session=self.session,
            )
        except DuplicateKeyError:
            raise AlreadyProcessedError(f"event {event_id} from {source}") from None

    async def first_deliveries[E: CloudEvent[Any]](self, events: Sequence[E]) -> list[E]:
        """Mark ``events`` processed in two round trips; returns those never marked before,
        each id once, in the order given. Ids marked by a concurrent transaction between
        the read and the insert raise ``WriteConflictError``: the caller runs again and
        the read then finds them."""
        unmarked: dict[str, E] = {}
        for event in events:
            unmarked.setdefault(processed_event_key(event.source, event.id), event)
        marked = self.db[PROCESSED_EVENTS].find(
            {"_id": {"$in": list(unmarked)}}, {"_id": 1}, session=self.session
        )
        async for document in marked:
            unmarked.pop(document["_id"], None)
        if unmarked:
            now = utc_now()
            rows = [{"_id": key, "processed_at": now} for key in unmarked]
            try:
                await self.db[PROCESSED_EVENTS].insert_many(rows, session=self.session)
            except PyMongoError as error:
                if is_duplicate_key(error):
                    raise WriteConflictError(f"events marked concurrently: {error}") from error
                raise
        return list(unmarked.values())


class Emission(NamedTuple):
    """One event for ``Transaction.emit_many``: its topic, its data, its key and the event
    that caused it, if any."""

    topic: str
    data: BaseModel
    key: str
    cause: CloudEvent[Any] | None = None


def _outbox_row(event: CloudEvent[Any], key: str) -> Document:
    return {
        "topic": event.type,
        "key": key,
        "event_id": event.id,
        "value": event_to_json(event),
        "created_at": event.time,
        "published_at": None,
        # The relay publishes under the emitting trace, without parsing ``value``.
        **{name: value for name in TRACE_FIELDS if (value := getattr(event, name))},
    }


def deferred_outbox_row(source: str, topic: str, data: BaseModel, *, key: str) -> Document:
    """The outbox row ``emit`` would insert, not written: the caller keeps it on its own
    record and inserts it later with ``insert_outbox_rows``. Its ``_id`` is fixed now, so
    inserting it twice leaves one row, and the relay takes it in the order it was made."""
    event = CloudEvent[Any](
        source=source,
        type=topic,
        subject=key,
        correlationid=key,
        data=data,
        **emitted_trace_context(),
    )
    return {"_id": ObjectId(), **_outbox_row(event, key)}


async def insert_outbox_rows(db: AsyncDatabase[Document], rows: Sequence[Document]) -> None:
    """Rows made by ``Transaction.deferred``, in one write; those already there stay as they
    are, so a retry or a recovery inserts each row once."""
    if not rows:
        return
    try:
        await db[OUTBOX].insert_many(rows, ordered=False)
    except BulkWriteError as error:
        if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
            raise


def processed_event_key(source: str, event_id: str) -> str:
    """One string per ``(source, id)``, unambiguous whatever either holds."""
    return json.dumps([source, event_id], separators=(",", ":"))


type TransactionFactory[T: Transaction] = Callable[
    [AsyncDatabase[Document], AsyncClientSession, str], T
]


class UnitOfWork[T: Transaction]:
    """Opens transactions on one database; see the module docstring."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        *,
        source: str,
        transaction: TransactionFactory[T],
        on_commit: Callable[[], None] = lambda: None,
        serialize: bool = False,
        gate: asyncio.Lock | None = None,
    ) -> None:
        self._client = client
        self.db = db
        self._source = source
        self._transaction = transaction
        self.on_commit = on_commit
        self._serialize = serialize
        self._gate = gate or asyncio.Lock()
        self._open: contextvars.ContextVar[tuple[_Open[T], ...]] = contextvars.ContextVar(
            f"open-transactions-{id(self)}", default=()
        )

    @property
    def source(self) -> str:
        return self._source

    def bound[U: Transaction](self, transaction: TransactionFactory[U]) -> UnitOfWork[U]:
        """The same unit of work yielding a service's own ``Transaction`` subclass."""
        return UnitOfWork(
            self._client,
            self.db,
            source=self._source,
            transaction=transaction,
            on_commit=lambda: self.on_commit(),
            serialize=self._serialize,
            gate=self._gate,
        )

    def exclusive(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Held around every write when transactions are serialised (see ServiceSettings)."""
        return self._gate if self._serialize else contextlib.nullcontext()

    async def __aenter__(self) -> T:
        exclusive = self.exclusive()
        await exclusive.__aenter__()
        session = self._client.start_session()
        try:
            await session.start_transaction()
        except BaseException:
            await session.end_session()
            await exclusive.__aexit__(None, None, None)
            raise
        tx = self._transaction(self.db, session, self._source)
        self._open.set((*self._open.get(), _Open(tx, session, exclusive)))
        return tx

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        *outer, opened = self._open.get()
        self._open.set(tuple(outer))
        try:
            if exc is None:
                await _commit(opened.session)
            else:
                with contextlib.suppress(PyMongoError):
                    await opened.session.abort_transaction()
        except PyMongoError as error:
            _raise_conflict_from(error)
            raise
        else:
            if exc is not None and isinstance(exc, PyMongoError):
                _raise_conflict_from(exc)
        finally:
            await opened.session.end_session()
            await opened.exclusive.__aexit__(None, None, None)
        if exc is None:
            opened.tx.committed()
        if exc is None and opened.tx.emitted:
            self.on_commit()

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncClientSession]:
        """A session whose reads all see one moment: a read-only transaction at snapshot
        read concern, so a view built from several collections (a report) never shows a
        write half applied. Nothing is written, so it neither takes the write gate nor can
        conflict; it is aborted when done."""
        async with self._client.start_session() as session:
            await session.start_transaction(read_concern=ReadConcern("snapshot"))
            try:
                yield session
            finally:
                with contextlib.suppress(PyMongoError):
                    await session.abort_transaction()

    @contextlib.asynccontextmanager
    async def consuming(self, event: CloudEvent[Any]) -> AsyncIterator[T]:
        """A transaction that first marks ``event`` processed; a redelivery raises
        ``AlreadyProcessedError`` before the body runs."""
        async with self as tx:
            await tx.mark_processed(event.source, event.id)
            yield tx

    async def ensure_indexes(self, dedup_window: timedelta = DEFAULT_DEDUP_WINDOW) -> None:
        await ensure_ttl_index(self.db[PROCESSED_EVENTS], "processed_at", dedup_window)
        # Published rows expire after a day; unpublished ones (published_at null) never do.
        await ensure_ttl_index(self.db[OUTBOX], "published_at", timedelta(days=1))


class _Open[T: Transaction]:
    def __init__(
        self,
        tx: T,
        session: AsyncClientSession,
        exclusive: contextlib.AbstractAsyncContextManager[object],
    ) -> None:
        self.tx = tx
        self.session = session
        self.exclusive = exclusive


async def _commit(session: AsyncClientSession) -> None:
    """Commit, asking again while the outcome of the commit itself is unknown."""
    for _ in range(3):
        try:
            await session.commit_transaction()
            return
        except PyMongoError as error:
            if not error.has_error_label("UnknownTransactionCommitResult"):
                raise
    await session.commit_transaction()


def is_write_conflict(error: BaseException) -> bool:
    """MongoDB labels a write conflict ``TransientTransactionError``; the embedded wire
    server (mongoeco) reports it unlabelled, by code or message, at commit."""
    if not isinstance(error, PyMongoError):
        return False
    if error.has_error_label("TransientTransactionError"):
        return True
    return isinstance(error, OperationFailure) and (
        error.code == WRITE_CONFLICT or "write conflict" in str(error).lower()
    )


def _raise_conflict_from(error: BaseException) -> None:
    if is_write_conflict(error):
        raise WriteConflictError(str(error)) from error


def retry_on_write_conflict[**P, R](
    work: Callable[P, Awaitable[R]],
) -> Callable[P, Awaitable[R]]:
    """Runs ``work`` (which holds one unit of work) again after a write conflict."""

    @functools.wraps(work)
    async def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        retrying = CONFLICT_BACKOFF.retrying(
            attempts=CONFLICT_ATTEMPTS,
            retry_on=lambda error: isinstance(error, WriteConflictError),
        )
        async for attempt in retrying:
            with attempt:
                return await work(*args, **kwargs)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    return retried


async def ensure_ttl_index(collection: Any, field: str, keep_for: timedelta) -> None:
    """A TTL index on ``field``; an existing one with another lifetime is changed in place
    (``collMod``), or rebuilt where the server lacks ``collMod`` (the embedded one)."""
    seconds = int(keep_for.total_seconds())
    try:
        await collection.create_index(field, expireAfterSeconds=seconds)
        return
    except OperationFailure as error:
        if error.code not in (INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT):
            raise
    log.info("%s.%s: changing the TTL to %ds", collection.name, field, seconds)
    change = {"keyPattern": {field: 1}, "expireAfterSeconds": seconds}
    try:
        await collection.database.command("collMod", collection.name, index=change)
    except OperationFailure:
        await collection.drop_index(f"{field}_1")
        await collection.create_index(field, expireAfterSeconds=seconds)


INDEX_OPTIONS_CONFLICT = 85
INDEX_KEY_SPECS_CONFLICT = 86


async def require_transactions(db: AsyncDatabase[Document]) -> None:
    """Fails at once, in one clear line, when the server cannot run transactions (a
    standalone mongod): every write here depends on them."""
    client: AsyncMongoClient[Document] = db.client
    try:
        async with client.start_session() as session:
            await session.start_transaction()
            await db["startup_probe"].find_one({}, session=session)
            await session.abort_transaction()
    except OperationFailure as error:
        reason = (error.details or {}).get("errmsg") or str(error)
        raise TransactionsUnavailableError(
            "MongoDB cannot run transactions here; run it as a replica set "
            f"(mongod --replSet) and initiate it ({reason})"
        ) from None


class TransactionsUnavailableError(RuntimeError):
    """The database is not a replica set or sharded cluster."""
