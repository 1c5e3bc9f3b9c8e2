"""Idempotent POSTs with Stripe's semantics.

A key is claimed in the same transaction as the work it starts, so of any number of
concurrent requests with one key exactly one does the work. The others wait (a bounded
time) for its answer and replay it, status code included; a key reused with a different
request is a conflict. A key is bound to one endpoint and body: the hash covers both.

Every claimed key ends with a stored answer: the request answers it, or, when the request
died or answered before the processor decided, whoever settles the payment later does
(``PaymentChanges.answer_open_requests``). Until then a retry gets the payment as it is.
"""

from __future__ import annotations

import asyncio
import hashlib

from pydantic import BaseModel

from services.payment.storage.idempotency_keys import DONE, IdempotencyKeys, StoredKey
from services.payment.views import Answer

POLL_SECONDS = 0.05


class IdempotencyKeyReusedError(Exception):
    """The key was first used with a different request."""


class IdempotencyKeyInUseError(Exception):
    """The first request with this key is still being processed."""


def request_hash(endpoint: str, request: BaseModel) -> str:
    """Equal for requests that mean the same thing ("149.990" and "149.99" included)."""
    return hashlib.sha256(f"{endpoint}\n{request.model_dump_json()}".encode()).hexdigest()


class IdempotentRequests:
    """The keys of one endpoint (``POST /v1/payments``, ``review:<id>``, ``refund:<id>``)."""

    def __init__(self, keys: IdempotencyKeys, endpoint: str, wait_seconds: float) -> None:
        self._keys = keys
        self._endpoint = endpoint
        self._wait_seconds = wait_seconds

    def scoped(self, endpoint: str) -> IdempotentRequests:
        """The same store for another endpoint: one key may serve only one of them."""
        return IdempotentRequests(self._keys, endpoint, self._wait_seconds)

    def hash(self, request: BaseModel) -> str:
        return request_hash(self._endpoint, request)

    async def replay(self, key: str, request: BaseModel) -> StoredKey | None:
        """The key as stored, once answered (provisionally or not); None for a new key.
        A key still in progress is waited for; see ``await_answer``."""
        stored = await self._keys.get(key)
        if stored is None:
            return None  # a new key: nothing to wait for, however slow the lookup was
        return await self.await_answer(key, request, stored)

    async def await_answer(
        self, key: str, request: BaseModel, stored: StoredKey | None = None
    ) -> StoredKey:
        """Waits at most ``wait_seconds`` for the first request with ``key`` to answer.

        Raises ``IdempotencyKeyReusedError`` for another request, and
        ``IdempotencyKeyInUseError`` when the first request is still running after the wait.
        """
        try:
            async with asyncio.timeout(self._wait_seconds):
                while True:
                    if stored is not None:
                        if stored.request_hash != self.hash(request):
                            raise IdempotencyKeyReusedError(
                                "this Idempotency-Key was used for a different request; "
                                "send a new key for a new request"
                            )
                        if stored.answered:
                            return stored
                    await asyncio.sleep(POLL_SECONDS)
                    stored = await self._keys.get(key)
        except TimeoutError:
            raise IdempotencyKeyInUseError(
                "the first request with this Idempotency-Key is still being processed; retry later"
            ) from None


def replayed(stored: StoredKey) -> Answer:
    # A key is replayed only once its answer is stored: both are set together.
    assert stored.status_code is not None  # noqa: S101 - narrows the type; see above
    assert stored.response is not None  # noqa: S101 - narrows the type; see above
    return Answer(stored.status_code, stored.response, final=stored.status == DONE, replayed=True)
