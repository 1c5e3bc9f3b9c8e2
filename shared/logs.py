"""The one logging setup: JSON lines on stderr, tagged with service, correlation and trace ids.

``correlation_id`` holds the campaign a piece of work belongs to (the delivery policy sets
it from each consumed event). Every log record is stamped with it, and with the current
span's ``trace_id`` and ``span_id`` (``shared/tracing.py``), when it is created, so the ids
travel with the record to any handler (and to tests' ``caplog``), whoever set up logging.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

_plain_records = logging.getLogRecordFactory()


def _record_with_correlation_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _plain_records(*args, **kwargs)
    record.correlation_id = correlation_id.get()
    span = trace.get_current_span().get_span_context()
    record.trace_id = trace.format_trace_id(span.trace_id) if span.is_valid else None
    record.span_id = trace.format_span_id(span.span_id) if span.is_valid else None
    return record


logging.setLogRecordFactory(_record_with_correlation_id)


def _correlation_of(record: logging.LogRecord) -> str | None:
    found: str | None = getattr(record, "correlation_id", None)
    return found


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if cid := _correlation_of(record):
            entry["correlation_id"] = cid
        if trace_id := getattr(record, "trace_id", None):
            entry["trace_id"] = trace_id
            entry["span_id"] = getattr(record, "span_id", None) or ""
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(
            f"%(asctime)s %(levelname)-7s {service} %(name)s%(correlation)s: %(message)s"
        )

    def format(self, record: logging.LogRecord) -> str:
        ids = [_correlation_of(record), getattr(record, "trace_id", None)]
        record.correlation = f" [{' '.join(i for i in ids if i)}]" if any(ids) else ""
        return super().format(record)


def log_formatter(service: str, fmt: str = "json") -> logging.Formatter:
    """How the service's lines read: ``json`` for collectors, ``text`` for people."""
    return _JsonFormatter(service) if fmt == "json" else _TextFormatter(service)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(service, fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Client libraries are chatty at INFO about connections; their warnings still show.
    for noisy in ("aiokafka", "pymongo", "uvicorn.access", "httpx", "stripe"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
