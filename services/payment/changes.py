"""Every change to a payment, each one unit of work: read the payment as it is now, apply
the aggregate's verb, save it against its revision, queue the events it announces, and
answer the requests waiting on it.

A change is applied to the current record, never to a copy read before a processor call:
a concurrent change (another refund, a webhook) makes the save a write conflict, and the
change is simply read and applied again (``retry_on_write_conflict``). So a processor's
answer is never lost to a concurrent change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.payment.domain.fees import PaymentPolicy
from services.payment.domain.payment import (
    DECIDED_OUTCOMES,
    FRAUD_SUSPECTED,
    PROCESSORS_UNAVAILABLE,
    Payment,
)
from services.payment.domain.requests import (
    CreatePayment,
    RefundRequest,
    RequestContext,
    ReviewDecision,
)
from services.payment.domain.risk import RiskAssessment
from services.payment.metrics import count_payments
from services.payment.processor_calls import ProcessorCalls
from services.payment.processors import (
    ChargeOutcome,
    ProcessorError,
    ProcessorUnavailableError,
    RefundOutcome,
)
from services.payment.risk_scoring import PaymentRiskScorer
from services.payment.storage.leases import LeaseTerms
from services.payment.storage.payments import UNFLUSHED, Payments, StaleRecordError
from services.payment.storage.transaction import PaymentTransaction, outbox_rows
from services.payment.views import answer_for
from shared.events.payments import PaymentEvent, PaymentStatus, RiskLevel
from shared.storage.mongo import Document, stored_now
from shared.storage.unit_of_work import UnitOfWork, insert_outbox_rows, retry_on_write_conflict

P = PaymentStatus


class PaymentNotFoundError(Exception):
    pass


@dataclass(frozen=True)
class Initiated:
    """A new payment, and the outbox rows kept on its record until its outcome is written."""

    payment: Payment
    unflushed: list[Document]


@dataclass(frozen=True)
class PaymentChanges:
    uow: UnitOfWork[PaymentTransaction]
    calls: ProcessorCalls
    scorer: PaymentRiskScorer
    policy: PaymentPolicy
    terms: LeaseTerms
    payments: Payments

    @retry_on_write_conflict
    async def initiate(
        self,
        request: CreatePayment,
        context: RequestContext,
        claim: tuple[str, str],
        *,
        payment_id: str,
    ) -> Initiated:
        """Claims the key, counts and scores the payment, records it as risk decides: held,
        blocked, or processing with its first attempt begun and leased. A payment about to
        be charged keeps its events on its record (``Initiated.unflushed``) for the outcome
        write to insert; any other has them in the outbox now, and its key answered."""
        key, key_hash = claim
        signals = await self.scorer.signals(request, context, stored_now())
        now = stored_now()
        async with self.uow as tx:
            await tx.keys.claim(key, key_hash, payment_id, now)
            risk, risk_document = await self.scorer.assess(
                tx.velocity, request, context, signals, now
            )
            payment = Payment.initiate(
                request,
                context,
                self.policy,
                payment_id=payment_id,
                processor=self.calls.router.first_choice(request.payment_method),
                risk=risk,
                now=now,
            )
            self._decide_risk(payment, risk, now)
            extra: Document = {"risk": risk_document}
            last = payment.last_attempt
            if payment.status is P.PROCESSING and last is not None and last.in_flight:
                unflushed = tx.deferred_events(payment)
                await tx.payments.add(
                    payment, request.payment_token, extra | {UNFLUSHED: unflushed}
                )
                await tx.leases.grant(last.attempt_key, self.terms, now)
                return Initiated(payment, unflushed)
            await tx.payments.add(payment, request.payment_token, extra)
            await self._after(tx, payment, await tx.publish(payment), now, own_key=key)
        return Initiated(payment, [])

    async def settle_charge(
        self, initiated: Initiated, result: ChargeOutcome | ProcessorError, *, own_key: str
    ) -> Payment:
        """A new payment's first answer, recorded without a transaction: one atomic write
        of the payment with its events and the key's answer (``Payments.record_outcome``),
        then its events inserted into the outbox. A process dying between the two leaves
        the events on the payment, where reconciliation finds and inserts them. Anything
        but a decided answer on an unchanged payment takes the transactional way."""
        payment, attempt = initiated.payment, initiated.payment.last_attempt
        assert attempt is not None  # noqa: S101 - an initiated payment has its first attempt
        if isinstance(result, ChargeOutcome):
            now = stored_now()
            payment.settle(result, now, self.policy, actor="processor")
            if payment.status is not P.PROCESSING:
                events = payment.pull_events()
                announced = outbox_rows(events, self.uow.source)
                answer = answer_for(payment)
                stored = {"status_code": answer.status_code, "response": answer.body}
                try:
                    await self.payments.record_outcome(
                        payment, announced, own_key, stored | {"final": True}
                    )
                except StaleRecordError:
                    pass  # changed meanwhile (a webhook): applied to it as it is now, below
                else:
                    count_payments(events)
                    await self._flush([*initiated.unflushed, *announced])
                    return payment
        payment = await self.record_charge(
            payment.id, attempt.attempt_key, result, actor="processor", own_key=own_key
        )
        await self._flush(initiated.unflushed)
        return payment

    async def _flush(self, rows: list[Document]) -> None:
        await insert_outbox_rows(self.uow.db, rows)
        if rows:
            self.uow.on_commit()  # the relay publishes them now, not at its next poll

    def _decide_risk(self, payment: Payment, risk: RiskAssessment, now: datetime) -> None:
        if risk.level is RiskLevel.BLOCK:
            payment.fail(FRAUD_SUSPECTED, now, actor="risk")
        elif risk.level is RiskLevel.REVIEW:
            payment.hold_for_review(now)
        else:
            self._begin_next_attempt(payment, now, actor="api")

    def _begin_next_attempt(self, payment: Payment, now: datetime, *, actor: str) -> None:
        processor = self.calls.next_processor(payment)
        if processor is None:
            payment.fail(PROCESSORS_UNAVAILABLE, now, actor=actor)
        else:
            payment.begin_attempt(processor, now, actor=actor)

    @retry_on_write_conflict
    async def record_charge(
        self,
        payment_id: str,
        attempt_key: str,
        result: ChargeOutcome | ProcessorError,
        *,
        actor: str,
        own_key: str | None = None,
    ) -> Payment:
        """What the processor said about ``attempt_key``; after a failure that charged
        nothing, the route's next processor is tried (a new attempt, leased)."""
        now = stored_now()
        async with self.uow as tx:
            payment = await self._current(tx, payment_id)
            last = payment.last_attempt
            undecided = last is not None and last.outcome not in DECIDED_OUTCOMES
            if undecided and last is not None and last.attempt_key == attempt_key:
                if isinstance(result, ChargeOutcome):
                    payment.settle(result, now, self.policy, actor=actor)
                else:
                    nothing = isinstance(result, ProcessorUnavailableError)
                    payment.attempt_unanswered(result.code, now, charged_nothing=nothing)
                    if nothing:
                        self._begin_next_attempt(payment, now, actor=actor)
                announced = await tx.save(payment)
            else:
                announced = []  # recorded already, by this call or another
            await tx.leases.release(attempt_key, self.terms.owner)
            await self._after(tx, payment, announced, now, own_key=own_key)
        return payment

    @retry_on_write_conflict
    async def review(
        self, payment_id: str, decision: ReviewDecision, claim: tuple[str, str]
    ) -> Payment:
        key, key_hash = claim
        now = stored_now()
        async with self.uow as tx:
            await tx.keys.claim(key, key_hash, payment_id, now)
            payment = await self._current(tx, payment_id)
            if decision.decision == "approve":
                payment.approve(decision.reviewer, decision.reason, now)
                self._begin_next_attempt(payment, now, actor=f"reviewer:{decision.reviewer}")
            else:
                payment.decline_review(decision.reviewer, now)
            await self._after(tx, payment, await tx.save(payment), now, own_key=key)
        return payment

    @retry_on_write_conflict
    async def reserve_refund(
        self, payment_id: str, request: RefundRequest, refund_id: str, claim: tuple[str, str]
    ) -> Payment:
        key, key_hash = claim
        now = stored_now()
        async with self.uow as tx:
            await tx.keys.claim(key, key_hash, payment_id, now, refund_id=refund_id)
            payment = await self._current(tx, payment_id)
            payment.reserve_refund(refund_id, request.amount, request.reason, now)
            await tx.save(payment)
            await tx.leases.grant(refund_id, self.terms, now)
        return payment

    @retry_on_write_conflict
    async def record_refund(
        self,
        payment_id: str,
        refund_id: str,
        result: RefundOutcome | ProcessorError,
        *,
        actor: str,
        own_key: str | None = None,
    ) -> Payment:
        """The processor's answer, applied to the refund on the payment as it is now. A
        failure that refunded nothing releases the reservation; an unknown one keeps it."""
        now = stored_now()
        async with self.uow as tx:
            payment = await self._current(tx, payment_id)
            if isinstance(result, ProcessorUnavailableError):
                result = RefundOutcome(None, result.code)
            if isinstance(result, RefundOutcome):
                payment.settle_refund(refund_id, result, now, actor=actor)
            else:
                payment.refund_unanswered(refund_id, result.code)
            announced = await tx.save(payment)
            await tx.leases.release(refund_id, self.terms.owner)
            await self._after(tx, payment, announced, now, own_key=own_key)
        return payment

    @retry_on_write_conflict
    async def resume(self, payment_id: str) -> Payment:
        """A payment its request's process left before any attempt (recorded pending by an
        older version, or approved with no attempt begun): carried on as risk decided."""
        now = stored_now()
        async with self.uow as tx:
            payment = await self._current(tx, payment_id)
            if payment.status is P.PENDING and payment.metadata.risk_level is RiskLevel.REVIEW:
                payment.hold_for_review(now)
            elif payment.status is P.PENDING and payment.metadata.risk_level is RiskLevel.BLOCK:
                payment.fail(FRAUD_SUSPECTED, now, actor="reconciliation")
            elif payment.status in (P.PENDING, P.PROCESSING) and not payment.attempts:
                self._begin_next_attempt(payment, now, actor="reconciliation")
            await self._after(tx, payment, await tx.save(payment), now)
        return payment

    @retry_on_write_conflict
    async def restart_attempt(self, payment_id: str, attempt_key: str) -> Payment | None:
        """The latest attempt started over, to send again under its own key; None when it
        is no longer the one to send (decided or replaced meanwhile)."""
        now = stored_now()
        async with self.uow as tx:
            payment = await self._current(tx, payment_id)
            last = payment.last_attempt
            if payment.status is not P.PROCESSING or last is None:
                return None
            if last.attempt_key != attempt_key or last.outcome in DECIDED_OUTCOMES:
                return None
            payment.restart_attempt(now)
            await tx.save(payment)
        return payment

    @retry_on_write_conflict
    async def time_out(self, payment_id: str) -> Payment:
        now = stored_now()
        async with self.uow as tx:
            payment = await self._current(tx, payment_id)
            if payment.status is not P.PROCESSING:
                return payment
            payment.time_out(now)
            await self._after(tx, payment, await tx.save(payment), now)
        return payment

    @retry_on_write_conflict
    async def flag(self, payment_id: str, condition: str) -> Payment:
        async with self.uow as tx:
            payment = await self._current(tx, payment_id)
            if condition not in payment.flags:
                payment.flag(condition)
                await tx.save(payment)
        return payment

    async def _current(self, tx: PaymentTransaction, payment_id: str) -> Payment:
        payment = await tx.payments.get(payment_id)
        if payment is None:
            raise PaymentNotFoundError("no payment with this id")
        return payment

    async def _after(
        self,
        tx: PaymentTransaction,
        payment: Payment,
        announced: list[PaymentEvent],
        now: datetime,
        own_key: str | None = None,
    ) -> None:
        """What every change ends with: a new attempt leased, and the requests waiting on
        the payment answered. The
        request making the change always gets an answer (provisional while undecided);
        other requests only a final one, since theirs may still be running. A request about
        to call the processor is not answered yet: its call decides."""
        last = payment.last_attempt
        if payment.status is P.PROCESSING and last is not None and last.in_flight:
            await tx.leases.grant(last.attempt_key, self.terms, now)
        calling = payment.status is P.PROCESSING and last is not None and last.in_flight
        for stored in await tx.keys.open_for(payment.id):
            answer = answer_for(payment, stored.refund_id)
            if answer.final or (stored.key == own_key and not calling):
                await tx.keys.answer(
                    stored.key, answer.status_code, answer.body, final=answer.final
                )
