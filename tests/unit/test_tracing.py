"""The trace context an event carries, the ids a log line carries, and which exporter the
``OTEL_*`` variables choose."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from shared.events.envelope import CloudEvent, event_to_json
from shared.logs import correlation_id, log_formatter
from shared.messaging.trace_context import emitted_trace_context
from shared.settings import ConfigurationError
from shared.tracing import span_exporter_from

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
tracer = TracerProvider().get_tracer("tests")


def event(**trace_context: str) -> CloudEvent[dict[str, str]]:
    return CloudEvent[dict[str, str]](
        source="/services/tests", type="campaign.planned", data={}, **trace_context
    )


def test_an_envelope_without_trace_context_still_parses_and_is_published_without_it() -> None:
    untraced = b'{"specversion":"1.0","id":"e1","source":"/clients/x","type":"t","data":{}}'

    parsed = CloudEvent[dict[str, str]].model_validate_json(untraced)

    assert (parsed.traceparent, parsed.tracestate) == (None, None)
    assert "traceparent" not in json.loads(event_to_json(parsed))


def test_an_envelopes_trace_context_round_trips() -> None:
    traced = event(traceparent=TRACEPARENT, tracestate="vendor=opaque")

    parsed = CloudEvent[dict[str, str]].model_validate_json(event_to_json(traced))

    assert (parsed.traceparent, parsed.tracestate) == (TRACEPARENT, "vendor=opaque")


def test_an_event_emitted_outside_any_span_carries_no_trace_context() -> None:
    assert emitted_trace_context() == {}
    assert emitted_trace_context(event()) == {}


def test_an_event_emitted_in_a_span_names_that_span_as_its_parent() -> None:
    with tracer.start_as_current_span("handler") as span:
        emitted = emitted_trace_context()
    ids = span.get_span_context()

    assert emitted["traceparent"].startswith(
        f"00-{trace.format_trace_id(ids.trace_id)}-{trace.format_span_id(ids.span_id)}-"
    )


def test_an_event_continues_its_causes_trace_when_the_span_belongs_to_another() -> None:
    # A batch handler's span, or a click's releasing a parked payment.
    cause = event(traceparent=TRACEPARENT, tracestate="vendor=opaque")
    with tracer.start_as_current_span("batch"):
        emitted = emitted_trace_context(cause)

    assert emitted == {"traceparent": TRACEPARENT, "tracestate": "vendor=opaque"}


def test_a_malformed_traceparent_on_the_cause_is_not_passed_on() -> None:
    cause = event(traceparent="00-not-a-trace-01")
    with tracer.start_as_current_span("handler") as span:
        emitted = emitted_trace_context(cause)

    assert trace.format_trace_id(span.get_span_context().trace_id) in emitted["traceparent"]
    assert emitted_trace_context(cause) == {}


def test_an_event_caused_within_its_causes_trace_names_the_current_span() -> None:
    with tracer.start_as_current_span("consumer") as consumer:
        cause = event(**emitted_trace_context())
        with tracer.start_as_current_span("handler") as handler:
            emitted = emitted_trace_context(cause)

    assert consumer.get_span_context().trace_id == handler.get_span_context().trace_id
    assert trace.format_span_id(handler.get_span_context().span_id) in emitted["traceparent"]


def test_a_log_record_carries_the_trace_span_and_correlation_ids() -> None:
    token = correlation_id.set("campaign-42")
    try:
        with tracer.start_as_current_span("handler") as span:
            record = logging.getLogger("tests").makeRecord(
                "tests", logging.INFO, __file__, 1, "charged", None, None
            )
    finally:
        correlation_id.reset(token)
    ids = span.get_span_context()

    line = json.loads(log_formatter("payment", "json").format(record))
    text = log_formatter("payment", "text").format(record)

    assert line["correlation_id"] == "campaign-42"
    assert line["trace_id"] == trace.format_trace_id(ids.trace_id)
    assert line["span_id"] == trace.format_span_id(ids.span_id)
    assert f"[campaign-42 {line['trace_id']}]" in text


def test_a_log_record_outside_any_span_has_no_trace_id() -> None:
    record = logging.getLogger("tests").makeRecord(
        "tests", logging.INFO, __file__, 1, "idle", None, None
    )

    assert "trace_id" not in json.loads(log_formatter("payment", "json").format(record))


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_SERVICE_NAME": "payment", "OTEL_TRACES_SAMPLER": "always_on"},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
    ],
)
def test_nothing_is_exported_unless_an_otel_variable_asks(environ: dict[str, str]) -> None:
    assert span_exporter_from(environ) is None


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
    ],
)
def test_an_otlp_endpoint_or_exporter_turns_on_otlp_over_http(environ: dict[str, str]) -> None:
    assert isinstance(span_exporter_from(environ), OTLPSpanExporter)


def test_the_console_exporter_is_available_for_a_look_without_a_collector() -> None:
    assert isinstance(span_exporter_from({"OTEL_TRACES_EXPORTER": "console"}), ConsoleSpanExporter)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: zipkin is not one of"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported",
        ),
    ],
)
def test_an_exporter_this_build_lacks_is_refused_naming_the_variable(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        span_exporter_from(environ)
