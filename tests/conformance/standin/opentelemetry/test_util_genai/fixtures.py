"""pytest plugin: the fixtures their suites take by name (their conftest lists this module in ``pytest_plugins``).

Each test gets fresh SDK providers wired to in-memory exporters (``span_exporter``, ``log_exporter``,
``metric_reader``); none is made global, so nothing leaks from one test to the next. ``content_capture`` runs a test
once per default content mode (NO_CONTENT, SPAN_ONLY) with the capture variable set. ``weaver_live_check`` skips:
it needs the weaver binary and its semantic-conventions registry, which CI does not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.context import attach, detach, get_current
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.genai.types import ContentCapturingMode

from .instrumentor import CAPTURE_VARIABLE, _environment

CONTENT_CAPTURE_MODES = (ContentCapturingMode.NO_CONTENT, ContentCapturingMode.SPAN_ONLY)
"""The modes ``content_capture`` runs a test in; the event modes are left to the tests that ask for them."""


@pytest.fixture(autouse=True)
def reset_context() -> Iterator[None]:
    """A context attached by a test (a span left current, baggage) is detached after it."""
    token = attach(get_current())
    try:
        yield
    finally:
        detach(token)


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


@pytest.fixture
def log_exporter() -> Iterator[InMemoryLogRecordExporter]:
    exporter = InMemoryLogRecordExporter()
    yield exporter
    exporter.clear()


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def logger_provider(log_exporter: InMemoryLogRecordExporter) -> Iterator[LoggerProvider]:
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[metric_reader])
    yield provider
    provider.shutdown()


@pytest.fixture(params=CONTENT_CAPTURE_MODES, ids=lambda mode: mode.name)
def content_capture(request: pytest.FixtureRequest) -> Iterator[ContentCapturingMode]:
    mode: ContentCapturingMode = request.param
    with _environment({CAPTURE_VARIABLE: mode.name}):
        yield mode


@pytest.fixture
def weaver_live_check() -> Any:
    pytest.skip("weaver live-check needs the weaver binary and a semantic-conventions registry; not installed here")
