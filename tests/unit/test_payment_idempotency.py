"""Idempotent requests: how long a repeat waits, and for what."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from pydantic import BaseModel

from services.payment.idempotency import (
    IdempotencyKeyInUseError,
    IdempotentRequests,
    replayed,
    request_hash,
)
from services.payment.storage.idempotency_keys import IdempotencyKeys, StoredKey


class Body(BaseModel):
    amount: str


class SlowKeys:
    """A key store that answers after ``delay``, holding what it is given."""

    def __init__(self, delay: float, stored: StoredKey | None = None) -> None:
        self.delay = delay
        self.stored = stored

    async def get(self, key: str) -> StoredKey | None:
        await asyncio.sleep(self.delay)
        return self.stored


def requests(keys: SlowKeys, wait_seconds: float) -> IdempotentRequests:
    return IdempotentRequests(cast(IdempotencyKeys, keys), "POST /v1/payments", wait_seconds)


async def test_a_new_key_is_new_however_slow_the_lookup() -> None:
    assert (
        await requests(SlowKeys(delay=0.2), wait_seconds=0.05).replay("k", Body(amount="1")) is None
    )


async def test_a_key_still_in_progress_after_the_wait_is_in_use() -> None:
    hashed = request_hash("POST /v1/payments", Body(amount="1"))
    in_progress = StoredKey(key="k", request_hash=hashed, payment_id="pay_1")
    with pytest.raises(IdempotencyKeyInUseError):
        await requests(SlowKeys(0.0, in_progress), 0.1).replay("k", Body(amount="1"))


async def test_a_finished_key_replays_its_answer_status_included() -> None:
    hashed = request_hash("POST /v1/payments", Body(amount="1"))
    body: dict[str, Any] = {"id": "pay_1", "status": "failed"}
    done = StoredKey(
        key="k",
        request_hash=hashed,
        payment_id="pay_1",
        status="done",
        status_code=402,
        response=body,
    )
    stored = await requests(SlowKeys(0.0, done), 0.1).replay("k", Body(amount="1"))
    assert stored is not None
    answer = replayed(stored)
    assert (answer.status_code, answer.body, answer.replayed, answer.final) == (
        402,
        body,
        True,
        True,
    )
