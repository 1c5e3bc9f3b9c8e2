"""The port every payment processor adapter implements.

Adapters: ``sandbox`` (deterministic, no network; the default), and the real ``stripe``,
``paypal`` and ``crypto`` adapters, used when their credentials are configured. Nothing
outside this package knows which one serves a processor.

What a call can end in, and what the payment service does about it:

- a ``ChargeOutcome``: the processor decided (approved, declined, or ``pending`` while a
  crypto charge awaits network confirmation);
- ``ProcessorUnavailableError``: nothing was charged (connection refused, 429, an
  authentication failure, or a step that cannot move money failing): safe to try the next
  processor in the route;
- ``OutcomeUnknownError``: the request may have moved money but no decision came back
  (timeout, dropped connection, or a 5xx, which processors document as indeterminate):
  the payment stays ``processing`` and reconciliation asks the processor with ``lookup``.

Every call carries ``Charge.idempotency_key`` (a refund, its refund id), passed to the
processor as its own idempotency key (or request id), so asking twice never charges or
refunds twice at the processor, as long as it is asked within the processor's
``idempotency_window``; past it, only a lookup is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from shared.events.payments import PaymentMethod
from shared.money import Money


@dataclass(frozen=True)
class Charge:
    """What a processor is asked to collect, and what to tag the processor's record with."""

    payment_id: str
    amount: Money
    payment_method: PaymentMethod
    payment_token: str
    campaign_id: str | None = None
    customer_id: str | None = None
    attempt_key: str | None = None

    @property
    def idempotency_key(self) -> str:
        """One key per attempt on one processor: ``<payment id>:<processor>`` by default."""
        return self.attempt_key or self.payment_id


@dataclass(frozen=True)
class ChargeOutcome:
    """The processor's answer: approved when there is no ``failure_reason`` and not pending."""

    processor_transaction_id: str | None
    failure_reason: str | None = None
    pending: bool = False

    @property
    def approved(self) -> bool:
        return self.failure_reason is None and not self.pending


@dataclass(frozen=True)
class RefundOrder:
    """Money to give back on a payment the processor took; ``refund_id`` is the processor's
    idempotency key for it."""

    refund_id: str
    payment_id: str
    processor_transaction_id: str
    amount: Money
    reason: str | None = None


@dataclass(frozen=True)
class RefundOutcome:
    processor_refund_id: str | None
    failure_reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.failure_reason is None


class ProcessorError(Exception):
    """A technical failure: the processor gave no decision. ``code`` is stored on the attempt."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class ProcessorUnavailableError(ProcessorError):
    """Nothing was charged; the next processor in the route may be tried."""


class OutcomeUnknownError(ProcessorError):
    """The request may have reached the processor; only ``lookup`` can tell what happened."""


class PaymentProcessor(Protocol):
    """Collects charges, answers for past attempts, and refunds. Declines are outcomes."""

    @property
    def name(self) -> str:
        """``stripe``, ``paypal`` or ``crypto``: the key of the routing table and fee schedule."""
        ...

    async def charge(self, charge: Charge) -> ChargeOutcome: ...

    async def lookup(self, charge: Charge) -> ChargeOutcome | None:
        """The current state of the attempt made for ``charge`` (by its idempotency key or
        reference); None when the processor never received it."""
        ...

    async def refund(self, refund: RefundOrder) -> RefundOutcome: ...

    async def lookup_refund(self, refund: RefundOrder) -> RefundOutcome | None:
        """The current state of the refund made for ``refund`` (by its refund id); None
        when the processor never received it."""
        ...

    @property
    def idempotency_window(self) -> timedelta | None:
        """How long the processor honours an idempotency key; None for as long as it keeps
        the attempt. Past it, asking again could charge or refund a second time."""
        ...

    async def close(self) -> None:
        """Release the adapter's connections at shutdown."""
        ...
