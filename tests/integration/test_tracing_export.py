"""What a service process sends to an OTLP collector: nothing unless ``OTEL_*`` asks.

The collector is a local HTTP server on OTLP/HTTP's default port, where an exporter that
was on by mistake would send; the service is a fresh process, since a process's tracer
provider is set once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

OTLP_HTTP_PORT = 4318
# What ``main`` does before serving, then one span, then what exit does (flush and stop).
TRACED_WORK = """
from opentelemetry import trace
from shared.tracing import configure_tracing
configure_tracing("probe")
with trace.get_tracer("probe").start_as_current_span("work"):
    pass
getattr(trace.get_tracer_provider(), "shutdown", lambda: None)()  # none when disabled
"""


class _Collector(BaseHTTPRequestHandler):
    received: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[list[str]]:
    """Paths of the OTLP requests a collector on the default port received."""
    received: list[str] = []
    handler = type("Collector", (_Collector,), {"received": received})
    try:
        server = ThreadingHTTPServer(("127.0.0.1", OTLP_HTTP_PORT), handler)
    except OSError:
        pytest.skip(f"port {OTLP_HTTP_PORT} is taken: a collector may be running here")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()


def run_traced_work(**otel: str) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | otel
    subprocess.run(  # noqa: S603 - this interpreter running the test's own code
        [sys.executable, "-c", TRACED_WORK],
        env=environ,
        cwd=Path(__file__).parents[2],
        check=True,
        timeout=60,
    )


def test_with_no_otel_variable_a_service_exports_nothing(collector: list[str]) -> None:
    run_traced_work()

    assert collector == []


def test_a_disabled_sdk_exports_nothing_even_when_otlp_is_asked_for(
    collector: list[str],
) -> None:
    run_traced_work(OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="otlp")

    assert collector == []


def test_otlp_asked_for_sends_the_spans_to_the_collector(collector: list[str]) -> None:
    run_traced_work(OTEL_TRACES_EXPORTER="otlp")

    assert collector == ["/v1/traces"]
