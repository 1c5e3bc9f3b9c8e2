"""Scoring a payment request for fraud risk: its fingerprints, what the stored payments say
about its amount, and its velocity counted in its own transaction.

Velocity is counted by keyed HMAC fingerprints of the token and the IP address, never by
the values themselves. A processor's shared test token (``pm_card_visa``), which every
test customer uses alike, counts per customer in local mode; outside it no token is
treated specially, and this module never imports the sandbox.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from services.payment.domain.requests import CreatePayment, RequestContext
from services.payment.domain.risk import RiskAssessment, RiskInputs, assess, fingerprint
from services.payment.domain.risk_policy import RiskPolicy
from services.payment.storage.risk_history import RiskHistory, SignalsAsked, StoredSignals
from services.payment.storage.velocity import VelocityCounters
from shared.storage.mongo import Document


@dataclass(frozen=True)
class Fingerprints:
    """What a payment is counted by: the customer, and keyed fingerprints of its token and
    its client's IP address."""

    customer: str
    token: str
    ip: str | None

    @property
    def counted(self) -> list[str]:
        return [self.customer, self.token, *([self.ip] if self.ip else [])]


@dataclass(frozen=True)
class PaymentRiskScorer:
    history: RiskHistory
    policy: RiskPolicy
    fingerprint_key: bytes
    shared_tokens: frozenset[str] = frozenset()

    async def signals(
        self, request: CreatePayment, context: RequestContext, now: datetime
    ) -> StoredSignals:
        """Read before the payment's transaction opens, in one round trip."""
        keys = self.fingerprints(request, context)
        asked = SignalsAsked(
            request.customer_id, request.campaign_id, request.amount, keys.token, keys.counted
        )
        return await self.history.signals(asked, self.policy.lookback, now)

    def fingerprints(self, request: CreatePayment, context: RequestContext) -> Fingerprints:
        ip = _normalised_ip(context.ip_address)
        return Fingerprints(
            customer=f"customer:{request.customer_id}",
            token="token:" + fingerprint(self.fingerprint_key, self._token_identity(request)),
            ip="ip:" + fingerprint(self.fingerprint_key, ip) if ip else None,
        )

    async def assess(
        self,
        counters: VelocityCounters,
        request: CreatePayment,
        context: RequestContext,
        signals: StoredSignals,
        now: datetime,
    ) -> tuple[RiskAssessment, Document]:
        """Counts the payment and scores it; inside the payment's own transaction."""
        keys = self.fingerprints(request, context)
        velocity = await counters.count_payments(
            signals.counters, keys.counted, now, self.policy.lookback
        )
        customer, token = velocity[keys.customer], velocity[keys.token]
        ip = velocity[keys.ip] if keys.ip else None
        facts = signals.facts
        inputs = RiskInputs(
            amount=request.amount,
            customer=customer.payments,
            ip=ip.payments if ip else None,
            token=token.payments,
            customer_history=facts.customer_history,
            campaign_basket=facts.campaign_basket,
            customer_is_new=facts.customer_is_new,
            customer_declines=signals.customer_declines,
            token_declines=signals.token_declines,
            ip_country=context.ip_country,
            customer_country=request.customer_country,
        )
        assessment = assess(inputs, self.policy)
        document = {"token_fingerprint": keys.token, "ip_fingerprint": keys.ip}
        return assessment, document | assessment.as_document()

    def _token_identity(self, request: CreatePayment) -> str:
        if request.payment_token in self.shared_tokens:
            return f"{request.customer_id}:{request.payment_token}"
        return request.payment_token


def _normalised_ip(address: str | None) -> str | None:
    """One spelling per address (``::ffff:1.2.3.4`` is ``1.2.3.4``), so velocity counts it once."""
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return parsed.compressed
