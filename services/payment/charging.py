"""Charging a payment through its route, and settling it from what a processor says.

Used by every path that moves a payment towards a decision: the POST that takes it, the
reviewer who approves it, the reconciliation job and the processors' webhooks.

Each change to a payment is one unit of work: the record (checked against its revision, so
a stale copy never overwrites a newer one), the event its new status announces, and, for a
request's final answer, the idempotency key's stored response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from services.payment.answers import ANNOUNCED, answer_for, public
from services.payment.domain import lifecycle
from services.payment.domain import payment as domain
from services.payment.domain.routing import Router
from services.payment.idempotency import IdempotentRequests
from services.payment.processors import (
    Charge,
    ChargeOutcome,
    OutcomeUnknownError,
    PaymentProcessor,
    ProcessorError,
)
from services.payment.storage.payments import Payments
from shared.events.payments import AttemptOutcome, PaymentRecord, PaymentStatus
from shared.money import Money
from shared.storage.mongo import stored_now
from shared.storage.unit_of_work import Transaction, UnitOfWork

log = logging.getLogger(__name__)

PROCESSORS_UNAVAILABLE = "processors_unavailable"


@dataclass(frozen=True)
class Charging:
    uow: UnitOfWork[Transaction]
    payments: Payments
    processors: Mapping[str, PaymentProcessor]
    router: Router
    policy: domain.PaymentPolicy

    async def charge(self, payment: PaymentRecord, token: str) -> PaymentRecord:
        """From ``processing`` to the processor's decision, through the payment's route.

        A technical failure moves on to the next processor the breakers allow; a decline,
        an approval or a pending charge ends the route. A call whose outcome is unknown
        leaves the payment ``processing`` for reconciliation. The returned record's last
        change is not yet committed: the caller commits it with its answer.
        """
        for processor in self.router.route(payment.payment_method):
            if not self.router.allows(processor):
                continue
            attempt_key = f"{payment.id}:{processor}"
            payment = lifecycle.begin_attempt(payment, processor, attempt_key, stored_now())
            payment = await self.commit(payment, announce=False)  # the attempt is on record
            outcome = await self._call(payment, token)
            if isinstance(outcome, ChargeOutcome):
                return self.decided(payment, outcome, actor="processor")
            payment = lifecycle.finish_attempt(
                payment, _unanswered(outcome), stored_now(), error_code=outcome.code
            )
            if isinstance(outcome, OutcomeUnknownError):
                return payment
        return domain.fail(payment, PROCESSORS_UNAVAILABLE, stored_now())

    async def _call(self, payment: PaymentRecord, token: str) -> ChargeOutcome | ProcessorError:
        """The latest attempt's processor asked to charge, its breaker told how it went."""
        attempt = payment.attempts[-1]
        try:
            outcome = await self.processors[attempt.processor].charge(
                self.charge_of(payment, token, attempt.attempt_key)
            )
        except ProcessorError as error:
            self.router.record(attempt.processor, decided=False)
            return error
        self.router.record(attempt.processor, decided=True)
        return outcome

    def decided(
        self, payment: PaymentRecord, outcome: ChargeOutcome, *, actor: str
    ) -> PaymentRecord:
        """The payment after its latest attempt's outcome: still processing while pending."""
        now = stored_now()
        payment = lifecycle.finish_attempt(
            payment,
            lifecycle.attempt_outcome(outcome),
            now,
            reference=outcome.processor_transaction_id,
            error_code=outcome.failure_reason,
        )
        if outcome.pending:
            return payment
        if outcome.approved:
            reference = outcome.processor_transaction_id
            return domain.complete(payment, reference, self.policy, now, actor=actor)
        return domain.fail(payment, outcome.failure_reason or "declined", now, actor=actor)

    @staticmethod
    def charge_of(payment: PaymentRecord, token: str, attempt_key: str) -> Charge:
        return Charge(
            payment_id=payment.id,
            amount=Money.of(payment.amount, payment.currency),
            payment_method=payment.payment_method,
            payment_token=token,
            campaign_id=payment.campaign_id,
            customer_id=payment.customer_id,
            attempt_key=attempt_key,
        )

    async def settle_from_processor(self, payment_id: str, *, actor: str) -> PaymentRecord | None:
        """Ask the processor about a payment still ``processing`` and apply its answer.

        For reconciliation and webhooks: the processor's current state is fetched, never
        taken from a message, so a forged, stale or out-of-order notification changes
        nothing the processor does not confirm. An attempt the processor never received
        is sent again (see ``_resend``). Returns the payment as it now stands.
        """
        payment = await self.payments.get(payment_id)
        if (
            payment is None
            or payment.status is not PaymentStatus.PROCESSING
            or not payment.attempts
        ):
            return payment
        last = payment.attempts[-1]
        try:
            outcome = await self.processors[last.processor].lookup(
                self.charge_of(payment, "", last.attempt_key)
            )
        except ProcessorError as error:
            log.warning("payment %s: %s lookup failed: %s", payment.id, last.processor, error.code)
            return payment
        if outcome is None and last.outcome is not AttemptOutcome.PENDING:
            return await self._resend(payment, actor=actor)
        if outcome is None or (outcome.pending and last.outcome is AttemptOutcome.PENDING):
            return payment  # nothing new: still awaiting confirmation
        return await self._settle(payment, outcome, actor=actor)

    async def _resend(self, payment: PaymentRecord, *, actor: str) -> PaymentRecord:
        """The last attempt sent again, under its own idempotency key.

        The processor does not know the attempt: the request never reached it, or (Stripe's
        search lags by up to an hour) it cannot find it yet. The processor's idempotency
        makes a resend safe either way: an attempt it holds is answered, not repeated.
        Failing the payment instead would be wrong in the second case, with the money taken.
        To the processor a resend is the same attempt, so its record is restarted rather than
        a new one added; committing that first lets only one replica resend.
        """
        token = await self.payments.token_of(payment.id)
        if token is None:
            log.warning("payment %s: no stored token to send it again", payment.id)
            return payment
        restarted = lifecycle.restart_attempt(payment, stored_now())
        payment = await self.commit(restarted, announce=False)
        outcome = await self._call(payment, token)
        if isinstance(outcome, ChargeOutcome):
            return await self._settle(payment, outcome, actor=actor)
        # Still nothing decided: the payment waits for the next round or its time limit.
        finished = lifecycle.finish_attempt(
            payment, _unanswered(outcome), stored_now(), error_code=outcome.code
        )
        return await self.commit(finished, announce=False)

    async def _settle(
        self, payment: PaymentRecord, outcome: ChargeOutcome, *, actor: str
    ) -> PaymentRecord:
        settled = self.decided(payment, outcome, actor=actor)
        return await self.commit(settled, announce=settled.status is not PaymentStatus.PROCESSING)

    async def commit(
        self,
        payment: PaymentRecord,
        *,
        announce: bool,
        answer: tuple[IdempotentRequests, str, int | None] | None = None,
        claim: tuple[IdempotentRequests, str, BaseModel] | None = None,
    ) -> PaymentRecord:
        """One unit of work: the payment, its event, and the idempotency key's claim or
        answer (``answer_for`` the saved payment, with the status code if given).

        Raises ``StaleRecordError`` when the payment changed meanwhile, and
        ``DuplicateKeyError`` when ``claim``'s key was claimed first."""

        saved = payment

        async def work(tx: Transaction) -> None:
            nonlocal saved
            if claim is not None:
                requests, key, request = claim
                await requests.claim(key, request, payment.id, stored_now(), tx.session)
            saved = await self.payments.save(payment, tx.session)
            topic = ANNOUNCED.get(saved.status)
            if announce and topic is not None:
                await tx.emit(topic, public(saved), key=saved.campaign_id)
            if answer is not None:
                requests, key, status_code = answer
                await requests.complete(key, answer_for(saved, status_code), tx.session)

        await self.uow.run(work)
        return saved


def _unanswered(error: ProcessorError) -> AttemptOutcome:
    """Sent and unanswered (reconcile), or refused before anything was charged."""
    return (
        AttemptOutcome.UNKNOWN
        if isinstance(error, OutcomeUnknownError)
        else AttemptOutcome.UNAVAILABLE
    )
