"""Composition root of the payment service."""

import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from pymongo.monitoring import CommandListener
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from services.payment.api.guards import Admission, ClientPolicy
from services.payment.api.notifications import WebhookInbox
from services.payment.api.routes import build_api
from services.payment.api.webhooks import WEBHOOK_EVENTS_KEPT, WebhookSecrets, webhook_router
from services.payment.changes import PaymentChanges
from services.payment.domain.fees import AmountLimits, FeeSchedule, PaymentPolicy
from services.payment.domain.risk_policy import RiskPolicy
from services.payment.domain.routing import BreakerPolicy, Router
from services.payment.handlers import PaymentHandlers
from services.payment.idempotency import IdempotentRequests
from services.payment.metrics import Breakers
from services.payment.processor_calls import ProcessorCalls
from services.payment.processors import PaymentProcessor
from services.payment.processors.crypto import CryptoProcessor
from services.payment.processors.paypal import PayPalProcessor
from services.payment.processors.sandbox import SHARED_TEST_TOKENS, sandbox_processors
from services.payment.processors.stripe import StripeProcessor
from services.payment.reconciliation import Reconciler, ReconciliationPolicy
from services.payment.risk_scoring import PaymentRiskScorer
from services.payment.settings import PaymentSettings
from services.payment.settlement import Settlement
from services.payment.storage.field_encryption import Keyring
from services.payment.storage.idempotency_keys import IdempotencyKeys
from services.payment.storage.leases import Leases, LeaseTerms
from services.payment.storage.payments import Payments
from services.payment.storage.risk_history import RiskHistory
from services.payment.storage.transaction import TOPICS, payment_transactions
from services.payment.storage.unflushed_events import UnflushedEvents
from services.payment.storage.webhook_events import WebhookEvents
from shared.api_keys.keyring import ApiKeys
from shared.events.envelope import CloudEvent
from shared.http.client_ip import parse_trusted_proxies
from shared.runtime import Infrastructure, Service, health_routes
from shared.storage.command_tally import CommandTally

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
    """The adapter of every processor a route reaches: the real one where its credentials
    are set, else, in local mode only, its sandbox (settings refuse the rest)."""
    routed = {name for route in settings.payment_routes.values() for name in route}
    sandboxes = sandbox_processors(settings.payment_processor_latency_seconds)
    chosen: dict[str, PaymentProcessor] = {}
    for name in sorted(routed):
        real = _real_adapter(name, settings)
        chosen[name] = real if real is not None else sandboxes[name]
        log.info("processor %s: %s", name, "live API" if real else "sandbox (local mode)")
    return chosen


def _real_adapter(name: str, settings: PaymentSettings) -> PaymentProcessor | None:
    if settings.missing_credentials(name):
        return None
    timeout = settings.payment_processor_timeout_seconds
    if name == "stripe" and settings.stripe_api_key is not None:
        key = settings.stripe_api_key.get_secret_value()
        return StripeProcessor(key, settings.stripe_api_base_url, timeout)
    if name == "paypal" and settings.paypal_client_id and settings.paypal_client_secret:
        return PayPalProcessor(
            settings.paypal_client_id,
            settings.paypal_client_secret.get_secret_value(),
            settings.paypal_api_base_url,
            timeout,
            request_id_window=timedelta(hours=settings.paypal_request_id_window_hours),
        )
    if name == "crypto" and settings.crypto_api_key is not None:
        key = settings.crypto_api_key.get_secret_value()
        return CryptoProcessor(key, settings.crypto_api_base_url, timeout)
    return None


def reconciliation_policy(settings: PaymentSettings) -> ReconciliationPolicy:
    return ReconciliationPolicy(
        interval_seconds=settings.payment_reconciliation_interval_seconds,
        after=timedelta(seconds=settings.payment_reconciliation_after_seconds),
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


def risk_scorer(settings: PaymentSettings, history: RiskHistory) -> PaymentRiskScorer:
    return PaymentRiskScorer(
        history,
        RiskPolicy(
            review=settings.payment_risk_review_threshold,
            block=settings.payment_risk_block_threshold,
        ),
        settings.payment_fingerprint_key.get_secret_value().encode(),
        # Every local test customer pays with the sandbox's shared test cards.
        shared_tokens=SHARED_TEST_TOKENS if settings.environment == "local" else frozenset(),
    )


def declare_events(infra: Infrastructure) -> None:
    for event, topic in TOPICS.items():
        infra.publisher(topic, CloudEvent[event], description=event.__doc__ or topic)  # type: ignore[valid-type]


@dataclass(frozen=True)
class PaymentService:
    """The service, and the reconciler its background job runs, for callers that drive
    a round themselves."""

    service: Service
    reconciler: Reconciler


def build(settings: PaymentSettings) -> Service:
    if not settings.payment_count_commands:
        return assemble(settings).service
    tally = CommandTally()
    return assemble(settings, [tally], [command_tally_route(tally)]).service


def command_tally_route(tally: CommandTally) -> Route:
    """The database commands sent so far, for a benchmark to read before and after a run."""

    async def tallied(_: Request) -> JSONResponse:
        return JSONResponse(tally.as_document())

    return Route("/debug/database-commands", tallied)


def assemble(
    settings: PaymentSettings,
    event_listeners: Sequence[CommandListener] = (),
    debug_routes: Sequence[BaseRoute] = (),
) -> PaymentService:
    """``event_listeners`` hear every database command (to count round trips);
    ``debug_routes`` are served beside the health checks."""
    infra = Infrastructure.build(NAME, settings, event_listeners)
    keyring = Keyring.parse(settings.payment_data_key.get_secret_value())
    keys_kept = timedelta(hours=settings.payment_idempotency_key_hours)
    adapters = processors(settings)
    payments, keys = Payments(infra.db, keyring), IdempotencyKeys(infra.db, keys_kept)
    leases, history = Leases(infra.db), RiskHistory(infra.db)
    webhook_events = WebhookEvents(infra.db, WEBHOOK_EVENTS_KEPT)
    terms = LeaseTerms(
        owner=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        duration=timedelta(seconds=settings.payment_lease_seconds),
    )
    calls = ProcessorCalls(adapters, router(settings), leases, terms)
    infra.samplers.append(Breakers(calls.router, adapters))
    changes = PaymentChanges(
        infra.uow.bound(payment_transactions(keyring, keys_kept)),
        calls,
        risk_scorer(settings, history),
        payment_policy(settings),
        terms,
        payments,
    )
    settlement = Settlement(changes, calls, payments, leases, terms)
    requests = IdempotentRequests(
        keys, "POST /v1/payments", settings.payment_idempotency_wait_seconds
    )
    handlers = PaymentHandlers(changes, calls, payments, requests)
    unflushed = UnflushedEvents(infra.db)
    reconciler = Reconciler(
        changes, settlement, payments, reconciliation_policy(settings), unflushed
    )
    webhooks = webhook_router(
        WebhookInbox(settlement, webhook_events), webhook_secrets(settings, adapters)
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
            [*health_routes(infra), *debug_routes],
            Admission(settings.payment_max_in_flight),
            webhooks,
        ),
        http_port=settings.payment_api_port,
        on_startup=[
            payments.ensure_indexes,
            keys.ensure_indexes,
            history.ensure_indexes,
            leases.ensure_indexes,
            webhook_events.ensure_indexes,
            unflushed.ensure_indexes,
        ],
        background=[reconciler.run_forever],
        on_shutdown=[adapter.close for adapter in adapters.values()],
    )
    return PaymentService(service, reconciler)
