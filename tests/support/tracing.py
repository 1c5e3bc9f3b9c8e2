"""Finished spans of the services a test runs, kept in memory (the exporter is the edge)."""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter on the process's tracer provider, installed as ``main`` would.

    The global provider can be set once per process: a later module adds its exporter to
    the one already there. On exit the exporter stops keeping spans."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        exporter.shutdown()


def trace_id_of(traceparent: str) -> str:
    """The trace id a W3C ``traceparent`` names (version-traceid-parentid-flags)."""
    return traceparent.split("-")[1]


def span_id_of(traceparent: str) -> str:
    return traceparent.split("-")[2]


def hex_ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    """The span's trace id, its span id and its parent's span id, as W3C writes them."""
    context = span.get_span_context()
    assert context is not None
    parent = span.parent.span_id if span.parent else None
    return (
        trace.format_trace_id(context.trace_id),
        trace.format_span_id(context.span_id),
        trace.format_span_id(parent) if parent is not None else None,
    )
