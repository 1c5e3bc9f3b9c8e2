"""Serve mongoeco's in-memory MongoDB engine over the wire protocol (development only).

``--standalone`` serves as a standalone ``mongod`` does: every transaction is refused with
MongoDB's own error, so start-up's refusal of such a server can be tested. ``--path FILE``
keeps the data in mongoeco's SQLite engine in that file instead of in memory, so a restarted
server serves what it held (the fault suite restarts the database mid-burst); that engine
runs one transaction at a time (see ``transaction_gate``).

Five corrections to mongoeco 4.11's memory engine, applied before it starts:

- It detects write conflicts at commit with one engine-wide version, so a commit in any
  database conflicts with every open transaction, and under steady load one service's
  transactions starve another's. ``_scope_conflicts_to_databases`` lets a commit through
  when no database it wrote was committed to since its snapshot; the engine already
  merges a commit into live state database by database, so that merge stays sound.
- When a commit fails it raises without discarding the transaction, whose writes then
  leak into later reads and vanish at the next abort. ``_abort_conflicting_commits``
  aborts it, as MongoDB does; the unit of work retries the conflict.
- Every document inserted over the wire arrives alone, and a lone insert compares its
  ``_id`` with every stored document's (``scan_payload_id``), in case a numeric id equals
  one of another numeric type (1 and 1.0): an insert cost grows with the collection (100
  inserts into 3,000 documents took 1.5 s). ``_look_up_string_ids`` skips that scan for
  string and ObjectId ids, which equal only themselves and are already looked up by key.
- A query uses an index only for a single-field equality, and an ``_id`` it cannot find
  by key it looks for in every document: ``{"_id": {"$in": ids}}`` (the outbox relay's
  marks, a batch's recipients) tests every listed id against every document (100 ids
  among 5,000 documents took 0.27 s), and so does an upsert of a new ``_id`` (a customer
  projection grew quadratically). ``_look_up_ids_by_key`` takes the documents named by
  string or ObjectId ids straight from storage; the query's filter still runs on them.
- An aggregation that reads another collection (``$unionWith``, ``$lookup``) first loads
  that whole collection, so a payment's risk signals, one aggregation whose branches each
  match a handful of documents, cost as much as the payments and counters stored (the
  250th payment into one campaign took 2.9 s). ``_load_only_what_unions_match`` loads only
  the documents matched by the ``$match`` that leads every ``$unionWith`` of that
  collection, which is what MongoDB reads through its indexes; the stage still runs.
"""

import argparse
import asyncio
import signal
from typing import Any

from shared.devstack import transaction_gate


def _abort_conflicting_commits() -> None:
    from mongoeco.session import ClientSession

    commit = ClientSession.commit_transaction

    def commit_or_abort(self: Any) -> None:
        try:
            commit(self)
        except Exception:
            self.abort_transaction()
            raise

    ClientSession.commit_transaction = commit_or_abort  # type: ignore[method-assign]


def _scope_conflicts_to_databases() -> None:
    from mongoeco.engines.memory import MemoryEngine

    def written_databases(scope: Any) -> set[str]:
        return set(scope.touched_databases) | {db for db, _ in scope.touched_namespaces}

    def get_version(self: Any) -> int:
        return int(self.__dict__["_engine_version"])

    def set_version(self: Any, value: int) -> None:
        # A write outside a transaction bumps the version inside its publication scope.
        self.__dict__["_engine_version"] = value
        stack = self.__dict__.get("_publication_stack") or []
        if stack:
            versions = self.__dict__.setdefault("_database_versions", {})
            for db in written_databases(stack[-1]):
                versions[db] = value

    commit = MemoryEngine._commit_session_transaction

    def commit_scoped(self: Any, session: Any) -> None:
        with self._meta_lock:
            snapshot = self._mvcc_states.get(session.session_id)
            written = written_databases(snapshot) if snapshot is not None else set()
            versions = self.__dict__.setdefault("_database_versions", {})
            if snapshot is not None and all(
                versions.get(db, 0) <= snapshot.snapshot_version for db in written
            ):
                snapshot.snapshot_version = self._mvcc_version
            commit(self, session)
            for db in written:
                versions[db] = self._mvcc_version

    MemoryEngine._mvcc_version = property(get_version, set_version)  # type: ignore[assignment]
    MemoryEngine._commit_session_transaction = commit_scoped  # type: ignore[method-assign]


def _look_up_string_ids() -> None:
    from bson import ObjectId
    from mongoeco.engines.memory import MemoryEngine

    ensure = MemoryEngine._ensure_unique_indexes

    def ensure_unique(self: Any, db: str, coll: str, candidate: Any, **options: Any) -> None:
        if isinstance(candidate.get("_id"), str | ObjectId):
            options["scan_payload_id"] = False
        ensure(self, db, coll, candidate, **options)

    MemoryEngine._ensure_unique_indexes = ensure_unique  # type: ignore[method-assign,assignment]


def _look_up_ids_by_key() -> None:
    from bson import ObjectId
    from mongoeco.core.query_plan import AndCondition, EqualsCondition, InCondition
    from mongoeco.engines._memory_collection import MemoryCollection
    from mongoeco.engines.memory import MemoryEngine

    candidates = MemoryEngine._candidate_items_for_plan_locked

    def named_ids(plan: Any) -> tuple[Any, ...] | None:
        for clause in plan.clauses if isinstance(plan, AndCondition) else (plan,):
            if isinstance(clause, EqualsCondition) and clause.field == "_id":
                ids: tuple[Any, ...] = (clause.value,)
            elif isinstance(clause, InCondition) and clause.field == "_id":
                ids = tuple(clause.values)
            else:
                continue
            return ids if all(isinstance(value, str | ObjectId) for value in ids) else None
        return None

    def candidate_items(self: Any, coll: Any, query_plan: Any, **options: Any) -> Any:
        ids = named_ids(query_plan)
        if ids is None or not isinstance(coll, MemoryCollection):
            return candidates(self, coll, query_plan, **options)
        keys = {self._storage_key(value) for value in ids}
        return [(key, coll[key]) for key in coll.ordered_keys(keys)]

    MemoryEngine._candidate_items_for_plan_locked = candidate_items  # type: ignore[method-assign]


def _load_only_what_unions_match() -> None:
    from mongoeco.api._async.aggregation_cursor import AsyncAggregationCursor
    from mongoeco.api.operations import compile_find_operation

    load_all = AsyncAggregationCursor._load_collection_documents

    async def load(self: Any, collection_name: str) -> list[dict[str, Any]]:
        matches = _leading_matches(list(self._effective_pipeline()), collection_name)
        if not matches:
            return await load_all(self, collection_name)
        query = matches[0] if len(matches) == 1 else {"$or": matches}
        operation = compile_find_operation(query, comment=self._comment)
        scan = self._scan_collection_with_operation(collection_name, operation)
        return [document async for document in scan]

    AsyncAggregationCursor._load_collection_documents = load  # type: ignore[method-assign]


def _leading_matches(stages: list[Any], collection: str) -> list[dict[str, Any]] | None:
    """The ``$match`` leading each ``$unionWith`` of ``collection`` in ``stages`` (nested
    pipelines too); None when any reference to it reads more (a ``$lookup``, a union not
    led by a plain ``$match``), and the whole collection must be loaded."""
    found: list[dict[str, Any]] = []

    def visit(node: Any) -> bool:
        if isinstance(node, list):
            return all(visit(item) for item in node)
        if not isinstance(node, dict):
            return True
        lookup = node.get("$lookup")
        if isinstance(lookup, dict) and lookup.get("from") == collection:
            return False
        union = node.get("$unionWith")
        if union == collection:
            return False
        if isinstance(union, dict) and union.get("coll") == collection:
            pipeline = union.get("pipeline") or [{}]
            first = pipeline[0] if isinstance(pipeline[0], dict) else {}
            match = first.get("$match")
            if not isinstance(match, dict) or "$expr" in repr(match):
                return False
            found.append(match)
        return all(visit(value) for value in node.values())

    return found if visit(stages) and found else None


def _refuse_transactions() -> None:
    from mongoeco.errors import OperationFailure
    from mongoeco.wire.sessions import WireSessionStore

    def refuse(session: Any, body: dict[str, Any]) -> None:
        if "txnNumber" in body and (
            body.get("startTransaction") or body.get("autocommit") is False
        ):
            raise OperationFailure(
                "Transaction numbers are only allowed on a replica set member or mongos",
                code=ILLEGAL_OPERATION,
            )

    WireSessionStore._apply_transaction_metadata = staticmethod(refuse)  # type: ignore[method-assign]


ILLEGAL_OPERATION = 20  # MongoDB's code for a transaction sent to a standalone server


async def serve(host: str, port: int, *, standalone: bool = False, path: str | None = None) -> None:
    from mongoeco.engines.sqlite import SQLiteEngine
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    _scope_conflicts_to_databases()
    _abort_conflicting_commits()
    _look_up_string_ids()
    _look_up_ids_by_key()
    _load_only_what_unions_match()
    if standalone:
        _refuse_transactions()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if path:
        transaction_gate.install()
    engine = SQLiteEngine(path) if path else None
    async with AsyncMongoEcoProxyServer(host=host, port=port, engine=engine):
        print(f"mongodb wire server listening on {host}:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--standalone", action="store_true", help="refuse transactions")
    parser.add_argument("--path", help="keep the data in this SQLite file (default: memory)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, standalone=args.standalone, path=args.path))
