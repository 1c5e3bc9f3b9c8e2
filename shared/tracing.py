"""OpenTelemetry tracing: the tracer provider, its exporter, and what is instrumented.

Spans are always made (the SDK's tracer provider runs unless ``OTEL_SDK_DISABLED=true``),
so log lines and events carry trace ids even where nothing collects them; a span that no
processor exports costs about three of the API's no-op spans (measured: ~120 µs against
~40 µs on a loaded 2-core machine where ``dict()`` took 1 µs), small beside a handler's
database round trips. Export is off until configured by the standard
variables: ``OTEL_TRACES_EXPORTER=otlp`` or an ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``
turns on OTLP over HTTP/protobuf, and the exporter and the batch processor read the rest
(``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``...) themselves; ``OTEL_SERVICE_NAME``
overrides the service's name, ``OTEL_TRACES_SAMPLER`` the sampling.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from starlette.types import ASGIApp

from shared.messaging.trace_context import EnvelopeTraceContext
from shared.settings import ConfigurationError

# Probes and scrapes every few seconds would bury the traces that matter.
UNTRACED_URLS = "/health/live,/health/ready,/metrics"
EXPORTERS = ("otlp", "console", "none")


def configure_tracing(service: str, environ: Mapping[str, str] = os.environ) -> None:
    """Install the process's tracer provider, exporting only when ``OTEL_*`` asks for it."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return  # the API's no-op tracer: no spans, no ids
    exporter = span_exporter_from(environ)
    named = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(named))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def span_exporter_from(environ: Mapping[str, str]) -> SpanExporter | None:
    """The exporter ``OTEL_*`` asks for; None (nothing leaves the process) when unasked."""
    named = [e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    chosen = {e for e in named if e}
    if unknown := chosen - set(EXPORTERS):
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER: {', '.join(sorted(unknown))} is not one of "
            f"{', '.join(EXPORTERS)}"
        )
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not chosen and endpoint:
        chosen = {"otlp"}
    if "otlp" in chosen:
        return _otlp_exporter(environ)
    if "console" in chosen:
        return ConsoleSpanExporter()
    return None


def _otlp_exporter(environ: Mapping[str, str]) -> SpanExporter:
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported; use http/protobuf "
            "(port 4318 on a collector)"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def trace_messages(broker: KafkaBroker) -> None:
    """Spans for every consume and publish; a consumed event continues its envelope's trace."""
    broker.insert_middleware(KafkaTelemetryMiddleware(include_messages_counters=False))
    broker.insert_middleware(EnvelopeTraceContext)  # outermost: it feeds telemetry's headers


def traced_http(app: ASGIApp) -> ASGIApp:
    """``app`` with a server span per request, named by the route for FastAPI, else the path."""
    if type(app).__module__.startswith("fastapi"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        instrumented: Any = app
        FastAPIInstrumentor.instrument_app(
            instrumented, excluded_urls=UNTRACED_URLS, exclude_spans=["receive", "send"]
        )
        return app
    traced: ASGIApp = OpenTelemetryMiddleware(
        app, excluded_urls=UNTRACED_URLS, exclude_spans=["receive", "send"]
    )
    return traced
