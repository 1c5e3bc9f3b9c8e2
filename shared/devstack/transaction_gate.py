"""One transaction at a time on mongoeco's SQLite engine, which has one connection for all.

While a session has a transaction open, the engine refuses every other session's command
("active transaction bound to another session") where MongoDB would run them side by side.
The gate queues them instead: a transaction holds it from its first command to its commit
or abort, any other command for its own run. A transaction whose client has gone quiet for
``LIFETIME_SECONDS`` (killed, or stopped with SIGSTOP) is aborted, as MongoDB's
``transactionLifetimeLimitSeconds`` aborts it, and its later commands are answered with a
write conflict, which the unit of work retries.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

LIFETIME_SECONDS = 20.0
WRITE_CONFLICT = 112
type Transaction = tuple[str, object]  # (session key, txnNumber)


class TransactionGate:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.owner: Transaction | None = None
        self.busy = False
        self.last_seen = 0.0
        self.expired: set[Transaction] = set()

    async def enter(self, transaction: Transaction | None, abort: Any) -> None:
        if transaction is not None and transaction == self.owner:
            return
        while True:
            idle_until = self.last_seen + LIFETIME_SECONDS
            try:
                async with asyncio.timeout(max(0.5, idle_until - time.monotonic())):
                    await self._lock.acquire()
                break
            except TimeoutError:
                stale = self.owner
                if stale is not None and not self.busy and time.monotonic() >= idle_until:
                    abort(stale[0])
                    print(
                        f"transaction {stale} silent {LIFETIME_SECONDS:.0f} s: aborted", flush=True
                    )
                    self.expired.add(stale)
                    self.leave()
        self.owner = transaction

    def leave(self) -> None:
        self.owner = None
        self._lock.release()


def install() -> None:
    from mongoeco.wire._session_identity import wire_session_key
    from mongoeco.wire.executor import WireCommandExecutor
    from mongoeco.wire.requests import WireRequestContext
    from mongoeco.wire.sessions import WireSessionStore

    gate = TransactionGate()
    start_transaction = WireSessionStore._apply_transaction_metadata
    execute = WireCommandExecutor.execute_prepared

    async def execute_gated(self: Any, context: WireRequestContext) -> dict[str, Any]:
        body = context.raw_body
        transaction = None
        if body.get("autocommit") is False and "lsid" in body:
            transaction = (wire_session_key(body["lsid"]), body.get("txnNumber"))
        if transaction in gate.expired:
            if context.command_name in ("commitTransaction", "abortTransaction"):
                gate.expired.discard(transaction)
            return _expired()

        def abort(key: str) -> None:
            held = self._session_store._sessions.get(key)
            if held is not None and held.session.transaction_active:
                held.session.abort_transaction()

        await gate.enter(transaction, abort)
        gate.busy, gate.last_seen = True, time.monotonic()
        ends = transaction is None or context.command_name in (
            "commitTransaction",
            "abortTransaction",
        )
        try:
            if context.session is not None:
                start_transaction(context.session, body)
            return await execute(self, context)
        except BaseException:
            ends = ends or not _still_open(context)
            raise
        finally:
            gate.busy, gate.last_seen = False, time.monotonic()
            if ends:
                gate.leave()

    # The transaction starts once the gate is held, not when the request is decoded.
    WireSessionStore._apply_transaction_metadata = staticmethod(lambda session, body: None)  # type: ignore[method-assign]
    WireCommandExecutor.execute_prepared = execute_gated  # type: ignore[method-assign]


def _still_open(context: Any) -> bool:
    return context.session is not None and bool(context.session.transaction_active)


def _expired() -> dict[str, Any]:
    return {
        "ok": 0.0,
        "errmsg": "transaction aborted: its client was silent beyond the lifetime limit",
        "code": WRITE_CONFLICT,
        "codeName": "WriteConflict",
        "errorLabels": ["TransientTransactionError"],
    }
