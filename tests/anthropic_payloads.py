"""Scripted Anthropic HTTP API for the tests: the real ``anthropic`` clients talk to it through a MockTransport.

Every reply has the JSON shape the real API sends, with exact, test-chosen usage (``Tokens``: Anthropic's own
meaning, ``input`` EXCLUDES the cache). ``FakeAnthropic`` answers the first-party paths, Bedrock's
``/model/{id}/invoke`` and Vertex's ``:rawPredict``, streams as SSE, counts tokens, serves batches and their
JSONL results, fails on request, and records what was sent. Bodies are unread streams, as on the wire.
Nothing of otel_llmcost is imported here; ``otel_global`` swaps OpenTelemetry's global tracer provider for
the SDK's own spans (tests only).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from transport import http

JSON = dict[str, Any]
API = "https://api.anthropic.com"
VERSION = tuple(int(p) for p in anthropic.__version__.split(".")[:2])
SELF_TRACING = hasattr(anthropic.Anthropic, "open_telemetry")
"""anthropic >= 1.14 traces itself; older releases have no ``open_telemetry`` option."""
WORDS = ("Hello", " there", ",", " friend", ".")
MESSAGES = [{"role": "user", "content": "Say hello."}]


@dataclass(frozen=True)
class Tokens:
    """Usage as Anthropic reports it: ``input`` EXCLUDES cache reads and writes."""

    input: int = 100
    output: int = 20
    cache_read: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    split: bool = True
    """Send the cache_creation breakdown (5m / 1h)."""
    thinking: int | None = None
    service_tier: str | None = "standard"
    speed: str | None = None
    web_search: int = 0

    def usage(self, output: int | None = None) -> JSON:
        data: JSON = {
            "input_tokens": self.input,
            "output_tokens": self.output if output is None else output,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation_input_tokens": self.cache_5m + self.cache_1h,
        }
        if self.split:
            data["cache_creation"] = {
                "ephemeral_5m_input_tokens": self.cache_5m,
                "ephemeral_1h_input_tokens": self.cache_1h,
            }
        if self.thinking is not None:
            data["output_tokens_details"] = {"thinking_tokens": self.thinking}
        if self.service_tier is not None:
            data["service_tier"] = self.service_tier
        if self.speed is not None:
            data["speed"] = self.speed
        if self.web_search:
            data["server_tool_use"] = {"web_search_requests": self.web_search}
        return data

    def delta(self, with_input: bool = False) -> JSON:
        """message_delta usage: running totals; input and cache only when ``with_input``."""
        data: JSON = {"output_tokens": self.output}
        if with_input:
            data["input_tokens"] = self.input
            data["cache_read_input_tokens"] = self.cache_read
            data["cache_creation_input_tokens"] = self.cache_5m + self.cache_1h
        if self.thinking is not None:
            data["output_tokens_details"] = {"thinking_tokens": self.thinking}
        if self.web_search:
            data["server_tool_use"] = {"web_search_requests": self.web_search}
        return data


def message(model: str, tokens: Tokens, text: str = "".join(WORDS), msg_id: str = "msg_01") -> JSON:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": tokens.usage(),
    }


def sse(event: str, data: JSON) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def stream_frames(model: str, tokens: Tokens, delta_with_input: bool = False, msg_id: str = "msg_01") -> list[bytes]:
    """The events of a streamed Message: output_tokens in message_start is a placeholder, message_delta's
    is the running total."""
    start = {**message(model, tokens, msg_id=msg_id), "content": [], "stop_reason": None}
    start["usage"] = tokens.usage(output=1)
    block = {"type": "text", "text": ""}
    delta = {"type": "content_block_delta", "index": 0}
    frames = [
        sse("message_start", {"type": "message_start", "message": start}),
        sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        sse("ping", {"type": "ping"}),
    ]
    frames += [sse("content_block_delta", {**delta, "delta": {"type": "text_delta", "text": w}}) for w in WORDS]
    frames += [
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": tokens.delta(delta_with_input),
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]
    return frames


class Frames(http.SyncByteStream, http.AsyncByteStream):  # type: ignore[misc]
    """A body sent frame by frame (sync and async), unread until the client reads it; may fail half-way."""

    def __init__(self, frames: list[bytes], fail_after: int | None = None) -> None:
        self.frames = frames
        self.fail_after = fail_after

    def _error(self) -> BaseException:
        return http.RemoteProtocolError("peer closed connection without sending complete message body")

    def __iter__(self) -> Iterator[bytes]:
        for i, frame in enumerate(self.frames):
            if self.fail_after is not None and i >= self.fail_after:
                raise self._error()
            yield frame

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i, frame in enumerate(self.frames):
            if self.fail_after is not None and i >= self.fail_after:
                raise self._error()
            yield frame


def batch(batch_id: str, base_url: str = API) -> JSON:
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended",
        "request_counts": {"processing": 0, "succeeded": 2, "errored": 1, "canceled": 0, "expired": 0},
        "created_at": "2025-01-01T00:00:00Z",
        "ended_at": "2025-01-01T00:05:00Z",
        "expires_at": "2025-01-02T00:00:00Z",
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{base_url}/v1/messages/batches/{batch_id}/results",
    }


def batch_result(custom_id: str, model: str, tokens: Tokens) -> JSON:
    msg = message(model, tokens, msg_id=f"msg_{custom_id}")
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": msg}}


def batch_error(custom_id: str) -> JSON:
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad request"}}
    return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}


_BEDROCK = re.compile(r"/model/(?P<model>.+)/(?P<op>invoke|invoke-with-response-stream)$")
_VERTEX = re.compile(r"/models/(?P<model>[^/:]+):(?P<op>rawPredict|streamRawPredict)$")


@dataclass
class FakeAnthropic:
    """A scripted Anthropic API. Attributes choose what the next replies carry; ``requests`` records what was sent."""

    model: str | None = None
    """Model reported in responses; None echoes the request's model."""
    tokens: Tokens = field(default_factory=Tokens)
    fail: tuple[int, str] | None = None
    """(HTTP status, error type) to answer every request with."""
    fail_after: int | None = None
    """Break each stream after this many frames, like a dropped connection."""
    delta_with_input: bool = False
    """message_delta also carries the input and cache totals (as the API may)."""
    count: int = 42
    batches: dict[str, list[JSON]] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        path = request.url.path
        raw = request.read()
        body: JSON = json.loads(raw) if raw else {}
        if self.fail is not None:
            status, kind = self.fail
            error = {"type": "error", "error": {"type": kind, "message": f"scripted {status}"}}
            return http.Response(status, json=error, headers={"request-id": "req_err"})
        stream = body.get("stream") is True
        model = body.get("model")
        if (found := _BEDROCK.search(path)) is not None:
            from urllib.parse import unquote

            model = unquote(found["model"])
            stream = found["op"] == "invoke-with-response-stream"
        elif (found := _VERTEX.search(path)) is not None:
            model = found["model"]
            stream = found["op"] == "streamRawPredict"
            if model == "count-tokens":
                return self._json({"input_tokens": self.count})
        elif path.endswith("/v1/messages/count_tokens"):
            return self._json({"input_tokens": self.count})
        elif "/v1/messages/batches/" in path:
            return self._batches(path)
        elif not path.endswith("/v1/messages"):
            return http.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": path}})
        answer = self.model or model or "claude-unknown"
        if stream:
            frames = stream_frames(answer, self.tokens, self.delta_with_input)
            headers = {"content-type": "text/event-stream", "request-id": "req_stream"}
            return http.Response(200, headers=headers, stream=Frames(frames, self.fail_after))
        return self._json(message(answer, self.tokens))

    def _json(self, data: Any, content_type: str = "application/json") -> Any:
        body = json.dumps(data).encode() if content_type == "application/json" else data
        headers = {"content-type": content_type, "request-id": "req_01"}
        return http.Response(200, headers=headers, stream=Frames([body]))

    def _batches(self, path: str) -> Any:
        parts = path.rstrip("/").split("/")
        if parts[-1] == "results":
            lines = "".join(json.dumps(entry) + "\n" for entry in self.batches[parts[-2]]).encode()
            return self._json(lines, "application/binary")
        return self._json(batch(parts[-1]))

    # --- clients -----------------------------------------------------------------------------------
    def transport(self) -> Any:
        return http.MockTransport(self)

    def client(self, **options: Any) -> anthropic.Anthropic:
        options.setdefault("base_url", API)
        return anthropic.Anthropic(
            api_key="sk-ant-test", max_retries=0, http_client=http.Client(transport=self.transport()), **options
        )

    def async_client(self, **options: Any) -> anthropic.AsyncAnthropic:
        options.setdefault("base_url", API)
        return anthropic.AsyncAnthropic(
            api_key="sk-ant-test", max_retries=0, http_client=http.AsyncClient(transport=self.transport()), **options
        )

    def bedrock(self, **options: Any) -> Any:
        """AnthropicBedrock in us-east-1; anthropic 2.x signs with an API key, older ones with SigV4 (botocore),
        which a subclass skips here (only the signature, nothing of the request or response)."""
        transport = http.Client(transport=self.transport())
        common = {"aws_region": "us-east-1", "max_retries": 0, "http_client": transport, **options}
        if VERSION >= (2, 0):
            return anthropic.AnthropicBedrock(api_key="bedrock-key", **common)
        return _UnsignedBedrock(aws_access_key="AK", aws_secret_key="SK", **common)

    def vertex(self, **options: Any) -> Any:
        transport = http.Client(transport=self.transport())
        return anthropic.AnthropicVertex(
            region="us-east5", project_id="proj", access_token="tok", max_retries=0, http_client=transport, **options
        )

    def foundry(self, **options: Any) -> Any:
        transport = http.Client(transport=self.transport())
        return anthropic.AnthropicFoundry(
            api_key="foundry-key", resource="res", max_retries=0, http_client=transport, **options
        )


class _UnsignedBedrock(anthropic.AnthropicBedrock):
    def _prepare_request(self, request: Any) -> None:
        return None


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
