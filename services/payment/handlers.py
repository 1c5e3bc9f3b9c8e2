"""Payment entrypoints: take a payment at most once per idempotency key, decide a held
one, refund a captured one, and read them back.

Each is short: replay a known key, make the change that claims the key (``changes``), ask
the processor outside any transaction (``processor_calls``), record its answer against the
payment as it is then, and answer with the payment's view.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass

from services.payment.changes import PaymentChanges, PaymentNotFoundError
from services.payment.domain.payment import Payment
from services.payment.domain.requests import (
    CreatePayment,
    RefundRequest,
    RequestContext,
    ReviewDecision,
)
from services.payment.idempotency import IdempotentRequests, replayed
from services.payment.processor_calls import ProcessorCalls
from services.payment.storage.idempotency_keys import DONE, KeyClaimedError, StoredKey
from services.payment.storage.payments import Page, PaymentQuery, Payments
from services.payment.views import Answer, PaymentView, answer_for, view_of
from shared.events.payments import PaymentStatus
from shared.logs import correlation_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentHandlers:
    changes: PaymentChanges
    calls: ProcessorCalls
    payments: Payments
    requests: IdempotentRequests

    async def take_payment(
        self, request: CreatePayment, key: str, context: RequestContext
    ) -> Answer:
        """A known key is found by its claim failing, not looked up first: a new key costs
        no read."""
        correlation_id.set(request.campaign_id)
        claim = (key, self.requests.hash(request))
        try:
            initiated = await self.changes.initiate(
                request, context, claim, payment_id=f"pay_{uuid.uuid4()}"
            )
        except KeyClaimedError:
            return await self._replay(await self.requests.await_answer(key, request))
        payment = initiated.payment
        if payment.status is PaymentStatus.PROCESSING:
            first = payment.last_attempt
            result = await self.calls.charge(payment, request.payment_token)
            payment = await self.changes.settle_charge(initiated, result, own_key=key)
            if payment.last_attempt is not first and payment.last_attempt != first:
                # a failover: the route's next processor was begun
                payment = await self._charge(payment, request.payment_token, key)
        return self._answered(payment)

    async def review(self, payment_id: str, decision: ReviewDecision, key: str) -> Answer:
        """Approve (charge it now) or decline a payment held for review."""
        requests = self.requests.scoped(f"review:{payment_id}")
        if (known := await requests.replay(key, decision)) is not None:
            return await self._replay(known)
        try:
            payment = await self.changes.review(
                payment_id, decision, (key, requests.hash(decision))
            )
        except KeyClaimedError:
            return await self._replay(await requests.await_answer(key, decision))
        correlation_id.set(payment.campaign_id)
        if payment.status is PaymentStatus.PROCESSING:
            token = await self.payments.token_of(payment_id) or ""
            payment = await self._charge(payment, token, key)
        return self._answered(payment)

    async def refund(self, payment_id: str, request: RefundRequest, key: str) -> Answer:
        """Refund through the processor that took the payment: 201 refunded, 402 refused,
        202 when its answer was lost (the amount stays reserved until reconciled)."""
        requests = self.requests.scoped(f"refund:{payment_id}")
        if (known := await requests.replay(key, request)) is not None:
            return await self._replay(known)
        refund_id = f"re_{uuid.uuid4()}"
        claim = (key, requests.hash(request))
        try:
            payment = await self.changes.reserve_refund(payment_id, request, refund_id, claim)
        except KeyClaimedError:
            return await self._replay(await requests.await_answer(key, request))
        correlation_id.set(payment.campaign_id)
        result = await self.calls.refund(payment, payment.refund(refund_id))
        payment = await self.changes.record_refund(
            payment_id, refund_id, result, actor="api", own_key=key
        )
        return self._answered(payment, refund_id)

    async def find_payment(self, payment_id: str) -> PaymentView:
        payment = await self.payments.get(payment_id)
        if payment is None:
            raise PaymentNotFoundError("no payment with this id")
        return view_of(payment, with_request_data=True)

    async def list_payments(self, query: PaymentQuery) -> tuple[list[PaymentView], str | None]:
        page: Page = await self.payments.page(query)
        return [view_of(p, with_request_data=True) for p in page.items], page.next_cursor

    async def _charge(self, payment: Payment, token: str, key: str) -> Payment:
        """Through the route while attempts end with nothing charged and a next processor
        is begun; an attempt taken over by reconciliation is left to it."""
        while payment.status is PaymentStatus.PROCESSING:
            attempt = payment.last_attempt
            if attempt is None or not attempt.in_flight:
                break
            result = await self.calls.charge(payment, token)
            payment = await self.changes.record_charge(
                payment.id, attempt.attempt_key, result, actor="processor", own_key=key
            )
            following = payment.last_attempt
            if following is None or following.attempt_key == attempt.attempt_key:
                break
        return payment

    def _answered(self, payment: Payment, refund_id: str | None = None) -> Answer:
        log.info("payment %s %s via %s", payment.id, payment.status, payment.processor)
        return answer_for(payment, refund_id)

    async def _replay(self, stored: StoredKey) -> Answer:
        """A final answer as it was given; a provisional one as the payment is now."""
        if stored.status == DONE:
            return replayed(stored)
        payment = await self.payments.get(stored.payment_id)
        if payment is None:
            return replayed(stored)
        return dataclasses.replace(answer_for(payment, stored.refund_id), replayed=True)
