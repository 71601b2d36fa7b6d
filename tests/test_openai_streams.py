"""Streams end their span exactly once, however the caller leaves them; errors reach the caller unchanged."""

from __future__ import annotations

import asyncio
import copy
import gc
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from openai_payloads import (
    MESSAGES,
    WORDS,
    FakeOpenAI,
    Tokens,
    attributes,
    chat_helpers,
    http,
    needs_responses,
    only_span,
    usd,
)
from otel_llmcost import names

TOKENS = Tokens(prompt=1_000, cached=200, completion=50)
COST = usd((800, "2.50"), (200, "1.25"), (50, "10"))
USAGE = {"include_usage": True}


def ended_once(captured: Any) -> dict[str, Any]:
    """One span, ended; one call in the metrics."""
    span = only_span(captured)
    assert span.end_time is not None
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == 1
    return attributes(span)


def abandoned(captured: Any, reason: str) -> dict[str, Any]:
    attrs = ended_once(captured)
    assert attrs[names.LLMCOST_USAGE_AVAILABLE] is False
    assert attrs[names.LLMCOST_USAGE_UNAVAILABLE_REASON] == reason
    assert names.GEN_AI_USAGE_COST not in attrs
    assert names.ERROR_TYPE not in attrs
    assert only_span(captured).status.status_code is StatusCode.UNSET
    assert captured.total(names.METRIC_COST) == 0
    return attrs


def chat_stream(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE, **kwargs
    )


# --- full read ------------------------------------------------------------------------------------
def test_full_read(captured: Any) -> None:
    stream = chat_stream(FakeOpenAI(tokens=TOKENS).client())
    for chunk in stream:
        del chunk
    attrs = ended_once(captured)
    assert attrs[names.GEN_AI_USAGE_COST] == COST
    stream.close()  # closing after the end changes nothing
    del stream
    gc.collect()
    ended_once(captured)


def test_full_read_async(captured: Any) -> None:
    async def main() -> None:
        stream = (
            await FakeOpenAI(tokens=TOKENS)
            .async_client()
            .chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE)
        )
        async for chunk in stream:
            del chunk
        await stream.close()

    asyncio.run(main())
    assert ended_once(captured)[names.GEN_AI_USAGE_COST] == COST


# --- leaving early --------------------------------------------------------------------------------
def test_early_close(captured: Any) -> None:
    stream = chat_stream(FakeOpenAI(tokens=TOKENS).client())
    first = next(stream)
    assert first.id == "chatcmpl-stream123"
    assert captured.client_spans() == []  # still open
    stream.close()
    attrs = abandoned(captured, "stream closed before the end")
    assert attrs[names.GEN_AI_RESPONSE_ID] == "chatcmpl-stream123"  # what we knew is kept
    stream.close()
    del stream
    gc.collect()
    ended_once(captured)


def test_early_close_async(captured: Any) -> None:
    async def main() -> None:
        stream = (
            await FakeOpenAI(tokens=TOKENS)
            .async_client()
            .chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE)
        )
        await stream.__anext__()
        await stream.close()
        await stream.close()

    asyncio.run(main())
    abandoned(captured, "stream closed before the end")


def test_break_then_garbage_collected(captured: Any) -> None:
    stream = chat_stream(FakeOpenAI(tokens=TOKENS).client())
    for chunk in stream:
        assert chunk.choices
        break
    assert captured.client_spans() == []
    del stream, chunk
    gc.collect()
    abandoned(captured, "stream dropped before the end")


def test_break_then_garbage_collected_async(captured: Any) -> None:
    async def main() -> None:
        stream = (
            await FakeOpenAI(tokens=TOKENS)
            .async_client()
            .chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE)
        )
        async for chunk in stream:
            del chunk
            break
        del stream
        gc.collect()

    asyncio.run(main())
    abandoned(captured, "stream dropped before the end")


def test_with_block_full_read_and_early_exit(captured: Any) -> None:
    client = FakeOpenAI(tokens=TOKENS).client()
    stream = chat_stream(client)
    with stream as entered:
        assert entered is stream
        chunks = list(entered)
    assert len(chunks) == len(WORDS) + 2
    assert ended_once(captured)[names.GEN_AI_USAGE_COST] == COST
    captured.exporter.clear()
    with chat_stream(client) as stream:
        for chunk in stream:
            del chunk
            break
    spans = captured.client_spans()
    assert len(spans) == 1
    assert attributes(spans[0])[names.LLMCOST_USAGE_UNAVAILABLE_REASON] == "stream closed before the end"


def test_async_with_block(captured: Any) -> None:
    async def main() -> None:
        client = FakeOpenAI(tokens=TOKENS).async_client()
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        async with stream as entered:
            assert entered is stream
            async for chunk in entered:
                del chunk
                break

    asyncio.run(main())
    abandoned(captured, "stream closed before the end")


def test_caller_exception_inside_with_propagates(captured: Any) -> None:
    class Stop(Exception):
        pass

    with pytest.raises(Stop), chat_stream(FakeOpenAI(tokens=TOKENS).client()) as stream:
        next(stream)
        raise Stop
    # As the official instrumentations do: the exception that ended the stream marks the call failed.
    attrs = ended_once(captured)
    assert attrs[names.ERROR_TYPE] == Stop.__qualname__
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert only_span(captured).status.status_code is StatusCode.ERROR


def test_failing_close_marks_the_call_failed(captured: Any) -> None:
    stream = chat_stream(FakeOpenAI(tokens=TOKENS).client())
    next(stream)

    def refuse() -> None:
        raise OSError("connection reset while closing")

    stream.__wrapped__.close = refuse  # the SDK stream's own close fails, as a broken connection's can
    with pytest.raises(OSError, match="connection reset"):
        stream.close()
    attrs = ended_once(captured)
    assert attrs[names.ERROR_TYPE] == "OSError"
    assert only_span(captured).status.status_code is StatusCode.ERROR


# --- helpers --------------------------------------------------------------------------------------
def test_chat_stream_helper_left_unread(captured: Any) -> None:
    client = FakeOpenAI(tokens=TOKENS).client()
    with chat_helpers(client).stream(model="gpt-4o", messages=MESSAGES, stream_options=USAGE) as stream:
        next(iter(stream))
    abandoned(captured, "stream closed before the end")


def test_chat_stream_helper_until_done(captured: Any) -> None:
    client = FakeOpenAI(tokens=TOKENS).client()
    with chat_helpers(client).stream(model="gpt-4o", messages=MESSAGES, stream_options=USAGE) as stream:
        stream.until_done()
    assert ended_once(captured)[names.GEN_AI_USAGE_COST] == COST


@needs_responses
def test_responses_stream_helper_left_unread(captured: Any) -> None:
    with FakeOpenAI(tokens=TOKENS).client().responses.stream(model="gpt-4o", input="hi") as stream:
        first = next(iter(stream))
        assert first.type == "response.created"
    attrs = abandoned(captured, "stream ended before response.completed")
    assert attrs[names.GEN_AI_RESPONSE_ID] == "resp_test123"


@needs_responses
def test_helpers_async_left_unread(captured: Any) -> None:
    async def main() -> None:
        client = FakeOpenAI(tokens=TOKENS).async_client()
        async with chat_helpers(client).stream(model="gpt-4o", messages=MESSAGES, stream_options=USAGE):
            pass
        async with client.responses.stream(model="gpt-4o", input="hi") as stream:
            await stream.until_done()

    asyncio.run(main())
    chat, responses = (attributes(s) for s in captured.client_spans())
    assert chat[names.LLMCOST_USAGE_AVAILABLE] is False
    assert responses[names.GEN_AI_USAGE_COST] == COST
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == 2


def test_stream_proxy_copies_to_the_sdk_stream(captured: Any) -> None:
    stream = chat_stream(FakeOpenAI(tokens=TOKENS).client())
    assert type(copy.copy(stream)) is openai.Stream
    list(stream)
    ended_once(captured)


# --- errors mid-stream ----------------------------------------------------------------------------
def _dropped() -> FakeOpenAI:
    return FakeOpenAI(
        tokens=TOKENS,
        stream_frames_before_failure=3,
        stream_failure=http.RemoteProtocolError("peer closed connection"),
    )


def _garbled() -> FakeOpenAI:
    return FakeOpenAI(tokens=TOKENS, stream_frames_before_failure=3, stream_garbage=b"data: {not json\n\n")


def _read_all(api: FakeOpenAI) -> tuple[int, BaseException]:
    stream = chat_stream(api.client(max_retries=0))
    seen = 0
    with pytest.raises(Exception) as info:
        for chunk in stream:
            del chunk
            seen += 1
    return seen, info.value


@pytest.mark.parametrize(
    ("make", "error_types"),
    # openai 3.x wraps a dropped connection in APIConnectionError; older releases let httpx's error through.
    [(_dropped, ("APIConnectionError", "RemoteProtocolError")), (_garbled, ("JSONDecodeError",))],
    ids=["dropped-connection", "invalid-sse"],
)
def test_error_mid_stream_reaches_caller_unchanged(
    instrument_with: Callable[..., Any], make: Callable[[], FakeOpenAI], error_types: tuple[str, ...]
) -> None:
    bare_seen, bare = _read_all(make())  # the SDK alone
    captured = instrument_with()
    seen, error = _read_all(make())
    assert type(error) is type(bare)
    error_type = type(error).__name__
    assert error_type in error_types
    assert str(error) == str(bare)
    assert type(error.__cause__) is type(bare.__cause__)
    assert seen == bare_seen == 3
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    attrs = attributes(span)
    assert attrs[names.ERROR_TYPE] == error_type
    assert names.GEN_AI_USAGE_COST not in attrs
    assert names.LLMCOST_USAGE_AVAILABLE not in attrs  # an error, not a missing usage report
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == 1
    assert dict(duration.attributes)[names.ERROR_TYPE] == error_type
    assert captured.total(names.METRIC_COST) == 0


def test_error_mid_stream_async(instrument_with: Callable[..., Any]) -> None:
    async def read(api: FakeOpenAI) -> BaseException:
        stream = await api.async_client(max_retries=0).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        with pytest.raises(Exception) as info:
            async for chunk in stream:
                del chunk
        return info.value

    bare = asyncio.run(read(_dropped()))
    captured = instrument_with()
    error = asyncio.run(read(_dropped()))
    assert type(error) is type(bare)
    assert str(error) == str(bare)
    assert attributes(only_span(captured))[names.ERROR_TYPE] == type(bare).__name__


# --- usage injection ------------------------------------------------------------------------------
def _dumps(chunks: list[Any]) -> list[dict[str, Any]]:
    return [chunk.model_dump() for chunk in chunks]


def test_inject_stream_usage_is_invisible_to_the_caller(instrument_with: Callable[..., Any]) -> None:
    bare_api = FakeOpenAI(tokens=TOKENS)
    bare = list(bare_api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert "stream_options" not in bare_api.last_body()
    captured = instrument_with(inject_stream_usage=True)
    api = FakeOpenAI(tokens=TOKENS)
    seen = list(api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert api.last_body()["stream_options"] == {"include_usage": True}  # what went over the wire
    assert _dumps(seen) == _dumps(bare)  # what the caller got: no extra usage chunk
    assert all(chunk.choices for chunk in seen)
    attrs = ended_once(captured)
    assert attrs[names.GEN_AI_USAGE_COST] == COST
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 1_000
    assert attrs[names.LLMCOST_STREAM_USAGE_INJECTED] is True


def test_inject_stream_usage_with_helper_and_env(
    instrument_with: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with chat_helpers(FakeOpenAI(tokens=TOKENS).client()).stream(model="gpt-4o", messages=MESSAGES) as stream:
        bare = stream.get_final_completion()
    monkeypatch.setenv(names.ENV_INJECT_STREAM_USAGE, "true")
    captured = instrument_with()
    api = FakeOpenAI(tokens=TOKENS)
    with chat_helpers(api.client()).stream(model="gpt-4o", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert api.last_body()["stream_options"] == {"include_usage": True}
    assert final.usage is None and bare.usage is None  # as without us
    assert final.model_dump() == bare.model_dump()
    assert ended_once(captured)[names.GEN_AI_USAGE_COST] == COST


def test_inject_stream_usage_async(instrument_with: Callable[..., Any]) -> None:
    captured = instrument_with(inject_stream_usage=True)
    api = FakeOpenAI(tokens=TOKENS)

    async def main() -> list[Any]:
        stream = await api.async_client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(main())
    assert len(chunks) == len(WORDS) + 1
    assert all(chunk.choices for chunk in chunks)
    assert ended_once(captured)[names.GEN_AI_USAGE_COST] == COST


def test_inject_respects_the_callers_choice(instrument_with: Callable[..., Any]) -> None:
    captured = instrument_with(inject_stream_usage=True)
    api = FakeOpenAI(tokens=TOKENS)
    chunks = list(
        api.client().chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": False}
        )
    )
    assert api.last_body()["stream_options"] == {"include_usage": False}
    assert len(chunks) == len(WORDS) + 1
    attrs = ended_once(captured)
    assert attrs[names.LLMCOST_USAGE_AVAILABLE] is False
    assert names.LLMCOST_STREAM_USAGE_INJECTED not in attrs


@pytest.mark.parametrize(
    "base_url",
    ["https://api.groq.com/openai/v1", "https://llm-gateway.example.com/v1", "http://localhost:11434/v1"],
)
def test_inject_only_against_openai(instrument_with: Callable[..., Any], base_url: str) -> None:
    captured = instrument_with(inject_stream_usage=True)
    api = FakeOpenAI(tokens=TOKENS)
    chunks = list(api.client(base_url=base_url).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert "stream_options" not in api.last_body()
    assert len(chunks) == len(WORDS) + 1
    attrs = ended_once(captured)
    assert attrs[names.LLMCOST_USAGE_AVAILABLE] is False
    assert attrs[names.LLMCOST_USAGE_UNAVAILABLE_REASON] == "stream_options.include_usage not set"
    assert names.GEN_AI_USAGE_COST not in attrs


def test_request_body_untouched_without_injection(captured: Any) -> None:
    api = FakeOpenAI(tokens=TOKENS)
    list(api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, temperature=0.5))
    assert api.last_body() == {"messages": MESSAGES, "model": "gpt-4o", "stream": True, "temperature": 0.5}
    assert json.dumps(api.last_body())  # plain JSON, as the SDK sent it


def test_inject_never_into_raw_bodies(instrument_with: Callable[..., Any]) -> None:
    def lines(client: openai.OpenAI) -> list[str]:
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        ) as response:
            return [line for line in response.iter_lines() if line]

    bare = lines(FakeOpenAI(tokens=TOKENS).client())
    captured = instrument_with(inject_stream_usage=True)
    api = FakeOpenAI(tokens=TOKENS)
    assert lines(api.client()) == bare  # the caller reads the body itself: nothing may be added to it
    assert "stream_options" not in api.last_body()
    raw = api.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert "stream_options" not in api.last_body()
    assert len(list(raw.parse())) == len(WORDS) + 1
    del raw
    gc.collect()
    assert len(captured.client_spans()) == 2


def test_stream_response_attribute_still_works(captured: Any) -> None:
    stream = chat_stream(FakeOpenAI(tokens=TOKENS).client())
    assert stream.response.headers["x-request-id"] == "req_stream"
    assert stream.response.status_code == 200
    next(stream)
    stream.response.close()  # what the SDK's helpers do to close a stream
    abandoned(captured, "stream closed before the end")
