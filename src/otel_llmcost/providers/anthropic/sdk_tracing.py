"""Living beside the anthropic SDK's own spans (anthropic >= 1.14): replacing them, or annotating them.

One CLIENT span per API call. anthropic >= 1.14 traces itself (a CLIENT span per call, on unless
``open_telemetry=False`` / ``ANTHROPIC_OPEN_TELEMETRY=false``), so each call decides from the client's
resolved tracer (the SDK's own gate) whether the SDK will make a span:

* it will: ours replaces it. Our span is started through the client's tracer (its provider and scope) with
  the SDK's span name; the SDK's span start (hooked where the client calls it) hands the SDK a ``_Relay`` of
  our span instead of its own: the SDK propagates our span's context on each request and sets the URL on it,
  then records nothing more (the relay is not recording), which is most of what its span cost; the SDK's
  span finish adds the HTTP status, resends and request id. From there on the call is one of ours, as with
  the SDK's tracing off.
* it will, and the client records message content on its spans (the SDK's content mode): the SDK's span
  is kept and annotated. Its usage recorder is wrapped where it is called, just before the SDK ends its span:
  there our call ends (metrics, once) and its cost attributes go onto the SDK's span. A stream the SDK
  records (``sdk_internals.STREAMED_MESSAGE``) is handed to the caller untouched: its end (read, closed, dropped,
  failed: exactly once) ends our call too.
* it will not (tracing off, no tracer provider anywhere, anthropic < 1.14): our own CLIENT span, and our
  stream proxy (``streams.py``) ends it; nothing here takes part.

The calls in flight are found through context variables and weak maps keyed by the SDK's objects, which the
SDK's hooks (running inside its request) look up. This module knows which SDK functions it hooks only by
what ``sdk_internals`` names; it knows nothing of which methods are wrapped or how a response is read.
"""
from __future__ import annotations

import sys
import weakref
from contextvars import ContextVar
from typing import Any

import wrapt
from opentelemetry import trace

from ... import names
from ...calls import Call, ForeignWriter
from ...guard import internal_error
from ...records import Request
from ..base import Wrapper, current, get
from . import sdk_internals
from .usage import OPERATION_BATCH_RESULTS, message_attributes, message_result


# --- the calls in flight ---------------------------------------------------------------------------
class Pending:
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
        """The SDK records this call's stream itself (its stream recorder), and ends our call with its span."""
        self.batch_id = batch_id


class _Ending:
    """A streamed call whose SDK span is ending (its stream recorder's end): how, and whether we ended the call."""

    __slots__ = ("call", "done", "error", "how")

    def __init__(self, call: Call, how: Any, error: Any) -> None:
        self.call = call
        self.how = how
        self.error = error if isinstance(error, BaseException) else None
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


# The SDK's recorders of streams (``sdk_internals.STREAMED_MESSAGE``) -> our call, until the SDK ends the stream's span.
_STREAM_CALLS: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()
# ... and by their SDK span, for the time to the first chunk.
_STREAM_SPANS: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()
# The streamed call whose SDK span is ending in this context.
_ENDING: ContextVar[_Ending | None] = ContextVar("otel_llmcost_anthropic_ending", default=None)


# --- does the SDK trace this call? ----------------------------------------------------------------
def sdk_traces(client: Any) -> bool:
    """True when the client's SDK will start a CLIENT span for its next call (the SDK's own gate)."""
    tracer = sdk_internals.client_tracer(client)  # None: tracing off, or no self-tracing in this SDK version
    if tracer is None or isinstance(tracer, trace.NoOpTracer):
        return False
    if isinstance(tracer, trace.ProxyTracer):
        # The global provider: a no-op until an SDK provider is set, and then the SDK makes no span.
        return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
    return True


# --- our span in place of the SDK's (anthropic >= 1.14) ---------------------------------------------
# The span name the SDK gives each method's call (its ``span_name``); ours takes the one the SDK passes.
SPAN_NAMES = {
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
    start, finish = sdk_internals.api_call_span_functions()
    if not isinstance(start, wrapt.FunctionWrapper) or not isinstance(finish, wrapt.FunctionWrapper):
        return False
    return not sdk_internals.records_content(client)


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
    """The SDK's span start (``sdk_internals.START_API_CALL_SPAN``): for a call of ours whose span replaces
    the SDK's, our span (as a ``_Relay``) with the request attributes the SDK's would have started with."""
    pending = current()  # the call whose SDK request is running in this context
    if not isinstance(pending, Pending) or not pending.relay:
        return wrapped(*args, **kwargs)
    try:
        options, extra = sdk_internals.start_span_args(args, kwargs)
        span_name = sdk_internals.span_name(options)
        # batches.results first retrieves the batch (a call of its own, the SDK's span): replace the results.
        call = pending.call
        if span_name and (call.request.operation != OPERATION_BATCH_RESULTS or span_name.endswith("results")):
            pending.relay = False
            start = {**extra} if extra else {}
            start.pop(names.GEN_AI_PROVIDER_NAME, None)  # ours: a host the user maps may name another
            start[names.HTTP_REQUEST_METHOD], route = sdk_internals.request_method_and_route(options)
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
    """The SDK's span finish (``sdk_internals.FINISH_API_CALL_SPAN``): for our ``_Relay``, what the SDK would have
    recorded of the HTTP exchange (status, resends, request id); our call ends our span (the stream proxy, for a
    stream)."""
    span, result = sdk_internals.finish_span_args(args, kwargs)
    if type(span) is not _Relay:
        return wrapped(*args, **kwargs)
    try:
        span.call.annotate(_exchange_attributes(result))
    except Exception:
        internal_error("sdk_span")
    return None


_HEADERS: dict[bytes, str] | None = None


def _response_headers() -> dict[bytes, str]:
    """Attribute by (lowercase) response header, of the headers the SDK records on its span: its own table
    where it has one."""
    global _HEADERS
    if _HEADERS is None:
        table = sdk_internals.response_header_table() or names.ANTHROPIC_RESPONSE_HEADERS
        _HEADERS = {header.lower().encode("ascii"): attribute for attribute, header in table.items()}
    return _HEADERS


def _exchange_attributes(result: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    response, resend_count = sdk_internals.exchange_of(result)  # failed: the response its error carries
    if response is not None:
        attrs[names.HTTP_RESPONSE_STATUS_CODE] = response.status_code
        wanted = _response_headers()
        for name, value in response.headers.raw:  # one pass (a lookup by name scans them all, each time)
            attribute = wanted.get(name.lower())
            if attribute is not None and value:
                attrs[attribute] = value.decode("latin-1")
    if resend_count:
        attrs[names.HTTP_REQUEST_RESEND_COUNT] = resend_count
    return attrs


# --- hooks into the SDK's own tracing (anthropic >= 1.14) -------------------------------------------
def _annotate(call: Call, span: Any, message: Any, ending: _Ending | None = None) -> None:
    """The SDK's span, which the SDK is about to end, carries the call: it gets the call's cost, and the call
    ends with it (metrics, once): span and metrics carry the same numbers, priced once, by the call.

    ``ending`` is a streamed call's end as the SDK reports it (read, closed, failed); None for a Message
    returned whole.
    """
    response, usage = message_result(message)
    extra = message_attributes(get(message, "usage"), None)
    if extra:
        span.set_attributes(extra)
    call.carried_by(span, _sdk_span_writer(type(message) is not dict))
    if ending is None:
        call.finish(response, usage, None if usage is not None else "response carried no usage")
    elif ending.error is not None:
        call.fail(ending.error, response, usage)
    elif ending.how == "read":
        call.finish(response, usage, None if usage is not None else "stream carried no usage")
    else:
        call.abandon(response, usage, "stream closed before the end")
    if ending is not None:
        ending.done = True


def _sdk_span_writer(trim: bool) -> ForeignWriter:
    """Writes a finished call's attributes onto the SDK's span: who the call is for too; ``trim``: not what the
    SDK itself set from a Message model (same values)."""

    def write(span: Any, request: Request, attrs: dict[str, Any]) -> None:
        if request.attribution:
            attrs.update(request.attribution)
        if trim:
            for key in _SET_BY_SDK:
                attrs.pop(key, None)
        span.set_attributes(attrs)

    return write


def _api_call_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The SDK's usage recorder (``sdk_internals.USAGE_RECORDERS``) as called for a non-streamed Message, inside
    the SDK request."""
    result = wrapped(*args, **kwargs)
    pending = current()  # the call whose SDK request is running in this context
    if isinstance(pending, Pending) and pending.traced and not pending.done:
        try:
            span, message = sdk_internals.usage_recorder_args(args, kwargs)
            if message is not None and span is not None and pending.call.runtime.active:
                _annotate(pending.call, span, message)
                pending.done = True
        except Exception:
            internal_error("sdk_span")
    return result


def _streaming_hook(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The SDK's usage recorder (``sdk_internals.USAGE_RECORDERS``) as called when a streamed Message ends
    (read, closed, dropped, failed), from its stream recorder's end just before the SDK ends its span."""
    result = wrapped(*args, **kwargs)
    ending = _ENDING.get()
    if ending is not None and not ending.done:
        try:
            span, message = sdk_internals.usage_recorder_args(args, kwargs)
            if message is not None and span is not None and ending.call.runtime.active:
                _annotate(ending.call, span, message, ending)
        except Exception:
            internal_error("sdk_span")
    return result


def _as_raised(error: BaseException | None) -> BaseException | None:
    """The error the caller gets for ``error``, a failure the SDK's body observer saw while reading a stream.

    The observer sees the transport's own error (``httpx2.RemoteProtocolError`` for a dropped connection), but
    anthropic releases that read bodies through ``sdk_internals.ITER_RESPONSE_BYTES`` (2.17+) raise it to the
    caller wrapped, as ``APITimeoutError`` or ``APIConnectionError``: ``error.type`` must name what the caller
    got. Older releases raise the transport's error itself, and get it unchanged here."""
    if error is None or not sdk_internals.wraps_transport_errors():
        return error
    exceptions = sdk_internals.sdk_exceptions()
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
    """The stream recorder's end (``sdk_internals.STREAMED_MESSAGE_END``): the SDK ends a stream's span exactly
    once; our call ends with it."""
    call = _STREAM_CALLS.pop(instance, None) if _STREAM_CALLS else None
    if call is None:
        return wrapped(*args, **kwargs)
    how, error = sdk_internals.stream_end_args(args, kwargs)
    ending = _Ending(call, how, _as_raised(error))
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
    """``sdk_internals.SET_TIME_TO_FIRST_CHUNK``: the SDK saw the first content of a stream it records."""
    result = wrapped(*args, **kwargs)
    if _STREAM_SPANS:
        span = sdk_internals.span_arg(args, kwargs)
        call = _STREAM_SPANS.get(span) if span is not None else None
        if call is not None and call.first_chunk is None:
            call.chunk_arrived()
    return result


def _streamed_message_init(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The SDK's stream recorder (``sdk_internals.STREAMED_MESSAGE_INIT``): made inside the SDK request of a
    stream the SDK records on its span. When its end and usage recorder are ours too, the call ends with that
    span and needs no stream proxy."""
    result = wrapped(*args, **kwargs)
    pending = current()  # the call whose SDK request is running in this context
    if isinstance(pending, Pending) and pending.traced:
        try:
            span = sdk_internals.span_arg(args, kwargs)
            if span is not None and _recorder_hooked(type(instance)):
                _STREAM_CALLS[instance] = pending.call
                _STREAM_SPANS[span] = pending.call
                pending.observed = True
        except Exception:
            internal_error("sdk_span")
    return result


def _recorder_hooked(recorder: type) -> bool:
    """Both the stream recorder's end and the usage recorder it calls are wrapped (by us) in this SDK version."""
    if not isinstance(sdk_internals.recorder_end(recorder), wrapt.FunctionWrapper):
        return False
    return isinstance(sdk_internals.usage_recorder(recorder.__module__), wrapt.FunctionWrapper)




# The SDK's span start and finish, its usage recorders (one name per SDK release)
# patched where they are called (each module imports them by name), and its recorder of streamed Messages:
# (module, attribute path, wrapper); the ones missing from an SDK version are skipped.
HOOKS: tuple[tuple[str, str, Wrapper], ...] = (
    (sdk_internals.BASE_CLIENT, sdk_internals.START_API_CALL_SPAN, _start_hook),
    (sdk_internals.BASE_CLIENT, sdk_internals.FINISH_API_CALL_SPAN, _finish_hook),
    *((sdk_internals.TRACING_API_CALL, recorder, _api_call_hook) for recorder in sdk_internals.USAGE_RECORDERS),
    *((sdk_internals.TRACING_STREAMING, recorder, _streaming_hook) for recorder in sdk_internals.USAGE_RECORDERS),
    (sdk_internals.TRACING_STREAMING, sdk_internals.STREAMED_MESSAGE_INIT, _streamed_message_init),
    (sdk_internals.TRACING_STREAMING, sdk_internals.STREAMED_MESSAGE_END, _streamed_message_end),
    (sdk_internals.TRACING_STREAMING, sdk_internals.SET_TIME_TO_FIRST_CHUNK, _first_chunk_hook),
)
