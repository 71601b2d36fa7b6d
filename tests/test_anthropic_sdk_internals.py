"""Every anthropic SDK private that ``providers/anthropic/sdk_internals.py`` relies on, checked against the SDK.

The adapter degrades quietly when a private disappears (a missing hook is skipped, an accessor returns its
default): the calls still go through, but something stops being measured or replaced. These tests are where such
a rename shows up: each failure names the SDK version, the private and what breaks without it. The SDK's own
tracing privates are required only from anthropic 1.14 (its first release that traces itself); the stream
metaclass hook only where the SDK's Stream has a metaclass (0.x).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from typing import Any

import anthropic
import pytest

from otel_llmcost.providers.anthropic import sdk_internals as si

VERSION = anthropic.__version__
SELF_TRACING = tuple(int(part) for part in VERSION.split(".")[:2]) >= (1, 14)
tracing_only = pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
MESSAGE = {"model": "test-model", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}


def resolve(module: str, path: str, breaks: str) -> Any:
    """``module``'s attribute ``path`` (dotted), or a failure naming the private and what breaks without it."""
    try:
        owner: Any = importlib.import_module(module)
    except ImportError:
        pytest.fail(f"anthropic {VERSION} has no module {module}: {breaks}")
    for part in path.split("."):
        if part not in vars(owner):
            pytest.fail(f"anthropic {VERSION} renamed {module}.{path}: {breaks}")
        owner = vars(owner)[part]
    return owner


def parameters(function: Any, expected: tuple[str, ...], name: str, breaks: str) -> None:
    """``function``'s leading parameters are ``expected`` (their order is what our hooks read)."""
    got = tuple(inspect.signature(function).parameters)[: len(expected)]
    assert got == expected, f"anthropic {VERSION} changed the signature of {name} to {got}: {breaks}"


# --- every release we support --------------------------------------------------------------------------------
@pytest.mark.parametrize("module", [si.BEDROCK_BETA_MESSAGES, si.VERTEX_BETA_MESSAGES])
def test_platform_beta_messages(module: str) -> None:
    # create is in every release; stream and count_tokens where a release has them (each is wrapped on its own).
    for cls in ("Messages", "AsyncMessages"):
        breaks = f"{cls}.create of that platform's beta Messages is no longer priced"
        assert callable(resolve(module, f"{cls}.create", breaks))


def test_resource_client() -> None:
    client = anthropic.Anthropic(api_key="test")
    for resource in (client.messages, client.messages.batches, client.beta.messages):
        assert si.resource_client(resource) is client, (
            f"anthropic {VERSION} renamed the resource attribute {si.RESOURCE_CLIENT}: a call's provider, server"
            " and the SDK's tracing can no longer be told from its client"
        )


def test_stream_manager_request() -> None:
    breaks = "messages.stream() is no longer priced (its request cannot be replaced by an instrumented one)"
    client = anthropic.Anthropic(api_key="test")
    for manager in (client.messages.stream(**MESSAGE), client.beta.messages.stream(**MESSAGE)):
        attribute = si.manager_request_attribute(manager)
        name = f"{type(manager).__name__}.{si.MANAGER_API_REQUEST}"
        assert attribute is not None, f"anthropic {VERSION} renamed {name}: {breaks}"
        assert callable(vars(manager)[attribute]), f"{type(manager).__name__}.{si.MANAGER_API_REQUEST} {breaks}"


def test_async_stream_manager_request() -> None:
    asyncio.run(_async_stream_manager_request())


async def _async_stream_manager_request() -> None:
    breaks = "async messages.stream() is no longer priced (its request cannot be replaced by an instrumented one)"
    client = anthropic.AsyncAnthropic(api_key="test")
    for manager in (client.messages.stream(**MESSAGE), client.beta.messages.stream(**MESSAGE)):
        attribute = si.manager_request_attribute(manager)
        name = f"{type(manager).__name__}.{si.MANAGER_API_REQUEST}"
        assert attribute is not None, f"anthropic {VERSION} renamed {name}: {breaks}"
        request = vars(manager)[attribute]
        assert inspect.isawaitable(request), f"{type(manager).__name__}.{si.MANAGER_API_REQUEST} {breaks}"
        request.close()  # never sent: no "never awaited" warning


def test_exceptions() -> None:
    breaks = "a dropped stream's error.type no longer names the error the caller got"
    for name in ("AnthropicError", "APITimeoutError", "APIConnectionError"):
        cls = resolve(si.EXCEPTIONS, name, breaks)
        if name != "AnthropicError":
            signature = inspect.signature(cls).parameters
            assert "request" in signature, f"anthropic {VERSION} changed {name}(request=): {breaks}"


def test_iter_response_bytes_when_present() -> None:
    # Optional (2.17+): where it exists, the SDK wraps a transport's error in its own, which _as_raised mirrors.
    importlib.import_module(si.STREAMING)
    function = getattr(importlib.import_module(si.STREAMING), si.ITER_RESPONSE_BYTES, None)
    if function is not None:
        assert callable(function)
        assert si.wraps_transport_errors()


def test_stream_metaclass_hook() -> None:
    # Needed exactly where the SDK's Stream has a metaclass of its own (0.x): it refuses our stream proxy.
    for stream, path in ((anthropic.Stream, si.SYNC_STREAM_INSTANCECHECK),
                         (anthropic.AsyncStream, si.ASYNC_STREAM_INSTANCECHECK)):
        if type(stream) is type or type(stream).__module__ != si.STREAMING:
            continue
        breaks = f"isinstance(proxy, {stream.__name__}) is False for a stream we proxy"
        assert type(stream).__name__ == path.partition(".")[0], (
            f"anthropic {VERSION} renamed {si.STREAMING}.{path.partition('.')[0]}: {breaks}"
        )
        parameters(resolve(si.STREAMING, path, breaks), ("self", "instance"), f"{si.STREAMING}.{path}", breaks)


# --- the SDK's own tracing (anthropic >= 1.14) -------------------------------------------------------------------
@tracing_only
def test_start_api_call_span() -> None:
    breaks = "the SDK's span can no longer be replaced by ours"
    name = f"{si.BASE_CLIENT}.{si.START_API_CALL_SPAN}"
    function = resolve(si.BASE_CLIENT, si.START_API_CALL_SPAN, breaks)
    parameters(function, ("tracer", "base_url", "options", "attributes"), name, breaks)


@tracing_only
def test_finish_api_call_span() -> None:
    breaks = "our span replacing the SDK's loses the HTTP status, resends and request id"
    name = f"{si.BASE_CLIENT}.{si.FINISH_API_CALL_SPAN}"
    parameters(resolve(si.BASE_CLIENT, si.FINISH_API_CALL_SPAN, breaks), ("client", "span", "result"), name, breaks)
    result = resolve(si.TRACING, si.API_CALL_RESULT, breaks)
    fields = getattr(result, "__dataclass_fields__", {})
    for field in ("response", "resend_count"):
        assert field in fields, f"anthropic {VERSION} renamed {si.TRACING}.{si.API_CALL_RESULT}.{field}: {breaks}"
    assert isinstance(inspect.getattr_static(result, "final_attempt", None), property), (
        f"anthropic {VERSION} renamed {si.TRACING}.{si.API_CALL_RESULT}.final_attempt: {breaks} of a failed call"
    )


@tracing_only
def test_request_options() -> None:
    breaks = "our span replacing the SDK's loses its name, method and route"
    options = resolve(si.MODELS, si.FINAL_REQUEST_OPTIONS, breaks)
    for field in ("span_name", "span_route", "method"):
        assert field in options.model_fields, (
            f"anthropic {VERSION} renamed {si.MODELS}.{si.FINAL_REQUEST_OPTIONS}.{field}: {breaks}"
        )


@tracing_only
def test_response_header_table_when_present() -> None:
    # Optional: without it, the headers names.ANTHROPIC_RESPONSE_HEADERS lists are recorded.
    table = getattr(importlib.import_module(si.TRACING), si.RESPONSE_HEADER_ATTRIBUTES, None)
    if table is not None:
        assert si.response_header_table() == table
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())


@tracing_only
@pytest.mark.parametrize("module", [si.TRACING_API_CALL, si.TRACING_STREAMING])
def test_usage_recorder(module: str) -> None:
    kind = "non-streamed" if module == si.TRACING_API_CALL else "streamed"
    breaks = f"a {kind} call the SDK traces in content mode no longer gets its cost on the SDK's span"
    importlib.import_module(module)
    recorder = si.usage_recorder(module)
    names = f"{module}.{si.SET_USAGE_SUMS} / {si.SET_RESPONSE}"
    assert recorder is not None, f"anthropic {VERSION} renamed {names}: {breaks}"
    parameters(recorder, ("span", "message"), f"{module}.{recorder.__name__}", breaks)


@tracing_only
def test_streamed_message() -> None:
    breaks = "a stream the SDK traces in content mode no longer ends our call with its span"
    module = si.TRACING_STREAMING
    init = resolve(module, si.STREAMED_MESSAGE_INIT, breaks)
    parameters(init, ("self", "span"), f"{module}.{si.STREAMED_MESSAGE_INIT}", breaks)
    end = resolve(module, si.STREAMED_MESSAGE_END, breaks)
    parameters(end, ("self", "how", "error"), f"{module}.{si.STREAMED_MESSAGE_END}", breaks)
    assert si.recorder_end(resolve(module, si.STREAMED_MESSAGE, breaks)) is end
    first = resolve(module, si.SET_TIME_TO_FIRST_CHUNK, "the time to the first chunk of such a stream is lost")
    parameters(first, ("span",), f"{module}.{si.SET_TIME_TO_FIRST_CHUNK}", "the time to the first chunk is lost")


@tracing_only
def test_client_tracing_state() -> None:
    client = anthropic.Anthropic(api_key="test")
    assert si.client_tracer(client) is not None, (
        f"anthropic {VERSION} renamed the client attribute {si.CLIENT_TRACER}: whether the SDK makes a span is no"
        " longer known, so ours never replaces it (two spans per call)"
    )
    assert si.client_tracer(anthropic.Anthropic(api_key="test", open_telemetry=False)) is None
    assert isinstance(getattr(getattr(client, si.CLIENT_OTEL, None), "records_content", None), bool), (
        f"anthropic {VERSION} renamed {si.CLIENT_OTEL}.records_content: the SDK's content mode is no longer"
        " seen, so its span (the only one with message content) would be replaced by ours"
    )


@tracing_only
def test_provider_name() -> None:
    for cls in (anthropic.Anthropic, anthropic.AsyncAnthropic, anthropic.AnthropicBedrock, anthropic.AnthropicVertex):
        name = getattr(cls, si.PROVIDER_NAME, None)
        assert isinstance(name, str) and name, (
            f"anthropic {VERSION} renamed {cls.__name__}.{si.PROVIDER_NAME}: gen_ai.provider.name falls back to"
            " a guess from the class name"
        )


def test_nothing_else_names_an_sdk_private() -> None:
    # The quarantine holds: no other module of the adapter spells a private module path or attribute.
    import pathlib

    import otel_llmcost.providers.anthropic as package

    privates = ("anthropic._", "anthropic.lib._", "._client", "._tracer", "._otel", "_gen_ai_provider_name",
                "__api_request", "StreamMeta", "set_usage_sums", "set_response", "start_api_call_span",
                "finish_api_call_span", "set_time_to_first_chunk", "_beta_messages")
    folder = pathlib.Path(package.__file__).parent
    for source in sorted(folder.glob("*.py")):
        if source.name == "sdk_internals.py":
            continue
        text = source.read_text()
        found = [name for name in privates if name in text]
        assert not found, f"{source.name} names SDK privates {found}: they belong in sdk_internals.py"
