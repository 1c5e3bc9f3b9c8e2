"""Composition root of the payment service."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from services.payment.api.client_ip import parse_trusted_proxies
from services.payment.api.guards import Admission, ClientPolicy
from services.payment.api.notifications import WebhookInbox
from services.payment.api.routes import build_api
from services.payment.api.webhooks import WEBHOOK_EVENTS_KEPT, WebhookSecrets, webhook_router
from services.payment.charging import Charging
from services.payment.domain.payment import AmountLimits, FeeSchedule, PaymentPolicy
from services.payment.domain.risk_policy import RiskPolicy
from services.payment.domain.routing import BreakerPolicy, Router
from services.payment.handlers import PaymentHandlers, declare_events
from services.payment.idempotency import IdempotentRequests
from services.payment.processors import PaymentProcessor
from services.payment.processors.crypto import CryptoProcessor
from services.payment.processors.paypal import PayPalProcessor
from services.payment.processors.sandbox import SandboxProcessor, sandbox_processors
from services.payment.processors.stripe import StripeProcessor
from services.payment.reconciliation import Reconciler, ReconciliationPolicy
from services.payment.settings import PaymentSettings
from services.payment.storage.field_encryption import Keyring
from services.payment.storage.idempotency_keys import IdempotencyKeys
from services.payment.storage.payments import Payments
from services.payment.storage.risk_signals import PaymentRiskScorer, RiskSignals
from services.payment.storage.webhook_events import WebhookEvents
from shared.api_keys.keyring import ApiKeys
from shared.runtime import Infrastructure, Service, health_routes

NAME = "payment"
log = logging.getLogger(__name__)


def payment_policy(settings: PaymentSettings) -> PaymentPolicy:
    return PaymentPolicy(
        fees={
            processor: FeeSchedule(rate=fee.rate, fixed=fee.fixed)
            for processor, fee in settings.payment_processor_fees.items()
        },
        limits=AmountLimits(
            minimum=settings.payment_minimum_amounts, maximum=settings.payment_maximum_amounts
        ),
    )


def router(settings: PaymentSettings) -> Router:
    return Router(
        settings.payment_routes,
        BreakerPolicy(
            window=settings.payment_breaker_window,
            min_calls=settings.payment_breaker_min_calls,
            min_success_rate=settings.payment_breaker_min_success_rate,
            cool_down_seconds=settings.payment_breaker_cool_down_seconds,
        ),
    )


def processors(settings: PaymentSettings) -> dict[str, PaymentProcessor]:
    """The real adapter of each processor whose credentials are set, else its sandbox."""
    chosen = sandbox_processors(settings.payment_processor_latency_seconds)
    timeout = settings.payment_processor_timeout_seconds
    if settings.stripe_api_key is not None:
        chosen["stripe"] = StripeProcessor(
            settings.stripe_api_key.get_secret_value(), settings.stripe_api_base_url, timeout
        )
    if settings.paypal_client_id and settings.paypal_client_secret is not None:
        chosen["paypal"] = PayPalProcessor(
            settings.paypal_client_id,
            settings.paypal_client_secret.get_secret_value(),
            settings.paypal_api_base_url,
            timeout,
        )
    if settings.crypto_api_key is not None:
        chosen["crypto"] = CryptoProcessor(
            settings.crypto_api_key.get_secret_value(), settings.crypto_api_base_url, timeout
        )
    for name, processor in sorted(chosen.items()):
        sandboxed = isinstance(processor, SandboxProcessor)
        log.info(
            "processor %s: %s",
            name,
            "sandbox (no credentials configured)" if sandboxed else "live API",
        )
    return chosen


def reconciliation_policy(settings: PaymentSettings) -> ReconciliationPolicy:
    after = timedelta(seconds=settings.payment_reconciliation_after_seconds)
    # A call in flight can last its timeout on each try (Stripe's SDK makes up to three).
    in_flight = timedelta(seconds=3 * settings.payment_processor_timeout_seconds)
    return ReconciliationPolicy(
        interval_seconds=settings.payment_reconciliation_interval_seconds,
        after=after,
        in_flight_after=max(after, in_flight),
        limit=timedelta(minutes=settings.payment_reconciliation_limit_minutes),
    )


def webhook_secrets(
    settings: PaymentSettings, adapters: dict[str, PaymentProcessor]
) -> WebhookSecrets:
    paypal = adapters.get("paypal")
    stripe_secret, crypto_secret = settings.stripe_webhook_secret, settings.crypto_webhook_secret
    return WebhookSecrets(
        stripe_secret=stripe_secret.get_secret_value() if stripe_secret else None,
        paypal_webhook_id=settings.paypal_webhook_id,
        paypal=paypal if isinstance(paypal, PayPalProcessor) else None,
        crypto_secret=crypto_secret.get_secret_value() if crypto_secret else None,
    )


@dataclass(frozen=True)
class PaymentService:
    """The service, and the reconciler its background job runs, for callers that drive
    a round themselves."""

    service: Service
    reconciler: Reconciler


def build(settings: PaymentSettings) -> Service:
    return assemble(settings).service


def assemble(settings: PaymentSettings) -> PaymentService:
    infra = Infrastructure.build(NAME, settings)
    adapters = processors(settings)
    payments = Payments(infra.db, Keyring.parse(settings.payment_data_key.get_secret_value()))
    keys = IdempotencyKeys(infra.db, timedelta(hours=settings.payment_idempotency_key_hours))
    signals = RiskSignals(infra.db)
    webhook_events = WebhookEvents(infra.db, WEBHOOK_EVENTS_KEPT)
    charging = Charging(
        uow=infra.uow,
        payments=payments,
        processors=adapters,
        router=router(settings),
        policy=payment_policy(settings),
    )
    handlers = PaymentHandlers(
        charging=charging,
        payments=payments,
        requests=IdempotentRequests(
            keys, "POST /v1/payments", settings.payment_idempotency_wait_seconds
        ),
        risk=PaymentRiskScorer(
            signals,
            RiskPolicy(
                review=settings.payment_risk_review_threshold,
                block=settings.payment_risk_block_threshold,
            ),
            settings.payment_fingerprint_key.get_secret_value().encode(),
        ),
    )
    reconciler = Reconciler(charging, reconciliation_policy(settings))
    webhooks = webhook_router(
        WebhookInbox(charging, webhook_events), webhook_secrets(settings, adapters)
    )
    declare_events(infra)
    infra.finish()  # consumes nothing: readiness has no partitions to wait for
    clients = ClientPolicy(
        parse_trusted_proxies(settings.payment_trusted_proxies), settings.payment_ip_country_header
    )
    service = Service(
        infra=infra,
        http_app=build_api(
            handlers,
            ApiKeys.with_service_key(
                "PAYMENT_API_KEY", settings.payment_api_key, settings.api_keys_file
            ),
            clients,
            health_routes(infra),
            Admission(settings.payment_max_in_flight),
            webhooks,
        ),
        http_port=settings.payment_api_port,
        on_startup=[
            payments.ensure_indexes,
            keys.ensure_indexes,
            signals.ensure_indexes,
            webhook_events.ensure_indexes,
        ],
        background=[reconciler.run_forever],
        on_shutdown=[adapter.close for adapter in adapters.values()],
    )
    return PaymentService(service, reconciler)
