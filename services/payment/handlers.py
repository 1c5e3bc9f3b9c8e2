"""Payment entrypoints: take a payment at most once per idempotency key, and look one up.

Each status change is its own unit of work (record write + outbox row together), so the
broker sees payment.initiated before the processor is asked, and payment.completed or
payment.failed with the stored response that a retry with the same key will replay.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.payment import domain
from services.payment.processors import Charge, PaymentProcessor
from services.payment.repository import IdempotencyKeys, Payments, is_idempotency_key_clash
from shared.events.envelope import CloudEvent, utc_now
from shared.events.payments import PaymentRecord, PaymentStatus
from shared.events.topics import PAYMENT_COMPLETED, PAYMENT_FAILED, PAYMENT_INITIATED
from shared.logs import correlation_id
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import Transaction, UnitOfWork

log = logging.getLogger(__name__)

CREATED, PAYMENT_REQUIRED = 201, 402


class IdempotencyKeyReusedError(Exception):
    """The key was first used with a different request body."""


class IdempotencyKeyInUseError(Exception):
    """The first request with this key is still being processed."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def declare_events(infra: Infrastructure) -> None:
    for topic, description in (
        (PAYMENT_INITIATED, "A payment was accepted and is about to be charged."),
        (PAYMENT_COMPLETED, "The processor collected the payment."),
        (PAYMENT_FAILED, "The processor declined the payment."),
    ):
        infra.publisher(topic, CloudEvent[PaymentRecord], description=description)


def stored_now() -> datetime:
    """Now, at the precision BSON keeps (milliseconds), so that the answer, the events and
    the record read back later all carry the same timestamps."""
    now = utc_now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def request_hash(request: domain.CreatePayment) -> str:
    """Equal for requests that mean the same payment ("149.990" and "149.99" included)."""
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()


@dataclass(frozen=True)
class PaymentHandlers:
    uow: UnitOfWork
    payments: Payments
    keys: IdempotencyKeys
    processors: Mapping[str, PaymentProcessor]
    policy: domain.PaymentPolicy

    async def take_payment(
        self, request: domain.CreatePayment, key: str, context: domain.RequestContext
    ) -> Answer:
        correlation_id.set(request.campaign_id)
        payment = domain.initiate_payment(
            request, context, self.policy, payment_id=f"pay_{uuid.uuid4()}", now=stored_now()
        )
        if not await self._initiate(payment, key, request_hash(request)):
            return await self._replay(key, request_hash(request))
        processing = domain.start_processing(payment)
        await self.uow.run(lambda tx: self.payments.replace(processing, tx.session))
        outcome = await self.processors[payment.processor].charge(
            Charge(payment.id, request.money, payment.payment_method, request.payment_token)
        )
        return await self._settle(domain.settle(processing, outcome, stored_now()), key)

    async def find_payment(self, payment_id: str) -> PaymentRecord | None:
        return await self.payments.get(payment_id)

    async def _initiate(self, payment: PaymentRecord, key: str, fingerprint: str) -> bool:
        """Claims ``key`` with the pending payment; False if the key was already claimed."""

        async def work(tx: Transaction) -> None:
            await self.keys.claim(key, fingerprint, payment.id, payment.created_at, tx.session)
            await self.payments.add(payment, tx.session)
            await tx.emit(PAYMENT_INITIATED, payment, key=payment.campaign_id)

        try:
            await self.uow.run(work)
        except DuplicateKeyError as error:
            if not is_idempotency_key_clash(error):
                raise
            return False
        return True

    async def _settle(self, payment: PaymentRecord, key: str) -> Answer:
        completed = payment.status is PaymentStatus.COMPLETED
        answer = Answer(CREATED if completed else PAYMENT_REQUIRED, payment.model_dump(mode="json"))

        async def work(tx: Transaction) -> None:
            await self.payments.replace(payment, tx.session)
            await self.keys.complete(key, answer.status_code, answer.body, tx.session)
            topic = PAYMENT_COMPLETED if completed else PAYMENT_FAILED
            await tx.emit(topic, payment, key=payment.campaign_id)

        await self.uow.run(work)
        log.info("payment %s %s via %s", payment.id, payment.status, payment.processor)
        return answer

    async def _replay(self, key: str, fingerprint: str) -> Answer:
        stored = await self.keys.get(key)
        if stored is not None and stored.request_hash != fingerprint:
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {key!r} was used for a different request (payment "
                f"{stored.payment_id}); send a new key for a new payment"
            )
        if stored is None or stored.status_code is None or stored.response is None:
            raise IdempotencyKeyInUseError(
                f"the first request with Idempotency-Key {key!r} is still being processed; "
                "retry later"
            )
        return Answer(stored.status_code, stored.response, replayed=True)
