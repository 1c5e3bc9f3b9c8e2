"""Payment entrypoints: take a payment at most once per idempotency key, decide a held
one, refund a captured one, and read them back.

The charging itself, and every write of a payment, is in ``charging``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from services.payment.answers import ANNOUNCED, answer_for, public
from services.payment.charging import Charging
from services.payment.domain import lifecycle
from services.payment.domain import payment as domain
from services.payment.domain.risk import RiskAssessment
from services.payment.idempotency import Answer, IdempotentRequests
from services.payment.processors import ProcessorError, Refund, RefundOutcome
from services.payment.storage.payments import Page, PaymentQuery, Payments
from shared.events.envelope import CloudEvent
from shared.events.payments import PaymentRecord, PaymentStatus, RiskLevel
from shared.logs import correlation_id
from shared.money import Money
from shared.runtime import Infrastructure
from shared.storage.mongo import Document, stored_now
from shared.storage.unit_of_work import Transaction

log = logging.getLogger(__name__)

FRAUD_SUSPECTED = "fraud_suspected"
REVIEW_DECLINED = "review_declined"


class PaymentNotFoundError(Exception):
    pass


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: Literal["approve", "decline"]
    reviewer: str = Field(min_length=1, max_length=128, examples=["risk-team@shop.example"])
    reason: str | None = Field(default=None, max_length=500)


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: domain.DecimalAmount | None = Field(
        default=None, description="Decimal string; absent refunds everything left."
    )
    reason: str | None = Field(default=None, max_length=500, examples=["requested_by_customer"])


def declare_events(infra: Infrastructure) -> None:
    descriptions = {
        PaymentStatus.PENDING: "A payment was accepted and scored for risk.",
        PaymentStatus.REVIEW: "A payment is held until a reviewer approves or declines it.",
        PaymentStatus.COMPLETED: "The processor captured the payment.",
        PaymentStatus.FAILED: "The payment failed: declined, blocked or no processor took it.",
        PaymentStatus.REFUNDED: "Part or all of a completed payment was refunded.",
    }
    for status, description in descriptions.items():
        infra.publisher(ANNOUNCED[status], CloudEvent[PaymentRecord], description=description)


class RiskScorer(Protocol):
    async def assess(
        self,
        payment_id: str,
        request: domain.CreatePayment,
        context: domain.RequestContext,
        now: datetime,
    ) -> tuple[RiskAssessment, Document]: ...


@dataclass(frozen=True)
class PaymentHandlers:
    charging: Charging
    payments: Payments
    requests: IdempotentRequests
    risk: RiskScorer

    @property
    def policy(self) -> domain.PaymentPolicy:
        return self.charging.policy

    async def take_payment(
        self, request: domain.CreatePayment, key: str, context: domain.RequestContext
    ) -> Answer:
        correlation_id.set(request.campaign_id)
        replayed = await self.requests.replay(key, request)
        if replayed is not None:
            return replayed
        payment_id, now = f"pay_{uuid.uuid4()}", stored_now()
        risk, risk_document = await self.risk.assess(payment_id, request, context, now)
        payment = domain.initiate_payment(
            request,
            context,
            self.policy,
            payment_id=payment_id,
            processor=self.charging.router.first_choice(request.payment_method),
            risk=risk,
            now=now,
        )

        async def initiate(tx: Transaction) -> None:
            await self.requests.claim(key, request, payment.id, payment.created_at, tx.session)
            await self.payments.add(
                payment, request.payment_token, {"risk": risk_document}, tx.session
            )
            await tx.emit(
                ANNOUNCED[PaymentStatus.PENDING], public(payment), key=payment.campaign_id
            )

        if await self.requests.first_claim(self.charging.uow.run(initiate)) is None:
            return await self.requests.await_answer(key, request)
        if risk.level is RiskLevel.BLOCK:
            payment = domain.fail(payment, FRAUD_SUSPECTED, stored_now(), actor="risk")
        elif risk.level is RiskLevel.REVIEW:
            payment = lifecycle.transition(
                payment, PaymentStatus.REVIEW, at=stored_now(), actor="risk", reason="risk_review"
            )
        else:
            processing = lifecycle.transition(
                payment, PaymentStatus.PROCESSING, at=stored_now(), actor="api"
            )
            payment = await self.charging.charge(processing, request.payment_token)
        return await self._answer(payment, key, self.requests)

    async def review(self, payment_id: str, decision: ReviewDecision, key: str) -> Answer:
        """Approve (charge it now) or decline a payment held for review."""
        requests = self.requests.scoped(f"review:{payment_id}")
        replayed = await requests.replay(key, decision)
        if replayed is not None:
            return replayed
        payment = await self._existing(payment_id)
        actor = f"reviewer:{decision.reviewer}"
        if payment.status is not PaymentStatus.REVIEW:
            raise lifecycle.IllegalTransitionError(
                f"payment {payment.id} is {payment.status.value}; only a payment in review "
                "can be reviewed"
            )
        if decision.decision == "decline":
            declined = domain.fail(payment, REVIEW_DECLINED, stored_now(), actor=actor)
            return await self._answer(declined, key, requests, claim=decision)
        approved = lifecycle.transition(
            payment, PaymentStatus.PROCESSING, at=stored_now(), actor=actor, reason=decision.reason
        )
        claimed = await self._claimed(approved, key, requests, decision)
        if claimed is None:
            return await requests.await_answer(key, decision)
        token = await self.payments.token_of(payment_id) or ""
        return await self._answer(await self.charging.charge(claimed, token), key, requests)

    async def refund(self, payment_id: str, request: RefundRequest, key: str) -> Answer:
        """Refund through the processor that took the payment: 201 refunded, 402 refused."""
        requests = self.requests.scoped(f"refund:{payment_id}")
        replayed = await requests.replay(key, request)
        if replayed is not None:
            return replayed
        payment = await self._existing(payment_id)
        amount = (
            Money.of(request.amount, payment.currency)
            if request.amount is not None
            else lifecycle.refundable(payment)
        )
        refund_id = f"re_{uuid.uuid4()}"
        reserved = lifecycle.begin_refund(payment, refund_id, amount, request.reason, stored_now())
        claimed = await self._claimed(reserved, key, requests, request)
        if claimed is None:
            return await requests.await_answer(key, request)
        outcome = await self._refund_at_processor(claimed, refund_id, amount, request.reason)
        refunded = lifecycle.finish_refund(claimed, refund_id, outcome, stored_now(), actor="api")
        code = 201 if outcome.succeeded else 402
        # A refused refund changes no status: there is nothing to announce.
        return await self._answer(
            refunded, key, requests, status_code=code, announce=outcome.succeeded
        )

    async def find_payment(self, payment_id: str) -> PaymentRecord | None:
        return await self.payments.get(payment_id)

    async def list_payments(self, query: PaymentQuery) -> Page:
        return await self.payments.page(query)

    async def _existing(self, payment_id: str) -> PaymentRecord:
        payment = await self.payments.get(payment_id)
        if payment is None:
            raise PaymentNotFoundError(f"no payment with id {payment_id!r}")
        correlation_id.set(payment.campaign_id)
        return payment

    async def _refund_at_processor(
        self, payment: PaymentRecord, refund_id: str, amount: Money, reason: str | None
    ) -> RefundOutcome:
        refund = Refund(
            refund_id=refund_id,
            payment_id=payment.id,
            processor_transaction_id=payment.processor_transaction_id or "",
            amount=amount,
            reason=reason,
        )
        try:
            return await self.charging.processors[payment.processor].refund(refund)
        except ProcessorError as error:
            return RefundOutcome(None, error.code)

    async def _claimed(
        self, payment: PaymentRecord, key: str, requests: IdempotentRequests, request: BaseModel
    ) -> PaymentRecord | None:
        """Commit ``payment`` with ``key`` claimed and return it as saved; None if another
        request claimed the key first."""
        claim = (requests, key, request)
        return await requests.first_claim(
            self.charging.commit(payment, announce=False, claim=claim)
        )

    async def _answer(
        self,
        payment: PaymentRecord,
        key: str,
        requests: IdempotentRequests,
        *,
        claim: BaseModel | None = None,
        status_code: int | None = None,
        announce: bool = True,
    ) -> Answer:
        """Commit the payment's latest change with the answer a retry of ``key`` replays;
        ``claim``, when the key is not claimed yet, claims it in the same transaction."""
        saved = await self.charging.commit(
            payment,
            announce=announce and payment.status is not PaymentStatus.PROCESSING,
            answer=(requests, key, status_code),
            claim=(requests, key, claim) if claim is not None else None,
        )
        log.info("payment %s %s via %s", saved.id, saved.status, saved.processor)
        # Answers, like events, leave out the request's IP address and user agent, so the
        # copy a retry replays holds none; GET /v1/payments/{id} returns them decrypted.
        return answer_for(saved, status_code)
