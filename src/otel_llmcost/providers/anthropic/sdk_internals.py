"""Every place we touch the anthropic SDK's private code, named once: the quarantine.

We rely on things the SDK does not promise: private modules (``anthropic._base_client``, ``anthropic.lib._tracing``
...), private attributes (a resource's ``_client``, a client's ``_tracer`` and ``_otel``), a name-mangled method
(``MessageStreamManager.__api_request``), metaclass hooks (0.x ``_SyncStreamMeta.__instancecheck__``) and the
argument order of private functions. They are all here, as constants and small accessors, so that the rest of
the adapter names none of them, and ``tests/test_anthropic_sdk_internals.py`` checks each one against the installed
SDK: a release that renames one fails that test, naming the private and what stops working without it.

Every accessor degrades instead of raising where the caller's code needs a default (a missing private disables
only what needs it, as each wrapt target is skipped on its own). This module knows nothing of our calls, spans,
prices or settings: it only says where the SDK keeps things.
"""
from __future__ import annotations

import sys
from typing import Any

# --- private modules and the attributes patched in them ---------------------------------------------------
BASE_CLIENT = "anthropic._base_client"
"""anthropic >= 1.14: starts and finishes the SDK's span of each API call."""
START_API_CALL_SPAN = "start_api_call_span"
"""``start_api_call_span(tracer, base_url, options, attributes, ...)``: the SDK's span is born here."""
FINISH_API_CALL_SPAN = "finish_api_call_span"
"""``finish_api_call_span(client, span, result)``: the SDK records the HTTP exchange on its span here."""

TRACING = "anthropic._tracing"
"""anthropic >= 1.14: the SDK's span helpers; its table of recorded response headers."""
RESPONSE_HEADER_ATTRIBUTES = "RESPONSE_HEADER_ATTRIBUTES"
"""{attribute: header} of the response headers the SDK records on its span (where it has the table)."""
API_CALL_RESULT = "ApiCallResult"
"""The ``result`` of the SDK's span finish: ``response``, ``final_attempt`` and ``resend_count`` are read."""

MODELS = "anthropic._models"
FINAL_REQUEST_OPTIONS = "FinalRequestOptions"
"""A request's options, as the SDK's span start gets them: ``span_name``, ``span_route`` and ``method`` are read."""

TRACING_API_CALL = "anthropic.lib._tracing._api_call"
"""anthropic >= 1.14: records a non-streamed Message on the SDK's span."""
TRACING_STREAMING = "anthropic.lib._tracing._streaming"
"""anthropic >= 1.14: records a streamed Message (``StreamedMessage``) on the SDK's span."""
SET_USAGE_SUMS = "set_usage_sums"
"""The usage recorder, anthropic >= 2.6: ``set_usage_sums(span, message, ...)``."""
SET_RESPONSE = "set_response"
"""The usage recorder, anthropic 1.14-2.5: ``set_response(span, message, ...)``."""
USAGE_RECORDERS = (SET_USAGE_SUMS, SET_RESPONSE)
STREAMED_MESSAGE = "StreamedMessage"
STREAMED_MESSAGE_INIT = f"{STREAMED_MESSAGE}.__init__"
"""``StreamedMessage(span, body, ...)``: the SDK's recorder of a stream it traces."""
STREAMED_MESSAGE_END = f"{STREAMED_MESSAGE}.end"
"""``StreamedMessage.end(how, error=None)``: ends the stream's span, exactly once."""
SET_TIME_TO_FIRST_CHUNK = "set_time_to_first_chunk"
"""``set_time_to_first_chunk(span, start_time)``: the first content of a traced stream arrived."""

STREAMING = "anthropic._streaming"
"""The SDK's Stream classes."""
SYNC_STREAM_INSTANCECHECK = "_SyncStreamMeta.__instancecheck__"
"""anthropic 0.x: ``isinstance(x, Stream)`` is True only for the exact type; our stream proxy must pass it."""
ASYNC_STREAM_INSTANCECHECK = "_AsyncStreamMeta.__instancecheck__"
ITER_RESPONSE_BYTES = "iter_response_bytes"
"""anthropic 2.17+: reads stream bodies, and raises a transport's error to the caller wrapped in the SDK's."""

EXCEPTIONS = "anthropic._exceptions"
"""The SDK's exception classes (``AnthropicError``, ``APITimeoutError``, ``APIConnectionError``)."""

BEDROCK_BETA_MESSAGES = "anthropic.lib.bedrock._beta_messages"
VERTEX_BETA_MESSAGES = "anthropic.lib.vertex._beta_messages"
"""Bedrock's and Vertex's beta Messages: copies of the first-party functions, made at import."""

# --- private attributes ---------------------------------------------------------------------------------------
RESOURCE_CLIENT = "_client"
"""A resource's (``client.messages``) client."""
CLIENT_TRACER = "_tracer"
"""anthropic >= 1.14: a client's resolved tracer, None when its tracing is off."""
CLIENT_OTEL = "_otel"
"""anthropic >= 1.14: a client's tracing settings (``records_content``: the SDK's content mode)."""
PROVIDER_NAME = "_gen_ai_provider_name"
"""anthropic >= 1.14: a client class's ``gen_ai.provider.name`` (Bedrock, Vertex, first party...)."""
MANAGER_API_REQUEST = "__api_request"
"""``MessageStreamManager.__api_request``: the request a stream manager sends when entered (name-mangled per
class, so stored as ``_<Class>__api_request``; the beta managers included)."""
MANAGER_STREAM = "__stream"
"""``MessageStreamManager.__stream``: the ``MessageStream`` it made when entered (name-mangled as above)."""
RAW_STREAM = "_raw_stream"
"""``MessageStream._raw_stream``: the stream of events the manager's request returned (ours, a proxy)."""
STREAM_MANAGERS = (  # (module, the with-block exit of a stream manager), sync and async, first party and beta
    ("anthropic.lib.streaming._messages", "MessageStreamManager.__exit__"),
    ("anthropic.lib.streaming._messages", "AsyncMessageStreamManager.__aexit__"),
    ("anthropic.lib.streaming._beta_messages", "BetaMessageStreamManager.__exit__"),
    ("anthropic.lib.streaming._beta_messages", "BetaAsyncMessageStreamManager.__aexit__"),
)


def resource_client(resource: Any) -> Any:
    """The client a resource (``client.messages``, ``client.beta.messages.batches``) sends with, or None."""
    return getattr(resource, RESOURCE_CLIENT, None)


def client_tracer(client: Any) -> Any:
    """The client's resolved tracer; None when its tracing is off or this SDK does not trace itself (< 1.14)."""
    try:
        return getattr(client, CLIENT_TRACER)
    except Exception:
        return None


def records_content(client: Any) -> bool:
    """The client records message content on its spans (the SDK's content mode)."""
    return getattr(getattr(client, CLIENT_OTEL, None), "records_content", False) is True


def provider_name(client: Any) -> str | None:
    """gen_ai.provider.name as the SDK names it on its own span, when its client class says."""
    name = getattr(type(client), PROVIDER_NAME, None)
    return name if isinstance(name, str) and name else None


def api_call_span_functions() -> tuple[Any, Any]:
    """The SDK's ``start_api_call_span`` and ``finish_api_call_span`` as they are now (None when absent)."""
    module = sys.modules.get(BASE_CLIENT)
    return getattr(module, START_API_CALL_SPAN, None), getattr(module, FINISH_API_CALL_SPAN, None)


def recorder_end(recorder: type) -> Any:
    """``StreamedMessage.end`` as the recorder class holds it now (None when absent)."""
    return vars(recorder).get(STREAMED_MESSAGE_END.rpartition(".")[2])


def usage_recorder(module_name: str) -> Any:
    """The usage recorder the SDK's module ``module_name`` calls (``set_usage_sums``, else ``set_response``)."""
    module = sys.modules.get(module_name)
    return getattr(module, SET_USAGE_SUMS, None) or getattr(module, SET_RESPONSE, None)


def response_header_table() -> dict[str, str] | None:
    """The SDK's own {attribute: header} table of the response headers it records, where it has one."""
    table = getattr(sys.modules.get(TRACING), RESPONSE_HEADER_ATTRIBUTES, None)
    return table if isinstance(table, dict) else None


def manager_request_attribute(manager: Any) -> str | None:
    """The (mangled) name under which a stream manager keeps the request it sends when entered."""
    state = getattr(manager, "__dict__", {})
    return next((name for name in state if name.endswith(MANAGER_API_REQUEST)), None)


def manager_raw_stream(manager: Any) -> Any:
    """The event stream under the ``MessageStream`` an entered stream manager made (None before it was entered)."""
    state = getattr(manager, "__dict__", {})
    stream = next((value for name, value in state.items() if name.endswith(MANAGER_STREAM)), None)
    return getattr(stream, RAW_STREAM, None) if stream is not None else None


WRAPPED_MANAGER = "_stream_manager"
"""Not the SDK's: where OpenLLMetry's ``WrappedMessageStreamManager`` (a plain class, not a proxy) keeps the SDK's
stream manager it wraps. wrapt proxies (util-genai's) pass ``__dict__`` and attribute writes through already."""


def request_holder(manager: Any) -> tuple[Any, str] | None:
    """(the SDK's stream manager, its request attribute) under whatever other instrumentations wrapped around it
    when their ``stream()`` layer sits below ours; None when none is found."""
    for _ in range(4):  # a few layers at most
        attribute = manager_request_attribute(manager)
        if attribute is not None:
            return manager, attribute
        manager = getattr(manager, "__dict__", {}).get(WRAPPED_MANAGER)
        if manager is None:
            return None
    return None


def wraps_transport_errors() -> bool:
    """This SDK reads stream bodies through ``iter_response_bytes`` (2.17+), which raises a transport's error to
    the caller wrapped in the SDK's ``APITimeoutError`` / ``APIConnectionError``."""
    return sys.modules.get(EXCEPTIONS) is not None and hasattr(sys.modules.get(STREAMING), ITER_RESPONSE_BYTES)


def sdk_exceptions() -> Any:
    """The SDK's exceptions module, once the SDK is imported."""
    return sys.modules.get(EXCEPTIONS)


# --- the argument order of the private functions we wrap -----------------------------------------------------
def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def start_span_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """(options, attributes) of a ``start_api_call_span(tracer, base_url, options, attributes, ...)`` call."""
    return _arg(args, kwargs, 2, "options"), _arg(args, kwargs, 3, "attributes")


def span_name(options: Any) -> Any:
    """The span name the SDK gives a request (its ``FinalRequestOptions.span_name``), None when it makes none."""
    return getattr(options, "span_name", None)


def request_method_and_route(options: Any) -> tuple[str, Any]:
    """(HTTP method, route) the SDK puts on a request's span, from its ``FinalRequestOptions``."""
    return str(options.method).upper(), getattr(options, "span_route", None)


def finish_span_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """(span, result) of a ``finish_api_call_span(client, span, result)`` call."""
    return _arg(args, kwargs, 1, "span"), _arg(args, kwargs, 2, "result")


def exchange_of(result: Any) -> tuple[Any, int]:
    """(the HTTP response, or for a failed call the one its error carries; resend count) of an ``ApiCallResult``."""
    response = result.response
    if response is None:
        response = result.final_attempt
    return response, result.resend_count


def usage_recorder_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """(span, message) of a ``set_usage_sums`` / ``set_response`` call."""
    return _arg(args, kwargs, 0, "span"), _arg(args, kwargs, 1, "message")


def stream_end_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """(how, error) of a ``StreamedMessage.end(how, error)`` call."""
    return _arg(args, kwargs, 0, "how"), _arg(args, kwargs, 1, "error")


def span_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The span of a ``StreamedMessage(span, ...)`` or ``set_time_to_first_chunk(span, ...)`` call."""
    return _arg(args, kwargs, 0, "span")
