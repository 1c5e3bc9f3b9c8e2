"""The payment service's repositories, bound to one transaction: ``async with uow as tx``.

``publish`` turns the events a payment's changes recorded into outbox rows, keyed by the
campaign the sale is credited to, so a campaign's payment events keep their order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.payment import Payment
from services.payment.metrics import count_payments
from services.payment.storage.field_encryption import Keyring
from services.payment.storage.idempotency_keys import IdempotencyKeys
from services.payment.storage.leases import Leases
from services.payment.storage.payments import Payments
from services.payment.storage.velocity import VelocityCounters
from shared.events.payments import (
    PaymentCompleted,
    PaymentEvent,
    PaymentFailed,
    PaymentInitiated,
    PaymentRefunded,
    PaymentReviewRequired,
)
from shared.events.topics import (
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_INITIATED,
    PAYMENT_REFUNDED,
    PAYMENT_REVIEW_REQUIRED,
)
from shared.storage.mongo import Document
from shared.storage.unit_of_work import Transaction, deferred_outbox_row

TOPICS: Mapping[type[PaymentEvent], str] = {
    PaymentInitiated: PAYMENT_INITIATED,
    PaymentReviewRequired: PAYMENT_REVIEW_REQUIRED,
    PaymentCompleted: PAYMENT_COMPLETED,
    PaymentFailed: PAYMENT_FAILED,
    PaymentRefunded: PAYMENT_REFUNDED,
}


class PaymentTransaction(Transaction):
    def __init__(
        self,
        db: AsyncDatabase[Document],
        session: AsyncClientSession,
        source: str,
        *,
        keyring: Keyring,
        keys_kept: timedelta,
    ) -> None:
        super().__init__(db, session, source)
        self.payments = Payments(db, keyring, session)
        self.keys = IdempotencyKeys(db, keys_kept, session)
        self.leases = Leases(db, session)
        self.velocity = VelocityCounters(db, session)
        self._deferred: list[PaymentEvent] = []

    def committed(self) -> None:
        emitted = [event.data for event in self.emitted if isinstance(event.data, PaymentEvent)]
        count_payments([*emitted, *self._deferred])

    async def save(self, payment: Payment) -> list[PaymentEvent]:
        """The payment over the revision it was read at, and the events its changes record."""
        await self.payments.save(payment)
        return await self.publish(payment)

    def deferred_events(self, payment: Payment) -> list[Document]:
        events = payment.pull_events()
        self._deferred += events
        return outbox_rows(events, self.source)

    async def publish(self, payment: Payment) -> list[PaymentEvent]:
        events = payment.pull_events()
        for event in events:
            await self.emit(TOPICS[type(event)], event, key=event.campaign_id)
        return events


def outbox_rows(events: list[PaymentEvent], source: str) -> list[Document]:
    """A payment's events as outbox rows to keep on the payment (``Payments.add``,
    ``Payments.record_outcome``) and insert after the processor answers."""
    return [
        deferred_outbox_row(source, TOPICS[type(event)], event, key=event.campaign_id)
        for event in events
    ]


def payment_transactions(
    keyring: Keyring, keys_kept: timedelta
) -> Callable[[AsyncDatabase[Document], AsyncClientSession, str], PaymentTransaction]:
    """The factory ``UnitOfWork.bound`` takes, with the service's keyring and key lifetime."""

    def open_transaction(
        db: AsyncDatabase[Document], session: AsyncClientSession, source: str
    ) -> PaymentTransaction:
        return PaymentTransaction(db, session, source, keyring=keyring, keys_kept=keys_kept)

    return open_transaction
