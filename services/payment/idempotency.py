"""Idempotent POSTs with Stripe's semantics.

A key is claimed in the same transaction as the work it starts, so of any number of
concurrent requests with one key exactly one does the work. The others wait (a bounded
time) for its answer and replay it, status code included; a key reused with a different
request is a conflict. A key is bound to one endpoint and body: the hash covers both.
Keys and their answers are kept at least ``keep_for`` (24 hours by default).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.payment.storage.idempotency_keys import IdempotencyKeys, is_idempotency_key_clash

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


class IdempotencyKeyReusedError(Exception):
    """The key was first used with a different request."""


class IdempotencyKeyInUseError(Exception):
    """The first request with this key is still being processed."""


def request_hash(endpoint: str, request: BaseModel) -> str:
    """Equal for requests that mean the same thing ("149.990" and "149.99" included)."""
    return hashlib.sha256(f"{endpoint}\n{request.model_dump_json()}".encode()).hexdigest()


class IdempotentRequests:
    def __init__(self, keys: IdempotencyKeys, endpoint: str, wait_seconds: float) -> None:
        self._keys = keys
        self._endpoint = endpoint
        self._wait_seconds = wait_seconds

    def scoped(self, endpoint: str) -> IdempotentRequests:
        """The same store for another endpoint: one key may serve only one of them."""
        return IdempotentRequests(self._keys, endpoint, self._wait_seconds)

    async def claim(
        self,
        key: str,
        request: BaseModel,
        resource_id: str,
        now: datetime,
        session: AsyncClientSession,
    ) -> None:
        """Raises ``DuplicateKeyError`` when the key was claimed before."""
        hashed = request_hash(self._endpoint, request)
        await self._keys.claim(key, hashed, resource_id, now, session)

    @staticmethod
    async def first_claim[T](claiming: Awaitable[T]) -> T | None:
        """Runs the claiming unit of work and returns its result; None if another request
        claimed the key first."""
        try:
            return await claiming
        except DuplicateKeyError as error:
            if not is_idempotency_key_clash(error):
                raise
            return None

    async def complete(self, key: str, answer: Answer, session: AsyncClientSession) -> None:
        await self._keys.complete(key, answer.status_code, answer.body, session)

    async def replay(self, key: str, request: BaseModel) -> Answer | None:
        """The stored answer for ``key``, or None when the key is new; see ``_answer``."""
        return await self._answer(key, request, known=False)

    async def await_answer(self, key: str, request: BaseModel) -> Answer:
        """The answer of the request that claimed ``key`` first; see ``_answer``."""
        answer = await self._answer(key, request, known=True)
        assert answer is not None  # a known key is never new
        return answer

    async def _answer(self, key: str, request: BaseModel, *, known: bool) -> Answer | None:
        """Waits at most ``wait_seconds`` for the first request with ``key`` to answer.

        Raises ``IdempotencyKeyReusedError`` for another request, and
        ``IdempotencyKeyInUseError`` when the first request is still running after the wait.
        """
        stored = await self._keys.get(key)
        if stored is None and not known:
            return None  # a new key: nothing to wait for, however slow the lookup was
        try:
            async with asyncio.timeout(self._wait_seconds):
                while True:
                    if stored is not None:
                        if stored.request_hash != request_hash(self._endpoint, request):
                            raise IdempotencyKeyReusedError(
                                f"Idempotency-Key {key!r} was used for a different request "
                                f"({stored.payment_id}); send a new key for a new request"
                            )
                        if stored.status_code is not None and stored.response is not None:
                            return Answer(stored.status_code, stored.response, replayed=True)
                    await asyncio.sleep(POLL_SECONDS)
                    stored = await self._keys.get(key)
        except TimeoutError:
            raise IdempotencyKeyInUseError(
                f"the first request with Idempotency-Key {key!r} is still being processed; "
                "retry later"
            ) from None
