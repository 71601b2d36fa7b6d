"""Which Anthropic methods are wrapped, and what each call asks and returns: Messages create / parse / stream /
count_tokens and batches.results, first party, beta, Bedrock and Vertex, sync and async; raw responses
(``with_raw_response`` / ``with_streaming_response``) and stream managers (``messages.stream()``, which posts
only when entered).

Whether or not the SDK's own span takes part, a call our wrappers began is ended exactly once, by whichever
comes first (``Call`` ignores the rest): an SDK span that is not sampled, or a body nobody reads, still gets
its metrics from our wrappers. This module must not know how the SDK's span is replaced or annotated
(``sdk_tracing``), where the SDK keeps what we reach into (``sdk_internals``), or what usage means (``usage``).
Works with anthropic 0.77+ (httpx) and 1.x/2.x (httpx2) without importing either; each method and hook is
found on its own, so one missing from an SDK version disables only itself.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from ... import names
from ...calls import Call, Foreign, Runtime, StandIn
from ...fingerprints import describe
from ...guard import internal_error
from ...records import Request, Response, Usage
from ...streams import AsyncStreamProxy, StreamProxy, closed_by_caller
from .. import messages, stainless
from ..base import (
    SeenOnce,
    Started,
    Target,
    Wrapper,
    call_async,
    call_sync,
    counted,
    get,
    given,
    method_wrapper,
    number,
    whole,
)
from . import sdk_internals, sdk_tracing
from .endpoints import client_endpoint
from .sdk_tracing import SPAN_NAMES, Pending, replaces_sdk_span, sdk_traces
from .usage import (
    OPERATION_BATCH_RESULTS,
    OPERATION_CHAT,
    OPERATION_COUNT_TOKENS,
    MessageStreamSummary,
    message_attributes,
    message_result,
)

SDK = "anthropic"

_field = get  # a field of an SDK model or of a decoded JSON dict (None when absent)


# --- batch results: each succeeded result is a call of its own ------------------------------------
@dataclass(slots=True)
class BatchResultsSummary:
    """Watches ``batches.results()`` go by: each succeeded result, the first time ``seen`` meets it, is handed to
    ``record`` (which prices it as a call of its own at the batch rate); this summary begins no call itself."""

    batch_id: str
    seen: SeenOnce
    record: Callable[[Response, Usage | None], None]
    priced: int = 0

    def add(self, entry: Any) -> bool:
        result = _field(entry, "result")
        if _field(result, "type") != "succeeded":
            return True
        custom_id = _field(entry, "custom_id")
        if not self.seen.first_time((self.batch_id, str(custom_id))):
            return True
        response, usage = message_result(_field(result, "message"), batch=True)
        self.record(response, usage)
        self.priced += 1
        return True

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        return Response(response_id=self.batch_id), None, f"batch results are priced one by one ({self.priced})"



# --- one wrapped method ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AnthropicMethod:
    """One wrapped Anthropic method: create / parse / stream / count_tokens / batch_results."""

    kind: str
    is_async: bool
    seen: SeenOnce = field(default_factory=SeenOnce, compare=False)
    """(batch id, custom_id) of batch results already priced: one set per ``instrument()``, shared by its methods."""

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
            inference_geo=_geo(kwargs.get("inference_geo")),
            prompt=(kwargs.get("messages"), kwargs.get("system"), kwargs.get("tools")),
            attributes=_recommended(kwargs),
        )
        describe(runtime.settings, request, (kwargs.get("tools"), kwargs.get("system")), kwargs.get("messages"), kwargs)
        if runtime.settings.capture_content:
            # converted only when a span or event is written (an unsampled call never converts it)
            request.input_messages = functools.partial(messages.anthropic_input, kwargs.get("messages"))
            system = kwargs.get("system")
            request.system_instructions = messages.text_parts(system) if given(system) else None
            tools = kwargs.get("tools")  # an iterator is the SDK's to consume: not read, not recorded
            if isinstance(tools, (list, tuple)) and tools:
                request.tool_definitions = functools.partial(messages.anthropic_tools, tools)
        return request

    def started(
        self, runtime: Runtime, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Started:
        """``base.Method``: the call this request begins, its state (``Pending``: how the SDK's span takes
        part), and the kwargs to send (unchanged)."""
        pending = self.begin(runtime, instance, args, kwargs)
        return pending, pending.call, kwargs

    def begin(self, runtime: Runtime, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Pending:
        client: Any = sdk_internals.resource_client(instance)
        request = self.request(runtime, client, kwargs)
        traced = sdk_traces(client)
        relay = traced and replaces_sdk_span(client)
        if relay:  # ours, where and as the SDK's would be: its tracer (provider, scope), its span name; the SDK
            # makes it current (as the _Relay) for exactly its request
            call = runtime.begin(request, StandIn(sdk_internals.client_tracer(client), SPAN_NAMES.get(self.kind)))
        else:  # the SDK's span carries the call (found by sdk_tracing's hooks), or ours when it makes none
            call = runtime.begin(request, Foreign() if traced else None)
        traced = traced and not relay
        batch_id = None
        if self.kind == "batch_results":
            batch_id = _batch_id(args, kwargs)
            call.annotate({names.LLMCOST_BATCH: True, **({names.LLMCOST_BATCH_ID: batch_id} if batch_id else {})})
        return Pending(call, traced, batch_id, relay)

    def result(self, pending: Pending, result: Any) -> Any:
        call = pending.call
        if pending.done:
            return result  # the SDK's usage hook already ended the call, with the same usage
        if isinstance(result, _raw_classes()):
            return self._raw(pending, result)
        if self.kind == "batch_results":
            if not _is_stream(result):
                call.finish(None, None, "batch results not read")
                return result
            results = BatchResultsSummary(pending.batch_id or "", self.seen, _batch_result_recorder(call))
            return (AsyncStreamProxy if self.is_async else StreamProxy)(result, call, results)
        if _is_stream(result):
            if pending.observed:
                return result  # the SDK's own stream recorder ends the call with its span: nothing to proxy
            summary = MessageStreamSummary(call, call.captures)
            return (AsyncStreamProxy if self.is_async else StreamProxy)(result, call, summary)
        self.record(call, result)
        return result

    def record(self, call: Call, parsed: Any) -> None:
        """End a non-streamed call from its parsed (or decoded) body."""
        if self.kind == "count_tokens":
            tokens = _field(parsed, "input_tokens")
            if counted(tokens):
                call.annotate({names.ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS: tokens})
            call.finish(None, None, "count_tokens is not billed")
            return
        response, usage = message_result(parsed, call.captures)
        extra = message_attributes(_field(parsed, "usage"), _field(parsed, "stop_reason"))
        if extra:
            call.annotate(extra)
        call.finish(response, usage, None if usage is not None else "response carried no usage")

    def _raw(self, pending: Pending, raw: Any) -> Any:
        """with_raw_response / with_streaming_response: a body already read is priced now, others on parse()."""
        call = pending.call
        if not call.request.stream and self.kind != "batch_results":
            data = _read_body(raw)
            if data is not None:
                self.record(call, data)
                return raw
        return stainless.defer(call, raw, lambda parsed: self.result(pending, parsed))


def _batch_result_recorder(results_call: Call) -> Callable[[Response, Usage | None], None]:
    """Ends each batch result as a call of its own, on the endpoint of the call that reads the results."""
    runtime, asked = results_call.runtime, results_call.request

    def record(response: Response, usage: Usage | None) -> None:
        request = Request(
            asked.provider, OPERATION_CHAT, response.model, asked.server_address, asked.server_port, local=asked.local
        )
        call = runtime.begin(request, Foreign())  # metrics only: the results carry no span of their own
        call.finish(response, usage, None if usage is not None else "batch result carried no usage")

    return record


_RAW_CLASSES: tuple[type, ...] | None = None


def _raw_classes() -> tuple[type, ...]:
    """The SDK's raw / streaming response wrappers (looked up once)."""
    global _RAW_CLASSES
    if _RAW_CLASSES is None:
        _RAW_CLASSES = stainless.response_classes(SDK)
    return _RAW_CLASSES


def _recommended(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The conventions' recommended request attributes a Messages call gives (top_k, stop sequences)."""
    found: dict[str, Any] = {}
    top_k = whole(kwargs.get("top_k"))
    if top_k is not None:
        found[names.GEN_AI_REQUEST_TOP_K] = float(top_k)
    stop = kwargs.get("stop_sequences")
    if isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
        found[names.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
    return found


def _geo(value: Any) -> str | None:
    """The ``inference_geo`` a call asks for (``us``, ``global``), None when not given."""
    return value if isinstance(value, str) and value else None


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
def _send(
    runtime: Runtime, handler: AnthropicMethod, instance: Any, kwargs: dict[str, Any], send: Callable[[], Any]
) -> Any:
    """``send()`` (the request a stream manager sends when entered) as one instrumented call of ``handler``'s
    method called with ``kwargs``, through the skeleton (a coroutine to await for an async method)."""
    skeleton = call_async if handler.is_async else call_sync
    return skeleton(runtime, handler, None, instance, (), kwargs, send)


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
        return _send(runtime, handler, instance, kwargs, functools.partial(_await, self._original)).__await__()  # type: ignore[no-any-return]


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
    found = sdk_internals.request_holder(manager)  # the request it sends when entered (under others' wrappers)
    if found is None:
        return
    manager, attribute = found
    original = vars(manager)[attribute]
    if handler.is_async:
        setattr(manager, attribute, _AwaitRequest(original, (runtime, handler, instance, kwargs)))
        return

    def api_request() -> Any:
        return _send(runtime, handler, instance, kwargs, original)

    setattr(manager, attribute, api_request)



def _manager_exit(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A stream manager's with-block exit (``__exit__``/``__aexit__``): when the caller's code raised in the block,
    the call ends failed with that exception (``error.type``), as the official instrumentations record it; the
    manager then closes the stream as without us. The SDK's exit runs unchanged (for ``__aexit__``, its
    coroutine is returned to await)."""
    error = args[1] if len(args) > 1 else kwargs.get("exc")
    if error is not None:
        try:
            raw = sdk_internals.manager_raw_stream(instance)
            if raw is not None:
                closed_by_caller(raw, error)
        except Exception:
            internal_error("stream")
    return wrapped(*args, **kwargs)


MANAGER_EXITS = tuple((module, path, _manager_exit) for module, path in sdk_internals.STREAM_MANAGERS)


# --- anthropic 0.x: isinstance(proxy, Stream) --------------------------------------------------------
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
    sdk_internals.BEDROCK_BETA_MESSAGES,
    sdk_internals.VERTEX_BETA_MESSAGES,
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
# The SDK's own tracing hooks (``sdk_tracing``), then (0.x) the stream classes' isinstance check.
HOOKS: tuple[tuple[str, str, Wrapper], ...] = (
    *sdk_tracing.HOOKS,
    (sdk_internals.STREAMING, sdk_internals.SYNC_STREAM_INSTANCECHECK, _stream_instancecheck),
    (sdk_internals.STREAMING, sdk_internals.ASYNC_STREAM_INSTANCECHECK, _stream_instancecheck),
)


def wrappers(
    runtime: Runtime, calls_only: bool = False, seen: SeenOnce | None = None
) -> Iterator[tuple[str, str, Wrapper]]:
    """(module, attribute path, wrapper) of everything to patch for this runtime; ``calls_only``: just the
    methods that send a request (what a budget admits or refuses), not batch results or the SDK's hooks."""
    seen = (seen or SeenOnce()).within(SDK)  # sync and async, first party and beta share what was priced
    for module, path, kind, is_async in METHODS:
        if calls_only and kind == "batch_results":
            continue
        handler = AnthropicMethod(kind, is_async, seen)
        yield module, path, (stream_wrapper if kind == "stream" else method_wrapper)(runtime, handler)
    if not calls_only:
        yield from HOOKS
        yield from MANAGER_EXITS


def targets(runtime: Runtime, calls_only: bool, seen: SeenOnce | None = None) -> Iterator[Target]:
    """The adapter's entry point (``base.Adapter``): every method and SDK hook to patch for this runtime."""
    for module, path, wrapper in wrappers(runtime, calls_only, seen):
        yield module, (path,), wrapper
    if not calls_only:
        yield from stainless.parse_targets(SDK)
