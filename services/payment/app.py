"""Composition root of the payment service."""

from datetime import timedelta

from services.payment.api import build_api
from services.payment.domain import FeeSchedule, PaymentPolicy
from services.payment.handlers import PaymentHandlers, declare_events
from services.payment.processors.sandbox import sandbox_processors
from services.payment.repository import IdempotencyKeys, Payments
from services.payment.settings import PaymentSettings
from shared.runtime import Infrastructure, Service, health_routes

NAME = "payment"


def payment_policy(settings: PaymentSettings) -> PaymentPolicy:
    return PaymentPolicy(
        fees={
            processor: FeeSchedule(rate=fee.rate, fixed=fee.fixed)
            for processor, fee in settings.payment_processor_fees.items()
        },
        high_amount_threshold=settings.payment_high_amount_threshold,
    )


def build(settings: PaymentSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    payments = Payments(infra.db)
    keys = IdempotencyKeys(infra.db, timedelta(hours=settings.payment_idempotency_key_hours))
    handlers = PaymentHandlers(
        uow=infra.uow,
        payments=payments,
        keys=keys,
        processors=sandbox_processors(settings.payment_processor_latency_seconds),
        policy=payment_policy(settings),
    )
    declare_events(infra)
    infra.finish()  # consumes nothing yet: readiness has no partitions to wait for
    return Service(
        infra=infra,
        http_app=build_api(handlers, settings.payment_api_key, health_routes(infra)),
        http_port=settings.payment_api_port,
        on_startup=[payments.ensure_indexes, keys.ensure_indexes],
    )
