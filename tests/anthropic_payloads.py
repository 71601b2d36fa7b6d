"""The Anthropic fake for the tests (its bodies and ``FakeAnthropic`` live in ``otel_llmcost.fakes.anthropic_api``),
plus test helpers: the SDK's own tracing configurations, OpenTelemetry's global tracer provider swapped for the
SDK's own spans, span sinks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_llmcost.fakes.anthropic_api import (
    API,
    FakeAnthropic,
    Tokens,
    batch,
    batch_error,
    batch_result,
    message,
    message_events,
    sse_frames,
    stream_frames,
)
from otel_llmcost.fakes.transport import dropped, frame_stream
from otel_llmcost.fakes.wire import JSON, WORDS
from otel_llmcost.fakes.wire import sse as wire_sse
from transport import http

__all__ = [
    "API",
    "CONFIGS",
    "JSON",
    "MESSAGES",
    "OFF",
    "SELF_TRACING",
    "VERSION",
    "WORDS",
    "FakeAnthropic",
    "Frames",
    "Setup",
    "Tokens",
    "attributes",
    "batch",
    "batch_error",
    "batch_result",
    "client_spans",
    "configured",
    "http",
    "message",
    "message_events",
    "otel_global",
    "span_sink",
    "sse",
    "sse_frames",
    "stream_frames",
]

def sse(event: str, data: JSON) -> bytes:
    """One ``event:``/``data:`` frame."""
    return wire_sse(data, event)


def Frames(frames: list[bytes], fail_after: int | None = None) -> Any:
    """A body sent frame by frame (sync and async), unread until the client reads it; may fail after ``fail_after``."""
    if fail_after is not None and fail_after < len(frames):
        return frame_stream(http, frames[:fail_after], dropped(http))
    return frame_stream(http, frames)


VERSION = tuple(int(p) for p in anthropic.__version__.split(".")[:2])
SELF_TRACING = hasattr(anthropic.Anthropic, "open_telemetry")
"""anthropic >= 1.14 traces itself; older releases have no ``open_telemetry`` option."""
MESSAGES = [{"role": "user", "content": "Say hello."}]


# --- OpenTelemetry's global tracer provider, for the SDK's own spans --------------------------------
@contextlib.contextmanager
def otel_global(provider: TracerProvider | None) -> Iterator[None]:
    """Make ``provider`` the global tracer provider (None: none set, the proxy) and restore the old state."""
    from opentelemetry.util._once import Once

    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    if provider is not None:
        trace.set_tracer_provider(provider)
    try:
        yield
    finally:
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved


def span_sink() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def client_spans(*exporters: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for e in exporters for s in e.get_finished_spans() if s.kind is SpanKind.CLIENT]


def attributes(span: ReadableSpan) -> JSON:
    return dict(span.attributes or {})


# --- configurations of the SDK's own tracing ---------------------------------------------------------
OFF: dict[str, Any] = {"open_telemetry": False} if SELF_TRACING else {}
"""Client options for a client without SDK spans (our span then): ``open_telemetry=False`` where it exists."""

CONFIGS = (
    ("sdk_on", "env_off", "option_off", "own_provider", "no_global", "sdk_content") if SELF_TRACING else ("default",)
)
"""(a) the SDK traces to the global provider; (b) off by env / by option; (c) the client's own provider;
the SDK on with no global provider set (its tracer is the no-op proxy); and the SDK in content mode (its own
span records message content: that span is kept). Old SDKs: no tracing of their own."""


@dataclass
class Setup:
    options: dict[str, Any]
    exporters: list[InMemorySpanExporter]
    sdk_span: bool
    """The call's span is the SDK's, or ours in its place (its tracer, scope and span name)."""
    sdk_records: bool = False
    """The SDK's own span is kept (content mode) and carries our cost."""


@contextlib.contextmanager
def configured(name: str) -> Iterator[Setup]:
    import os

    global_provider, global_exporter = span_sink()
    own_provider, own_exporter = span_sink()
    options: dict[str, Any] = {}
    if name == "option_off":
        options["open_telemetry"] = False
    elif name == "own_provider":
        options["open_telemetry"] = {"tracer_provider": own_provider}
    elif name == "sdk_content":
        options["open_telemetry"] = {"traces": {"content_mode": "content"}}
    saved = os.environ.pop("ANTHROPIC_OPEN_TELEMETRY", None)
    if name == "env_off":
        os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"
    try:
        with otel_global(None if name in ("no_global", "default") else global_provider):
            yield Setup(
                options,
                [global_exporter, own_exporter],
                name in ("sdk_on", "own_provider", "sdk_content"),
                name == "sdk_content",
            )
    finally:
        os.environ.pop("ANTHROPIC_OPEN_TELEMETRY", None)
        if saved is not None:
            os.environ["ANTHROPIC_OPEN_TELEMETRY"] = saved
        global_provider.shutdown()
        own_provider.shutdown()
