"""The Anthropic SDK adapter: which methods to wrap, how to live beside the SDK's own spans, what usage means.

Anthropic's ``input_tokens`` EXCLUDES cache reads and writes: the normalized input is the sum of the three.
Cache writes split into 5-minute and 1-hour parts (priced 1.25x and 2x input); thinking tokens are reasoning;
``service_tier`` and ``speed`` (fast mode) select the price; batch results bill at the batch rate.

One CLIENT span per API call. anthropic >= 1.14 traces itself (a CLIENT span per call, on unless
``open_telemetry=False`` / ``ANTHROPIC_OPEN_TELEMETRY=false``), so each call decides from the client's
resolved tracer (the SDK's own gate) whether the SDK will make a span:

* it will: ours replaces it. Our span is started through the client's tracer (its provider and scope) with
  the SDK's span name; the SDK's ``start_api_call_span`` (hooked where the client calls it) hands the SDK a
  ``_Relay`` of our span instead of its own: the SDK propagates our span's context on each request and sets
  the URL on it, then records nothing more (the relay is not recording), which is most of what its span
  cost; ``finish_api_call_span`` adds the HTTP status, resends and request id. From there on the call is
  one of ours, as with the SDK's tracing off.
* it will, and the client records message content on its spans (the SDK's content mode): the SDK's span
  is kept and annotated. Its usage recorder (``set_usage_sums``; ``set_response`` before 2.6) is wrapped
  where it is called, just before the SDK ends its span: there our call ends (metrics, once) and its cost
  attributes go onto the SDK's span. A stream the SDK records (``StreamedMessage``) is handed to the
  caller untouched: its ``end`` (read, closed, dropped, failed: exactly once) ends our call too.
* it will not (tracing off, no tracer provider anywhere, anthropic < 1.14): our own CLIENT span, and our
  stream proxy (``streams.py``) ends it.

Either way a call our wrappers began is ended exactly once, by whichever comes first (``Call`` ignores the
rest): an SDK span that is not sampled, or a body nobody reads, still gets its metrics from our wrappers.
Works with anthropic 0.77+ (httpx) and 1.x/2.x (httpx2) without importing either; each method and hook is
found on its own, so one missing from an SDK version disables only itself.
"""
from __future__ import annotations

import contextlib
import json
import sys
import weakref
from collections.abc import Callable, Generator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import wrapt
from opentelemetry import trace

from .. import names
from ..calls import Call, Listener, Runtime
from ..guard import internal_error
from ..streams import AsyncStreamProxy, StreamProxy
from ..telemetry import Outcome
from ..usage import Request, Response, Usage
from . import stainless
from .base import (
    Begin,
    SeenOnce,
    Wrapper,
    call_async,
    call_sync,
    count,
    counted,
    current,
    get,
    given,
    number,
    whole,
)
from .endpoints import endpoint_of

SDK = "anthropic"

OPERATION_CHAT = "chat"
OPERATION_COUNT_TOKENS = "count_tokens"
OPERATION_BATCH_RESULTS = "batch_results"


_field = get  # a field of an SDK model or of a decoded JSON dict (None when absent)


# --- usage normalization: one function per API shape ----------------------------------------------
def message_usage(raw: Any, batch: bool = False) -> Usage | None:
    """Messages API usage (a Message's ``usage``, or a stream's message_start usage updated by message_delta).

    ``input_tokens`` excludes the cache: input = input + cache_read + cache_creation. The 5m/1h split of
    cache writes comes from ``cache_creation``; without it every write is a 5-minute one (the default TTL).
    A batch result (``batch``, or service_tier "batch") is billed at the batch rate.
    """
    if raw is None:
        return None
    read = count(_field(raw, "cache_read_input_tokens"))
    write = count(_field(raw, "cache_creation_input_tokens"))
    split = _field(raw, "cache_creation")
    write_5m = count(_field(split, "ephemeral_5m_input_tokens"))
    write_1h = count(_field(split, "ephemeral_1h_input_tokens"))
    if write_5m + write_1h > write:
        write = write_5m + write_1h  # the detailed counts win over an inconsistent total
    elif write_5m + write_1h == 0:
        write_5m = write
    tier = _field(raw, "service_tier")
    tier = tier if isinstance(tier, str) else None
    speed = _field(raw, "speed")
    return Usage(
        input_tokens=count(_field(raw, "input_tokens")) + read + write,
        output_tokens=count(_field(raw, "output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=count(_field(_field(raw, "output_tokens_details"), "thinking_tokens")),
        service_tier=tier,
        speed=speed if isinstance(speed, str) else None,
        batch=batch or tier == "batch",
    )


def message_attributes(usage: Any, stop_reason: Any) -> dict[str, Any]:
    """What a Message adds to our span beyond the normalized record: the server tools it used (counted, not
    priced) and the Anthropic fields anthropic's own span records under its names (ours stands in for it)."""
    attrs: dict[str, Any] = {}
    if isinstance(stop_reason, str):
        attrs[names.ANTHROPIC_MESSAGE_STOP_REASON] = stop_reason
    if usage is None:
        return attrs
    split = _field(usage, "cache_creation")
    if split is not None:
        for key, name in ((names.ANTHROPIC_CACHE_WRITE_5M_TOKENS, "ephemeral_5m_input_tokens"),
                          (names.ANTHROPIC_CACHE_WRITE_1H_TOKENS, "ephemeral_1h_input_tokens")):
            value = _field(split, name)
            if counted(value):
                attrs[key] = value
    tier = _field(usage, "service_tier")
    if isinstance(tier, str):
        attrs[names.ANTHROPIC_RESPONSE_SERVICE_TIER] = tier
    tools = _field(usage, "server_tool_use")
    if tools is not None:
        searches = count(_field(tools, "web_search_requests"))
        if searches:
            attrs[names.LLMCOST_WEB_SEARCH_REQUESTS] = searches
        fetches = count(_field(tools, "web_fetch_requests"))
        if fetches:
            attrs[names.LLMCOST_WEB_FETCH_REQUESTS] = fetches
    return attrs


def _text_of(content: Any) -> str:
    parts: list[str] = []
    for block in content if isinstance(content, list) else ():
        if _field(block, "type") == "text":
            text = _field(block, "text")
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def message_result(message: Any, capture: bool = False, batch: bool = False) -> tuple[Response, Usage | None]:
    """Response and usage of a Message (model object, ParsedMessage, BetaMessage, or a decoded dict)."""
    model = _field(message, "model")
    response_id = _field(message, "id")
    stop = _field(message, "stop_reason")
    response = Response(
        model=model if isinstance(model, str) else None,
        response_id=response_id if isinstance(response_id, str) else None,
        finish_reasons=[stop] if isinstance(stop, str) else [],
        output_messages=[{"role": "assistant", "content": _text_of(_field(message, "content"))}] if capture else None,
    )
    return response, message_usage(_field(message, "usage"), batch)


# --- stream accumulators --------------------------------------------------------------------------
# message_start carries the whole usage; message_delta carries running totals that REPLACE the start's
# values (never added), and omits the optional ones that did not change. The SDK's accumulator merges
# exactly these fields, so a stream and the same call without streaming report the same usage.
_START_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens_details",
    "server_tool_use",
    "service_tier",
    "speed",
)
_DELTA_FIELDS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "server_tool_use",
    "output_tokens_details",
)


@dataclass(slots=True)
class MessageStreamSummary:
    """Running summary of a Messages event stream: ids, stop reason, usage (never the content, unless captured)."""

    call: Call | None = None
    capture: bool = False
    started: bool = False
    model: str | None = None
    response_id: str | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)

    def add(self, event: Any) -> bool:
        kind = _field(event, "type")
        if kind == "content_block_delta":
            if self.capture:
                delta = _field(event, "delta")
                if _field(delta, "type") == "text_delta" and isinstance(_field(delta, "text"), str):
                    self.text.append(_field(delta, "text"))
        elif kind == "message_start":
            message = _field(event, "message")
            model = _field(message, "model")
            response_id = _field(message, "id")
            self.model = model if isinstance(model, str) else None
            self.response_id = response_id if isinstance(response_id, str) else None
            usage = _field(message, "usage")
            self.usage = {key: _field(usage, key) for key in _START_FIELDS}
            self.started = True
        elif kind == "message_delta":
            usage = _field(event, "usage")
            merged = self.usage
            merged["output_tokens"] = _field(usage, "output_tokens")  # a running total: assign, never add
            for key in _DELTA_FIELDS:
                value = _field(usage, key)
                if value is not None:
                    merged[key] = value
            stop = _field(_field(event, "delta"), "stop_reason")
            if isinstance(stop, str):
                self.stop_reason = stop
        return True

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        if not self.started:
            return None, None, "stream ended before message_start"
        output = [{"role": "assistant", "content": "".join(self.text)}] if self.capture else None
        reasons = [self.stop_reason] if self.stop_reason else []
        response = Response(self.model, self.response_id, reasons, output)
        call = self.call
        if call is not None:
            extra = message_attributes(self.usage, self.stop_reason)
            if extra:
                call.annotate(extra)
        return response, message_usage(self.usage), None


_SEEN_RESULTS = SeenOnce()  # (batch id, custom_id) of batch results already priced


@dataclass(slots=True)
class BatchResultsSummary:
    """Watches ``batches.results()`` go by: each succeeded result is one call priced at the batch rate, once."""

    runtime: Runtime
    batch_id: str
    endpoint: tuple[str, str | None, int | None, bool]
    priced: int = 0

    def add(self, entry: Any) -> bool:
        result = _field(entry, "result")
        if _field(result, "type") != "succeeded":
            return True
        custom_id = _field(entry, "custom_id")
        if not _SEEN_RESULTS.first_time((self.batch_id, str(custom_id))):
            return True
        message = _field(result, "message")
        response, usage = message_result(message, batch=True)
        provider, address, port, local = self.endpoint
        request = Request(provider, OPERATION_CHAT, response.model, address, port, local=local)
        call = self.runtime.begin(request, own_span=False)
        call.finish(response, usage, None if usage is not None else "batch result carried no usage")
        self.priced += 1
        return True

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        return Response(response_id=self.batch_id), None, f"batch results are priced one by one ({self.priced})"


# --- does the SDK trace this call? ----------------------------------------------------------------
def sdk_traces(client: Any) -> bool:
    """True when the client's SDK will start a CLIENT span for its next call (the SDK's own gate)."""
    try:
        tracer = client._tracer  # anthropic >= 1.14: None when its tracing is off
    except Exception:
        return False  # no self-tracing in this SDK version
    if tracer is None or isinstance(tracer, trace.NoOpTracer):
        return False
    if isinstance(tracer, trace.ProxyTracer):
        # The global provider: a no-op until an SDK provider is set, and then the SDK makes no span.
        return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
    return True


# --- our span in place of the SDK's (anthropic >= 1.14) ---------------------------------------------
# The span name the SDK gives each method's call (its ``span_name``); ours takes the one the SDK passes.
_SPAN_NAMES = {
    "create": "anthropic.messages.create",
    "parse": "anthropic.messages.create",
    "stream": "anthropic.messages.create",
    "count_tokens": "anthropic.messages.count_tokens",
    "batch_results": "anthropic.messages.batches.results",
}


def replaces_sdk_span(client: Any) -> bool:
    """Our span can stand in for the span the SDK would make for this client's call: the SDK's span start and
    finish are hooked (ours, in this SDK version), and the client does not record message content on its spans
    (the SDK's content mode, which only its own span has: that span is kept and annotated)."""
    module = sys.modules.get("anthropic._base_client")
    if not isinstance(getattr(module, "start_api_call_span", None), wrapt.FunctionWrapper):
        return False
    if not isinstance(getattr(module, "finish_api_call_span", None), wrapt.FunctionWrapper):
        return False
    return getattr(getattr(client, "_otel", None), "records_content", False) is not True


class _Relay(trace.NonRecordingSpan):
    """What the SDK gets in place of its span when ours replaces it. It carries our span's context, so the
    SDK propagates it (``traceparent`` on each request, as the client's ``propagation`` says) and makes it
    current; what the SDK sets on it unconditionally (the URL of the first request) goes to our call's span;
    and since it is not recording, the SDK skips everything else it would record (usage, response fields:
    ours has them), which is most of the SDK span's cost."""

    def __init__(self, call: Call) -> None:
        super().__init__(call.span.get_span_context())
        self.call = call

    def set_attribute(self, key: str, value: Any) -> None:
        self.call.annotate({key: value})

    def set_attributes(self, attributes: Any) -> None:
        self.call.annotate(attributes)


def _start_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``start_api_call_span(tracer, base_url, options, attributes, ...)``: for a call of ours whose span replaces
    the SDK's, our span (as a ``_Relay``) with the request attributes the SDK's would have started with."""
    pending = current()  # the call whose SDK request is running in this context
    if not isinstance(pending, _Pending) or not pending.relay:
        return wrapped(*args, **kwargs)
    try:
        options: Any = args[2] if len(args) > 2 else kwargs.get("options")
        span_name = getattr(options, "span_name", None)
        # batches.results first retrieves the batch (a call of its own, the SDK's span): replace the results.
        call = pending.call
        if span_name and (call.request.operation != OPERATION_BATCH_RESULTS or span_name.endswith("results")):
            pending.relay = False
            extra = args[3] if len(args) > 3 else kwargs.get("attributes")
            start = {**extra} if extra else {}
            start.pop(names.GEN_AI_PROVIDER_NAME, None)  # ours: a host the user maps may name another
            start[names.HTTP_REQUEST_METHOD] = str(options.method).upper()
            route = getattr(options, "span_route", None)
            if route:
                start[names.HTTP_ROUTE] = route
            call.annotate(start)
            span = call.span
            if span.is_recording() and getattr(span, "name", span_name) != span_name:
                span.update_name(span_name)
            return _Relay(call)
    except Exception:
        internal_error("sdk_span")
    return wrapped(*args, **kwargs)


def _finish_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``finish_api_call_span(client, span, result)``: for our ``_Relay``, what the SDK would have recorded of the
    HTTP exchange (status, resends, request id); our call ends our span (the stream proxy, for a stream)."""
    span = args[1] if len(args) > 1 else kwargs.get("span")
    if type(span) is not _Relay:
        return wrapped(*args, **kwargs)
    try:
        span.call.annotate(_exchange_attributes(args[2] if len(args) > 2 else kwargs.get("result")))
    except Exception:
        internal_error("sdk_span")
    return None


_HEADERS: dict[bytes, str] | None = None


def _response_headers() -> dict[bytes, str]:
    """Attribute by (lowercase) response header, of the headers the SDK records on its span: its own table
    where it has one."""
    global _HEADERS
    if _HEADERS is None:
        table = getattr(sys.modules.get("anthropic._tracing"), "RESPONSE_HEADER_ATTRIBUTES", None)
        if not isinstance(table, dict):
            table = names.ANTHROPIC_RESPONSE_HEADERS
        _HEADERS = {header.lower().encode("ascii"): attribute for attribute, header in table.items()}
    return _HEADERS


def _exchange_attributes(result: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    response = result.response
    if response is None:
        response = result.final_attempt  # a failed call: the response its error carries
    if response is not None:
        attrs[names.HTTP_RESPONSE_STATUS_CODE] = response.status_code
        wanted = _response_headers()
        for name, value in response.headers.raw:  # one pass (a lookup by name scans them all, each time)
            attribute = wanted.get(name.lower())
            if attribute is not None and value:
                attrs[attribute] = value.decode("latin-1")
    if result.resend_count:
        attrs[names.HTTP_REQUEST_RESEND_COUNT] = result.resend_count
    return attrs


# --- which provider a client talks to --------------------------------------------------------------
_PLATFORMS = (("Bedrock", "aws.bedrock"), ("Vertex", "gcp.vertex_ai"))


def client_provider(client: Any) -> str:
    """gen_ai.provider.name as the SDK names it on its own span (``_gen_ai_provider_name``), else by class."""
    name = getattr(type(client), "_gen_ai_provider_name", None)
    if isinstance(name, str) and name:
        return name
    class_name = type(client).__name__
    for marker, provider in _PLATFORMS:
        if marker in class_name:
            return provider
    return "anthropic"


Endpoint = tuple[str, str | None, int | None, bool]
# Per client: (its base URL object, the host mapping, the endpoint) -- a client's base URL rarely changes.
_ENDPOINTS: weakref.WeakKeyDictionary[Any, tuple[Any, Any, Endpoint]] = weakref.WeakKeyDictionary()


def client_endpoint(runtime: Runtime, client: Any) -> Endpoint:
    """(provider, server address, port, local) of a client: the SDK's provider name unless the user maps the
    host to another, or the base URL is a local server."""
    base_url = getattr(client, "base_url", None)
    hosts = runtime.settings.provider_hosts
    try:
        hit = _ENDPOINTS.get(client)
    except TypeError:  # not weak-referenceable
        hit = None
    if hit is not None and hit[0] is base_url and hit[1] is hosts:
        return hit[2]
    found = _endpoint(client, str(base_url or ""), hosts)
    with contextlib.suppress(TypeError):
        _ENDPOINTS[client] = (base_url, hosts, found)
    return found


def _endpoint(client: Any, base_url: str, hosts: dict[str, str]) -> Endpoint:
    provider = client_provider(client)
    found = endpoint_of(base_url, provider)
    if hosts and found.address:
        mapped = hosts.get(found.address) or hosts.get(f"{found.address}:{found.port}")
        if mapped:
            return mapped, found.address, found.port, False
    if found.local:
        return found.provider, found.address, found.port, True
    return provider, found.address, found.port, False


# --- the calls in flight ---------------------------------------------------------------------------
class _Pending:
    """One wrapped call while the SDK runs it: the SDK's usage hook finds it here."""

    __slots__ = ("batch_id", "call", "done", "observed", "relay", "traced")

    def __init__(self, call: Call, traced: bool, batch_id: str | None = None, relay: bool = False) -> None:
        self.call = call
        self.traced = traced
        """The SDK makes the call's span, which we annotate."""
        self.relay = relay
        """Our span replaces the one the SDK is about to start for this call (see ``_start_hook``)."""
        self.done = False
        """The SDK's usage hook already ended the call."""
        self.observed = False
        """The SDK records this call's stream itself (its StreamedMessage), and ends our call with its span."""
        self.batch_id = batch_id


class _Ending:
    """A streamed call whose SDK span is ending (``StreamedMessage.end``): how, and whether we ended the call."""

    __slots__ = ("call", "done", "error", "how")

    def __init__(self, call: Call, how: Any, error: Any) -> None:
        self.call = call
        self.how = how
        self.error = error if isinstance(error, BaseException) else None
        self.done = False


class _Annotation:
    __slots__ = ("done", "span", "trim")

    def __init__(self, span: Any, trim: bool) -> None:
        self.span = span
        self.trim = trim
        self.done = False


# What the SDK itself sets on its span from a Message model (same values as ours): not set twice.
_SET_BY_SDK = (
    names.GEN_AI_RESPONSE_ID,
    names.GEN_AI_RESPONSE_MODEL,
    names.GEN_AI_USAGE_INPUT_TOKENS,
    names.GEN_AI_USAGE_OUTPUT_TOKENS,
    names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
)


# The SDK span whose call is being finished by the usage hook, for the listener that annotates it.
_ANNOTATING: ContextVar[_Annotation | None] = ContextVar("otel_llmcost_anthropic_annotating", default=None)
# The SDK's recorders of streams (StreamedMessage) -> our call, until the SDK ends the stream's span.
_STREAM_CALLS: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()
# ... and by their SDK span, for the time to the first chunk.
_STREAM_SPANS: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()
# The streamed call whose SDK span is ending in this context.
_ENDING: ContextVar[_Ending | None] = ContextVar("otel_llmcost_anthropic_ending", default=None)


@dataclass(frozen=True)
class AnthropicMethod:
    """One wrapped Anthropic method: create / parse / stream / count_tokens / batch_results."""

    kind: str
    is_async: bool

    def request(self, runtime: Runtime, client: Any, kwargs: dict[str, Any]) -> Request:
        provider, address, port, local = client_endpoint(runtime, client)
        if self.kind == "batch_results":
            return Request(provider, OPERATION_BATCH_RESULTS, None, address, port, local=local)
        model = kwargs.get("model")
        request = Request(
            provider=provider,
            operation=OPERATION_COUNT_TOKENS if self.kind == "count_tokens" else OPERATION_CHAT,
            model=model if isinstance(model, str) else None,
            server_address=address,
            server_port=port,
            stream=self.kind == "stream" or kwargs.get("stream") is True,
            local=local,
            max_tokens=whole(kwargs.get("max_tokens")),
            temperature=number(kwargs.get("temperature")),
            top_p=number(kwargs.get("top_p")),
            prompt=(kwargs.get("messages"), kwargs.get("system"), kwargs.get("tools")),
        )
        if runtime.settings.capture_content:
            request.input_messages = kwargs.get("messages")
            system = kwargs.get("system")
            request.system_instructions = system if given(system) else None
        return request

    def begin(self, runtime: Runtime, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Pending:
        client: Any = getattr(instance, "_client", None)
        request = self.request(runtime, client, kwargs)
        traced = sdk_traces(client)
        relay = traced and replaces_sdk_span(client)
        if relay:  # ours, where and as the SDK's would be: its tracer (provider, scope), its span name
            call = runtime.begin(request, True, client._tracer, _SPAN_NAMES.get(self.kind))
            call.activates = False  # the SDK makes it current (as the _Relay) for exactly its request
        else:
            call = runtime.begin(request, own_span=not traced)
        traced = traced and not relay
        batch_id = None
        if self.kind == "batch_results":
            batch_id = _batch_id(args, kwargs)
            if call.own_span:
                call.span.set_attribute(names.LLMCOST_BATCH, True)
                if batch_id:
                    call.span.set_attribute(names.LLMCOST_BATCH_ID, batch_id)
        return _Pending(call, traced, batch_id, relay)

    def result(self, pending: _Pending, result: Any) -> Any:
        call = pending.call
        if pending.done:
            return result  # the SDK's usage hook already ended the call, with the same usage
        if isinstance(result, _raw_classes()):
            return self._raw(pending, result)
        if self.kind == "batch_results":
            if not _is_stream(result):
                call.finish(None, None, "batch results not read")
                return result
            request = call.request
            endpoint = (request.provider, request.server_address, request.server_port, request.local)
            results = BatchResultsSummary(call.runtime, pending.batch_id or "", endpoint)
            return (AsyncStreamProxy if self.is_async else StreamProxy)(result, call, results)
        if _is_stream(result):
            if pending.observed:
                return result  # the SDK's own stream recorder ends the call with its span: nothing to proxy
            summary = MessageStreamSummary(call, call.runtime.settings.capture_content)
            return (AsyncStreamProxy if self.is_async else StreamProxy)(result, call, summary)
        self.record(call, result)
        return result

    def record(self, call: Call, parsed: Any) -> None:
        """End a non-streamed call from its parsed (or decoded) body."""
        if self.kind == "count_tokens":
            tokens = _field(parsed, "input_tokens")
            if call.own_span and counted(tokens):
                call.span.set_attribute(names.ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS, tokens)
            call.finish(None, None, "count_tokens is not billed")
            return
        response, usage = message_result(parsed, call.runtime.settings.capture_content)
        extra = message_attributes(_field(parsed, "usage"), _field(parsed, "stop_reason"))
        if extra:
            call.annotate(extra)
        call.finish(response, usage, None if usage is not None else "response carried no usage")

    def _raw(self, pending: _Pending, raw: Any) -> Any:
        """with_raw_response / with_streaming_response: a body already read is priced now, others on parse()."""
        call = pending.call
        if not call.request.stream and self.kind != "batch_results":
            data = _read_body(raw)
            if data is not None:
                self.record(call, data)
                return raw
        return stainless.defer(call, raw, lambda parsed: self.result(pending, parsed))


_RAW_CLASSES: tuple[type, ...] | None = None


def _raw_classes() -> tuple[type, ...]:
    """The SDK's raw / streaming response wrappers (looked up once)."""
    global _RAW_CLASSES
    if _RAW_CLASSES is None:
        _RAW_CLASSES = stainless.response_classes(SDK)
    return _RAW_CLASSES


def _batch_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    value = kwargs.get("message_batch_id", args[0] if args else None)
    return value if isinstance(value, str) else None


def _is_stream(result: Any) -> bool:
    kind = type(result)
    return hasattr(kind, "__next__") or hasattr(kind, "__anext__")


def _read_body(raw: Any) -> Any:
    """The decoded JSON body of a raw response whose body is already in memory, else None (never reads it)."""
    http = getattr(raw, "http_response", None)
    if http is None:
        return None
    try:
        content = http.content  # raises when the body has not been read
        return json.loads(content)
    except Exception:
        return None


# --- the wrappers ----------------------------------------------------------------------------------
def _send_sync(
    runtime: Runtime,
    handler: AnthropicMethod,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    send: Callable[..., Any],
    send_args: tuple[Any, ...],
    send_kwargs: dict[str, Any],
) -> Any:
    return call_sync(runtime, _begin(runtime, handler, instance, args, kwargs, send_kwargs), handler.result,
                     send, send_args, send_kwargs)


async def _send_async(
    runtime: Runtime,
    handler: AnthropicMethod,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    send: Callable[..., Any],
    send_args: tuple[Any, ...],
    send_kwargs: dict[str, Any],
) -> Any:
    return await call_async(runtime, _begin(runtime, handler, instance, args, kwargs, send_kwargs), handler.result,
                            send, send_args, send_kwargs)


def _begin(
    runtime: Runtime,
    handler: AnthropicMethod,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    send_kwargs: dict[str, Any],
) -> Begin:
    def begin() -> tuple[_Pending, Call, dict[str, Any]]:
        pending = handler.begin(runtime, instance, args, kwargs)
        return pending, pending.call, send_kwargs

    return begin


def method_wrapper(runtime: Runtime, handler: AnthropicMethod) -> Wrapper:
    """Wrapper of create / parse / count_tokens / batches.results."""
    if handler.is_async:

        async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return await _send_async(runtime, handler, instance, args, kwargs, wrapped, args, kwargs)

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _send_sync(runtime, handler, instance, args, kwargs, wrapped, args, kwargs)

    return wrapper


class _AwaitRequest:
    """Stands in for the coroutine an AsyncMessageStreamManager awaits: the call begins when it is awaited.

    An object, not a coroutine: one that is never awaited warns about the SDK's own coroutine only, as without us.
    """

    __slots__ = ("_args", "_original")

    def __init__(self, original: Any, args: tuple[Any, ...]) -> None:
        self._original = original
        self._args = args

    def __await__(self) -> Generator[Any, None, Any]:
        runtime, handler, instance, kwargs = self._args
        return _send_async(runtime, handler, instance, (), kwargs, _await, (self._original,), {}).__await__()


async def _await(awaitable: Any) -> Any:
    return await awaitable


def stream_wrapper(runtime: Runtime, handler: AnthropicMethod) -> Wrapper:
    """Wrapper of ``messages.stream()``: the manager it returns posts only when entered (and not through
    ``create``), so the request it will send is replaced by one that runs as an instrumented call."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if runtime.active and runtime.enabled():
            try:
                _hook_manager(runtime, handler, instance, kwargs, manager)
            except Exception:
                internal_error("request")
        return manager

    return wrapper


def _hook_manager(
    runtime: Runtime, handler: AnthropicMethod, instance: Any, kwargs: dict[str, Any], manager: Any
) -> None:
    state = getattr(manager, "__dict__", {})
    # MessageStreamManager.__api_request (name-mangled per class, beta managers included).
    attribute = next((name for name in state if name.endswith("__api_request")), None)
    if attribute is None:
        return
    original = state[attribute]
    if handler.is_async:
        setattr(manager, attribute, _AwaitRequest(original, (runtime, handler, instance, kwargs)))
        return

    def api_request() -> Any:
        return _send_sync(runtime, handler, instance, (), kwargs, original, (), {})

    setattr(manager, attribute, api_request)


# --- hooks into the SDK's own tracing (anthropic >= 1.14) -------------------------------------------
def _hook_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    span = args[0] if args else kwargs.get("span")
    message = args[1] if len(args) > 1 else kwargs.get("message")
    return span, message


def _annotate(call: Call, span: Any, message: Any, ending: _Ending | None = None) -> None:
    """Put the call's cost on the SDK's span, which the SDK is about to end, and end our call with it
    (metrics, once): span and metrics carry the same numbers, priced once.

    ``ending`` is a streamed call's end as the SDK reports it (read, closed, failed); None for a Message
    returned whole.
    """
    response, usage = message_result(message)
    extra = message_attributes(_field(message, "usage"), None)
    if extra:
        span.set_attributes(extra)
    call.span = span  # listeners (budgets) see the span that carries the call
    note = _Annotation(span, type(message) is not dict)
    mark = _ANNOTATING.set(note)
    try:
        if ending is None:
            call.finish(response, usage, None if usage is not None else "response carried no usage")
        elif ending.error is not None:
            call.fail(ending.error, response, usage)
        elif ending.how == "read":
            call.finish(response, usage, None if usage is not None else "stream carried no usage")
        else:
            call.abandon(response, usage, "stream closed before the end")
    finally:
        _ANNOTATING.reset(mark)
    if ending is not None:
        ending.done = True
    if note.done:
        return
    # The call had already ended (a stream proxy of ours dropped first): price for the SDK's span alone.
    runtime = call.runtime
    cost = runtime.price(call.request, response, usage) if usage is not None else None
    attrs = runtime.telemetry.span_attributes(call.request, Outcome(response, usage, cost, None, 0.0))
    span.set_attributes({**call.request.attribution, **attrs})


def sdk_span_listener(runtime: Runtime) -> Listener:
    """Writes a finished call's attributes onto the SDK span that ``_annotate`` is finishing it for."""
    telemetry = runtime.telemetry

    def listener(request: Request, outcome: Outcome, span: Any) -> None:
        note = _ANNOTATING.get()
        if note is None or note.span is not span:
            return
        attrs = telemetry.span_attributes(request, outcome)
        if request.attribution:
            attrs.update(request.attribution)  # the SDK's span carries the call: who it is for too
        if note.trim:
            for key in _SET_BY_SDK:
                attrs.pop(key, None)
        span.set_attributes(attrs)
        note.done = True

    return listener


def _api_call_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``set_usage_sums`` / ``set_response`` as called for a non-streamed Message, inside the SDK request."""
    result = wrapped(*args, **kwargs)
    pending = current()  # the call whose SDK request is running in this context
    if isinstance(pending, _Pending) and pending.traced and not pending.done:
        try:
            span, message = _hook_args(args, kwargs)
            if message is not None and span is not None and pending.call.runtime.active:
                _annotate(pending.call, span, message)
                pending.done = True
        except Exception:
            internal_error("sdk_span")
    return result


def _streaming_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``set_usage_sums`` / ``set_response`` as called when a streamed Message ends (read, closed, dropped,
    failed), from ``StreamedMessage.end`` just before the SDK ends its span."""
    result = wrapped(*args, **kwargs)
    ending = _ENDING.get()
    if ending is not None and not ending.done:
        try:
            span, message = _hook_args(args, kwargs)
            if message is not None and span is not None and ending.call.runtime.active:
                _annotate(ending.call, span, message, ending)
        except Exception:
            internal_error("sdk_span")
    return result


def _as_raised(error: BaseException | None) -> BaseException | None:
    """The error the caller gets for ``error``, a failure the SDK's body observer saw while reading a stream.

    The observer sees the transport's own error (``httpx2.RemoteProtocolError`` for a dropped connection), but
    anthropic releases that read bodies through ``iter_response_bytes`` (2.17+) raise it to the caller wrapped,
    as ``APITimeoutError`` or ``APIConnectionError``: ``error.type`` must name what the caller got. Older
    releases raise the transport's error itself, and get it unchanged here."""
    streaming = sys.modules.get("anthropic._streaming")
    exceptions = sys.modules.get("anthropic._exceptions")
    if error is None or exceptions is None or not hasattr(streaming, "iter_response_bytes"):
        return error
    if isinstance(error, exceptions.AnthropicError) or not isinstance(error, Exception):
        return error
    transport = sys.modules.get(type(error).__module__.partition(".")[0])
    timeout = getattr(transport, "TimeoutException", None)
    try:
        request = getattr(error, "request", None)
    except Exception:  # httpx raises when the error carries no request
        request = None
    try:
        if isinstance(timeout, type) and isinstance(error, timeout):
            wrapped: BaseException = exceptions.APITimeoutError(request=request)
        else:
            wrapped = exceptions.APIConnectionError(request=request)
    except Exception:
        internal_error("sdk_error_type")
        return error
    wrapped.__cause__ = error
    return wrapped


def _streamed_message_end(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``StreamedMessage.end(how, error)``: the SDK ends a stream's span exactly once; our call ends with it."""
    call = _STREAM_CALLS.pop(instance, None) if _STREAM_CALLS else None
    if call is None:
        return wrapped(*args, **kwargs)
    error = args[1] if len(args) > 1 else kwargs.get("error")
    ending = _Ending(call, args[0] if args else kwargs.get("how"), _as_raised(error))
    mark = _ENDING.set(ending)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _ENDING.reset(mark)
        if not ending.done:  # no Message to record: the stream ended before message_start
            try:
                if ending.error is not None:
                    call.fail(ending.error)
                else:
                    call.abandon(None, None, "stream ended before message_start")
            except Exception:
                internal_error("sdk_span")


def _first_chunk_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``set_time_to_first_chunk(span, ...)``: the SDK saw the first content of a stream it records."""
    result = wrapped(*args, **kwargs)
    if _STREAM_SPANS:
        span = args[0] if args else kwargs.get("span")
        call = _STREAM_SPANS.get(span) if span is not None else None
        if call is not None and call.first_chunk is None:
            call.chunk_arrived()
    return result


def _streamed_message_init(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``StreamedMessage(span, ...)``: made inside the SDK request of a stream the SDK records on its span.
    When its end and usage recorder are ours too, the call ends with that span and needs no stream proxy."""
    result = wrapped(*args, **kwargs)
    pending = current()  # the call whose SDK request is running in this context
    if isinstance(pending, _Pending) and pending.traced:
        try:
            span = args[0] if args else kwargs.get("span")
            if span is not None and _recorder_hooked(type(instance)):
                _STREAM_CALLS[instance] = pending.call
                _STREAM_SPANS[span] = pending.call
                pending.observed = True
        except Exception:
            internal_error("sdk_span")
    return result


def _recorder_hooked(recorder: type) -> bool:
    """Both ``StreamedMessage.end`` and the usage recorder it calls are wrapped (by us) in this SDK version."""
    if not isinstance(vars(recorder).get("end"), wrapt.FunctionWrapper):
        return False
    module = sys.modules.get(recorder.__module__)
    usage = getattr(module, "set_usage_sums", None) or getattr(module, "set_response", None)
    return isinstance(usage, wrapt.FunctionWrapper)


def _stream_instancecheck(wrapped: Any, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """anthropic 0.x: ``isinstance(x, Stream)`` is True only for the exact type (a metaclass says False to
    anything else), so our stream proxy would fail it; it answers for the stream it wraps."""
    result = wrapped(*args, **kwargs)
    if result or not args:
        return result
    candidate = args[0]
    if isinstance(candidate, (StreamProxy, AsyncStreamProxy)):
        try:
            return isinstance(candidate.__wrapped__, cls)
        except Exception:
            internal_error("isinstance")
    return result


# --- what is wrapped -------------------------------------------------------------------------------
# Bedrock's and Vertex's beta Messages copy the first-party functions at import: they are wrapped on their
# own, and listed first so that they are imported (and copy the originals) before those are wrapped.
_MESSAGE_MODULES = (
    "anthropic.lib.bedrock._beta_messages",
    "anthropic.lib.vertex._beta_messages",
    "anthropic.resources.messages.messages",
    "anthropic.resources.beta.messages.messages",
)
_MESSAGE_METHODS = (
    ("create", "create"),
    ("parse", "parse"),
    ("stream", "stream"),
    ("count_tokens", "count_tokens"),
)
# (module, attribute path, kind, is_async) of every method wrapped; missing ones are skipped.
METHODS: tuple[tuple[str, str, str, bool], ...] = tuple(
    (module, f"{prefix}Messages.{name}", kind, prefix == "Async")
    for module in _MESSAGE_MODULES
    for prefix in ("", "Async")
    for name, kind in _MESSAGE_METHODS
) + tuple(
    (module, f"{prefix}Batches.results", "batch_results", prefix == "Async")
    for module in ("anthropic.resources.messages.batches", "anthropic.resources.beta.messages.batches")
    for prefix in ("", "Async")
)
# The SDK's usage recorders (set_usage_sums in 2.6+, set_response in 1.14-2.5), patched where they are
# called (each module imports them by name), the recorder of streamed Messages, and (0.x) the stream
# classes' isinstance check.
HOOKS: tuple[tuple[str, str, Wrapper], ...] = (
    ("anthropic._base_client", "start_api_call_span", _start_hook),
    ("anthropic._base_client", "finish_api_call_span", _finish_hook),
    ("anthropic.lib._tracing._api_call", "set_usage_sums", _api_call_hook),
    ("anthropic.lib._tracing._api_call", "set_response", _api_call_hook),
    ("anthropic.lib._tracing._streaming", "set_usage_sums", _streaming_hook),
    ("anthropic.lib._tracing._streaming", "set_response", _streaming_hook),
    ("anthropic.lib._tracing._streaming", "StreamedMessage.__init__", _streamed_message_init),
    ("anthropic.lib._tracing._streaming", "StreamedMessage.end", _streamed_message_end),
    ("anthropic.lib._tracing._streaming", "set_time_to_first_chunk", _first_chunk_hook),
    ("anthropic._streaming", "_SyncStreamMeta.__instancecheck__", _stream_instancecheck),
    ("anthropic._streaming", "_AsyncStreamMeta.__instancecheck__", _stream_instancecheck),
)


def wrappers(runtime: Runtime, calls_only: bool = False) -> Iterator[tuple[str, str, Wrapper]]:
    """(module, attribute path, wrapper) of everything to patch for this runtime; ``calls_only``: just the
    methods that send a request (what a budget admits or refuses), not batch results or the SDK's hooks."""
    for module, path, kind, is_async in METHODS:
        if calls_only and kind == "batch_results":
            continue
        handler = AnthropicMethod(kind, is_async)
        factory = stream_wrapper if kind == "stream" else method_wrapper
        yield module, path, factory(runtime, handler)
    if not calls_only:
        yield from HOOKS
