"""The W3C trace context an event carries across the outbox (CloudEvents distributed tracing).

Events leave through the outbox: a relay publishes them later, from its own task, where the
handler's span is long gone. So the context is taken when the event is emitted, inside the
handler's span, and written into the envelope (``traceparent``, ``tracestate``) and the
outbox row. The relay publishes each row under that context, so FastStream's producer spans
join the emitting trace; the consumer then continues from the envelope's ``traceparent``,
which wins over the Kafka headers: the envelope is what the emitting work signed, the headers
are whatever the last publisher (relay, replay, redelivery) stamped on them. An event
without ``traceparent`` is consumed as before, from the headers or as a new trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from faststream import BaseMiddleware
from faststream.message import StreamMessage
from opentelemetry import context, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.events.envelope import CloudEvent

TRACE_FIELDS = ("traceparent", "tracestate")
# The envelope extension is W3C by definition, whatever OTEL_PROPAGATORS says for headers.
_W3C = TraceContextTextMapPropagator()
_TRACER = trace.get_tracer(__name__)


def emitted_trace_context(cause: CloudEvent[Any] | None = None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) for an event emitted now; empty when untraced.

    The current span is the parent, unless it belongs to another trace than ``cause``: a
    batch handler's one span covers many events, and a parked payment is released by a
    click's span, yet each event continues the trace of the event that caused it.
    """
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    caused_in = _trace_id(cause.traceparent) if cause is not None else None
    if cause is not None and caused_in and caused_in != _trace_id(carrier.get("traceparent")):
        return {name: value for name in TRACE_FIELDS if (value := getattr(cause, name))}
    return carrier


@contextlib.contextmanager
def continuing(carrier: Mapping[str, Any]) -> Iterator[None]:
    """Make the trace context in ``carrier`` (an outbox row, an envelope) the current one."""
    found = {name: value for name in TRACE_FIELDS if isinstance(value := carrier.get(name), str)}
    if not found:
        yield
        return
    token = context.attach(_W3C.extract(found, context=context.Context()))
    try:
        yield
    finally:
        context.detach(token)


class EnvelopeTraceContext(BaseMiddleware):
    """Puts the envelope's trace context into the message headers before the telemetry
    middleware reads them, so the consumer's span is a child of the emitting span.

    Installed outside ``KafkaTelemetryMiddleware``. Batches are left alone: their span
    links every message's headers, and each event's own context goes on through ``emit``.
    """

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        if not msg.batch_headers:
            with contextlib.suppress(Exception):  # undecodable: the delivery policy says why
                envelope = await msg.decode()
                # A malformed traceparent is ignored, never a reason to refuse the event.
                if isinstance(envelope, dict) and _trace_id(envelope.get("traceparent")):
                    for name in TRACE_FIELDS:
                        msg.headers.pop(name, None)
                        if isinstance(value := envelope.get(name), str):
                            msg.headers[name] = value
        return await call_next(msg)


def consumed_in_batch[E: CloudEvent[Any]](event: E, topic: str) -> E:
    """``event``, one of a batch, carrying the context of a consumer span of its own.

    A batch is handled under one span, which cannot be the child of every event's trace.
    So each event gets a consumer span, child of its envelope's context and linked to the
    batch's span, and what the event causes continues from that span: one trace still
    runs from the event's producer through this consumer to what it emits."""
    batch = trace.get_current_span().get_span_context()
    span = _TRACER.start_span(
        f"{topic} process",
        context=_W3C.extract(_carried(event), context=context.Context()),
        kind=trace.SpanKind.CONSUMER,
        links=[trace.Link(batch)] if batch.is_valid else None,
        attributes={"messaging.destination.name": topic, "messaging.message.id": event.id},
    )
    span.end()  # it marks the event taken into the batch; the batch's span times the work
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    return event.model_copy(update=carrier) if carrier else event


def linked_from(parent: CloudEvent[Any], name: str, linked: str | None, **attributes: str) -> None:
    """A span in ``parent``'s trace linked to the trace ``linked`` names (a campaign's, from
    a payment's revenue): a span has one parent, so work that belongs to two traces is in
    one and points at the other, and a trace viewer follows the link. Nothing when either
    trace is missing."""
    target = trace.get_current_span(_W3C.extract({"traceparent": linked or ""}))
    found = target.get_span_context()
    if not (found.is_valid and parent.traceparent):
        return
    context_of_parent = _W3C.extract(_carried(parent), context=context.Context())
    _TRACER.start_span(name, context=context_of_parent, links=[trace.Link(found, attributes)]).end()


def _carried(event: CloudEvent[Any]) -> dict[str, str]:
    return {name: value for name in TRACE_FIELDS if (value := getattr(event, name))}


def _trace_id(traceparent: object) -> str | None:
    if not isinstance(traceparent, str):
        return None
    span = trace.get_current_span(_W3C.extract({"traceparent": traceparent}))
    found = span.get_span_context()
    return trace.format_trace_id(found.trace_id) if found.is_valid else None
