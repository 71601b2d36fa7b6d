"""Shared fixtures: real OpenTelemetry SDK providers with in-memory exporters, and the instrumentor on them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llmcost import LLMCostInstrumentor


@dataclass
class Captured:
    """What the instrumentation emitted during a test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    instrumentor: LLMCostInstrumentor

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def client_spans(self) -> list[ReadableSpan]:
        from opentelemetry.trace import SpanKind

        return [s for s in self.spans() if s.kind is SpanKind.CLIENT]

    def metrics(self) -> MetricsData:
        # Counter series are reported at 0 on their first collection (see metrics.CounterTable),
        # so collect once to let every series be born, then read the sums.
        self.reader.collect()
        data = self.reader.get_metrics_data()
        return data if data is not None else MetricsData(resource_metrics=[])

    def points(self, name: str) -> list[Any]:
        found: list[Any] = []
        for rm in self.metrics().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def total(self, name: str, **where: str) -> float:
        """Sum of a counter's values (or a histogram's sums) over points whose attributes match."""
        total = 0.0
        for point in self.points(name):
            attrs = dict(point.attributes or {})
            if all(attrs.get(k.replace("__", ".")) == v for k, v in where.items()):
                total += point.value if hasattr(point, "value") else point.sum
        return total


def make_captured(sampler: Any = None, **options: Any) -> Captured:
    """The instrumentation on in-memory exporters; ``sampler`` for the tracer provider (its default when None)."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=sampler) if sampler is not None else TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = LLMCostInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, **options)
    return Captured(exporter, reader, tracer_provider, meter_provider, instrumentor)


@pytest.fixture
def captured() -> Iterator[Captured]:
    """The instrumentation on, default settings; undone after the test."""
    cap = make_captured()
    try:
        yield cap
    finally:
        cap.instrumentor.uninstrument()
        cap.meter_provider.shutdown()
        cap.tracer_provider.shutdown()


@pytest.fixture
def instrument_with() -> Iterator[Any]:
    """Factory: instrument with options (e.g. price_file=..., inject_stream_usage=True)."""
    made: list[Captured] = []

    def factory(**options: Any) -> Captured:
        cap = make_captured(**options)
        made.append(cap)
        return cap

    yield factory
    for cap in made:
        cap.instrumentor.uninstrument()
        cap.meter_provider.shutdown()
        cap.tracer_provider.shutdown()


# --- a real Redis server for the budget stores ----------------------------------------------------------
@dataclass
class RedisServer:
    port: int

    def url(self, prefix: str) -> str:
        """The store URL of a key space of its own (each test its own prefix)."""
        return f"redis://127.0.0.1:{self.port}/0?prefix={prefix}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """``redis-server`` (Debian's; CI installs it) on a free loopback port, without persistence."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (apt-get install redis-server): the budget store tests need it"
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:  # wait for PING to answer PONG
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        assert process.poll() is None, "redis-server exited at start-up"
        assert time.monotonic() < deadline, "redis-server did not answer PING within 10 s"
        time.sleep(0.02)
    try:
        yield RedisServer(port)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    """Instrumentors a test turned on, undone after it (in the order they were added)."""
    instrumented: list[Any] = []
    yield instrumented
    for instrumentor in instrumented:
        instrumentor.uninstrument()
