"""Every OpenAI entry point, sync and async: the caller gets the SDK's own types and helpers, we get one priced span."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable
from typing import Any, TypeVar

import openai
import pytest
from openai._base_client import AsyncPaginator
from openai._legacy_response import LegacyAPIResponse
from openai._response import APIResponse, AsyncAPIResponse
from openai.lib.streaming.chat import AsyncChatCompletionStream, ChatCompletionStream
from openai.pagination import AsyncCursorPage
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from pydantic import BaseModel

from openai_payloads import (
    HAS_RESPONSES,
    MESSAGES,
    WORDS,
    FakeOpenAI,
    Tokens,
    attributes,
    chat_helpers,
    needs_responses,
    only_span,
    usd,
)
from otel_llmcost import names

if HAS_RESPONSES:
    from openai.lib.streaming.responses import AsyncResponseStream, ResponseStream
    from openai.types.responses import ParsedResponse, Response, ResponseCompletedEvent, ResponseStreamEvent

T = TypeVar("T")
TOKENS = Tokens(prompt=1_000, cached=200, completion=50)
# gpt-4o: 800 uncached x $2.50 + 200 cached x $1.25 + 50 out x $10, per million.
COST = usd((800, "2.50"), (200, "1.25"), (50, "10"))
EMBEDDING_COST = usd((1_000, "0.02"))  # text-embedding-3-small: $0.02 in
TEXT = "".join(WORDS)
USAGE = {"include_usage": True}


class City(BaseModel):
    city: str
    population: int


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def priced(captured: Any, name: str = "chat gpt-4o", cost: float = COST, *, stream: bool = False) -> dict[str, Any]:
    """The one span of the call: its name, its cost; and the metrics agree (one call, same dollars)."""
    span = only_span(captured)
    attrs = attributes(span)
    assert span.name == name
    assert attrs[names.GEN_AI_USAGE_COST] == cost
    assert attrs.get(names.GEN_AI_REQUEST_STREAM, False) is stream
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == 1
    assert abs(captured.total(names.METRIC_COST) - cost) < 1e-15
    return attrs


def unpriced_stream(captured: Any) -> dict[str, Any]:
    """A stream without include_usage: no tokens, no cost, and the span says why (never a zero)."""
    attrs = attributes(only_span(captured))
    assert attrs[names.LLMCOST_USAGE_AVAILABLE] is False
    assert attrs[names.LLMCOST_USAGE_UNAVAILABLE_REASON] == "stream_options.include_usage not set"
    assert names.GEN_AI_USAGE_COST not in attrs
    assert names.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert captured.total(names.METRIC_COST) == 0
    assert captured.total(names.METRIC_UNPRICED) == 0
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == 1
    return attrs


@pytest.fixture
def api() -> FakeOpenAI:
    return FakeOpenAI(tokens=TOKENS)


# --- chat.completions.create ----------------------------------------------------------------------
def test_chat_create(captured: Any, api: FakeOpenAI) -> None:
    completion = api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert type(completion) is ChatCompletion
    assert completion.choices[0].message.content == TEXT
    assert completion.usage is not None and completion.usage.prompt_tokens == 1_000
    priced(captured)


def test_chat_create_async(captured: Any, api: FakeOpenAI) -> None:
    completion = run(api.async_client().chat.completions.create(model="gpt-4o", messages=MESSAGES))
    assert type(completion) is ChatCompletion
    priced(captured)


def test_chat_create_stream_with_usage(captured: Any, api: FakeOpenAI) -> None:
    stream = api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE)
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 1_000  # the caller asked for it
    attrs = priced(captured, stream=True)
    assert attrs[names.GEN_AI_RESPONSE_ID] == "chatcmpl-stream123"
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_chat_create_stream_with_usage_async(captured: Any, api: FakeOpenAI) -> None:
    async def main() -> list[ChatCompletionChunk]:
        stream = await api.async_client().chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        assert isinstance(stream, openai.AsyncStream)
        return [chunk async for chunk in stream]

    chunks = run(main())
    assert chunks[-1].usage is not None
    priced(captured, stream=True)


def test_chat_create_stream_without_usage(captured: Any, api: FakeOpenAI) -> None:
    chunks = list(api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert len(chunks) == len(WORDS) + 1
    attrs = unpriced_stream(captured)
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_chat_create_stream_without_usage_async(captured: Any, api: FakeOpenAI) -> None:
    async def main() -> int:
        stream = await api.async_client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        return len([chunk async for chunk in stream])

    assert run(main()) == len(WORDS) + 1
    unpriced_stream(captured)


# --- chat.completions.parse and .stream() ---------------------------------------------------------
def test_chat_parse(captured: Any, api: FakeOpenAI) -> None:
    completion = chat_helpers(api.client()).parse(model="gpt-4o", messages=MESSAGES, response_format=City)
    assert isinstance(completion, ParsedChatCompletion)
    assert completion.choices[0].message.parsed == City(city="Paris", population=2_100_000)
    priced(captured)


def test_chat_parse_async(captured: Any, api: FakeOpenAI) -> None:
    completion = run(chat_helpers(api.async_client()).parse(model="gpt-4o", messages=MESSAGES, response_format=City))
    assert isinstance(completion, ParsedChatCompletion)
    assert completion.choices[0].message.parsed == City(city="Paris", population=2_100_000)
    priced(captured)


def test_chat_stream_helper(captured: Any, api: FakeOpenAI) -> None:
    client = api.client()
    with chat_helpers(client).stream(
        model="gpt-4o", messages=MESSAGES, response_format=City, stream_options=USAGE
    ) as stream:
        assert isinstance(stream, ChatCompletionStream)
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.delta" in kinds and "content.done" in kinds
    assert isinstance(final, ParsedChatCompletion)
    assert final.choices[0].message.parsed == City(city="Paris", population=2_100_000)
    assert final.usage is not None and final.usage.prompt_tokens == 1_000
    priced(captured, stream=True)


def test_chat_stream_helper_final_completion_only(captured: Any, api: FakeOpenAI) -> None:
    with chat_helpers(api.client()).stream(model="gpt-4o", messages=MESSAGES, stream_options=USAGE) as stream:
        final = stream.get_final_completion()
        assert stream.current_completion_snapshot.choices[0].message.content == TEXT
    assert final.choices[0].message.content == TEXT
    priced(captured, stream=True)


def test_chat_stream_helper_async(captured: Any, api: FakeOpenAI) -> None:
    async def main() -> ParsedChatCompletion[City]:
        client = api.async_client()
        async with chat_helpers(client).stream(
            model="gpt-4o", messages=MESSAGES, response_format=City, stream_options=USAGE
        ) as stream:
            assert isinstance(stream, AsyncChatCompletionStream)
            kinds = [event.type async for event in stream]
            assert "content.delta" in kinds
            return await stream.get_final_completion()

    final = run(main())
    assert final.choices[0].message.parsed == City(city="Paris", population=2_100_000)
    priced(captured, stream=True)


def test_chat_stream_helper_without_usage(captured: Any, api: FakeOpenAI) -> None:
    with chat_helpers(api.client()).stream(model="gpt-4o", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.usage is None
    unpriced_stream(captured)


# --- responses ------------------------------------------------------------------------------------
@needs_responses
def test_responses_create(captured: Any, api: FakeOpenAI) -> None:
    response = api.client().responses.create(model="gpt-4o", input="hi")
    assert type(response) is Response
    assert response.output_text == TEXT
    priced(captured)


@needs_responses
def test_responses_create_async(captured: Any, api: FakeOpenAI) -> None:
    response = run(api.async_client().responses.create(model="gpt-4o", input="hi"))
    assert type(response) is Response
    priced(captured)


@needs_responses
def test_responses_create_stream(captured: Any, api: FakeOpenAI) -> None:
    stream = api.client().responses.create(model="gpt-4o", input="hi", stream=True)
    assert isinstance(stream, openai.Stream)
    events = list(stream)
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == TEXT
    attrs = priced(captured, stream=True)
    assert attrs[names.GEN_AI_RESPONSE_ID] == "resp_test123"


@needs_responses
def test_responses_create_stream_async(captured: Any, api: FakeOpenAI) -> None:
    async def main() -> list[ResponseStreamEvent]:
        stream = await api.async_client().responses.create(model="gpt-4o", input="hi", stream=True)
        assert isinstance(stream, openai.AsyncStream)
        return [event async for event in stream]

    assert isinstance(run(main())[-1], ResponseCompletedEvent)
    priced(captured, stream=True)


@needs_responses
def test_responses_parse(captured: Any, api: FakeOpenAI) -> None:
    response = api.client().responses.parse(model="gpt-4o", input="hi", text_format=City)
    assert isinstance(response, ParsedResponse)
    assert response.output_parsed == City(city="Paris", population=2_100_000)
    priced(captured)


@needs_responses
def test_responses_parse_async(captured: Any, api: FakeOpenAI) -> None:
    response = run(api.async_client().responses.parse(model="gpt-4o", input="hi", text_format=City))
    assert isinstance(response, ParsedResponse)
    assert response.output_parsed == City(city="Paris", population=2_100_000)
    priced(captured)


@needs_responses
def test_responses_stream_helper(captured: Any, api: FakeOpenAI) -> None:
    with api.client().responses.stream(model="gpt-4o", input="hi", text_format=City) as stream:
        assert isinstance(stream, ResponseStream)
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[-1] == "response.completed"
    assert isinstance(final, ParsedResponse)
    assert final.output_parsed == City(city="Paris", population=2_100_000)
    assert final.usage is not None and final.usage.input_tokens == 1_000
    priced(captured, stream=True)


@needs_responses
def test_responses_stream_helper_async(captured: Any, api: FakeOpenAI) -> None:
    async def main() -> ParsedResponse[Any]:
        async with api.async_client().responses.stream(model="gpt-4o", input="hi") as stream:
            assert isinstance(stream, AsyncResponseStream)
            return await stream.get_final_response()

    final = run(main())
    assert final.output_text == TEXT
    priced(captured, stream=True)


# --- embeddings -----------------------------------------------------------------------------------
def test_embeddings(captured: Any, api: FakeOpenAI) -> None:
    result = api.client().embeddings.create(model="text-embedding-3-small", input=["a", "b", "c"])
    assert type(result) is CreateEmbeddingResponse
    assert len(result.data) == 3
    priced(captured, "embeddings text-embedding-3-small", EMBEDDING_COST)


def test_embeddings_async(captured: Any, api: FakeOpenAI) -> None:
    result = run(api.async_client().embeddings.create(model="text-embedding-3-small", input="a"))
    assert type(result) is CreateEmbeddingResponse
    priced(captured, "embeddings text-embedding-3-small", EMBEDDING_COST)


# --- with_raw_response ----------------------------------------------------------------------------
def test_raw_response_chat(captured: Any, api: FakeOpenAI) -> None:
    raw = api.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert isinstance(raw, LegacyAPIResponse)
    assert raw.headers["x-request-id"] == "req_chat"
    assert raw.status_code == 200
    completion = raw.parse()
    assert type(completion) is ChatCompletion
    assert raw.parse() is completion
    priced(captured)


def test_raw_response_chat_stream(captured: Any, api: FakeOpenAI) -> None:
    raw = api.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE
    )
    assert raw.headers["x-request-id"] == "req_stream"
    assert captured.client_spans() == []  # nothing read yet
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    assert len(list(stream)) == len(WORDS) + 2
    priced(captured, stream=True)


@needs_responses
def test_raw_response_responses_and_embeddings(captured: Any, api: FakeOpenAI) -> None:
    client = api.client()
    raw = client.responses.with_raw_response.create(model="gpt-4o", input="hi")
    assert raw.headers["x-request-id"] == "req_responses"
    assert type(raw.parse()) is Response
    raw_emb = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="a")
    assert raw_emb.headers["x-request-id"] == "req_emb"
    assert type(raw_emb.parse()) is CreateEmbeddingResponse
    responses, embeddings = (attributes(s) for s in captured.client_spans())
    assert responses[names.GEN_AI_USAGE_COST] == COST
    assert embeddings[names.GEN_AI_USAGE_COST] == EMBEDDING_COST


@needs_responses
def test_raw_response_async(captured: Any, api: FakeOpenAI) -> None:
    async def main() -> None:
        client = api.async_client()
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        assert raw.headers["x-request-id"] == "req_chat"
        assert type(raw.parse()) is ChatCompletion
        raw_responses = await client.responses.with_raw_response.create(model="gpt-4o", input="hi")
        assert type(raw_responses.parse()) is Response
        raw_emb = await client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="a")
        assert type(raw_emb.parse()) is CreateEmbeddingResponse

    run(main())
    costs = [attributes(s)[names.GEN_AI_USAGE_COST] for s in captured.client_spans()]
    assert costs == [COST, COST, EMBEDDING_COST]


# --- with_streaming_response ----------------------------------------------------------------------
def test_streaming_response_chat(captured: Any, api: FakeOpenAI) -> None:
    with api.client().chat.completions.with_streaming_response.create(model="gpt-4o", messages=MESSAGES) as response:
        assert isinstance(response, APIResponse)
        assert response.headers["x-request-id"] == "req_chat"
        completion = response.parse()
        assert type(completion) is ChatCompletion
    priced(captured)


def test_streaming_response_chat_stream(captured: Any, api: FakeOpenAI) -> None:
    client = api.client()
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE
    ) as response:
        chunks = list(response.parse())
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    priced(captured, stream=True)


@needs_responses
def test_streaming_response_responses_and_embeddings(captured: Any, api: FakeOpenAI) -> None:
    client = api.client()
    with client.responses.with_streaming_response.create(model="gpt-4o", input="hi", stream=True) as response:
        events = list(response.parse())
    assert isinstance(events[-1], ResponseCompletedEvent)
    with client.responses.with_streaming_response.create(model="gpt-4o", input="hi") as response:
        assert type(response.parse()) is Response
    with client.embeddings.with_streaming_response.create(model="text-embedding-3-small", input="a") as response:
        assert type(response.parse()) is CreateEmbeddingResponse
    costs = [attributes(s)[names.GEN_AI_USAGE_COST] for s in captured.client_spans()]
    assert costs == [COST, COST, EMBEDDING_COST]


def test_streaming_response_read_as_lines_never_parsed(captured: Any, api: FakeOpenAI) -> None:
    # The caller reads raw lines: usage never passes through the SDK's parser, so it is unknown.
    with api.client().chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    del response
    gc.collect()
    attrs = attributes(only_span(captured))
    assert attrs[names.LLMCOST_USAGE_AVAILABLE] is False
    assert names.GEN_AI_USAGE_COST not in attrs


@needs_responses
def test_streaming_response_async(captured: Any, api: FakeOpenAI) -> None:
    async def main() -> None:
        client = api.async_client()
        async with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=MESSAGES
        ) as response:
            assert isinstance(response, AsyncAPIResponse)
            assert response.headers["x-request-id"] == "req_chat"
            assert type(await response.parse()) is ChatCompletion
        async with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options=USAGE
        ) as response:
            stream = await response.parse()
            assert isinstance(stream, openai.AsyncStream)
            assert len([chunk async for chunk in stream]) == len(WORDS) + 2
        async with client.responses.with_streaming_response.create(model="gpt-4o", input="hi") as response:
            assert type(await response.parse()) is Response
        async with client.embeddings.with_streaming_response.create(
            model="text-embedding-3-small", input="a"
        ) as response:
            assert type(await response.parse()) is CreateEmbeddingResponse

    run(main())
    costs = [attributes(s)[names.GEN_AI_USAGE_COST] for s in captured.client_spans()]
    assert costs == [COST, COST, COST, EMBEDDING_COST]


# --- batches, sync and async ------------------------------------------------------------------------
def _batches() -> FakeOpenAI:
    from openai_payloads import batch

    tokens = Tokens(prompt=1_000, completion=1_000)
    return FakeOpenAI(batches={"batch_a": batch("batch_a", "gpt-4o", tokens),
                               "batch_b": batch("batch_b", "gpt-4o-mini", tokens),
                               "batch_c": batch("batch_c", "gpt-4o", tokens, status="in_progress")})


def _batch_spans(captured: Any) -> dict[str, float]:
    return {attributes(s)[names.LLMCOST_BATCH_ID]: attributes(s)[names.GEN_AI_USAGE_COST]
            for s in captured.client_spans()}


def test_async_batches_list_awaited_prices_each_completed_batch_once(captured: Any) -> None:
    client = _batches().async_client()

    async def listed() -> Any:
        paginator = client.batches.list()
        assert isinstance(paginator, AsyncPaginator)  # the SDK's own object, not a coroutine of ours
        return await paginator

    page = run(listed())
    assert [b.id for b in page.data] == ["batch_a", "batch_b", "batch_c"] and isinstance(page, AsyncCursorPage)
    # gpt-4o batch: $1.25 in, $5 out; gpt-4o-mini batch: $0.075 in, $0.30 out, per million.
    assert _batch_spans(captured) == {"batch_a": usd((1_000, "1.25"), (1_000, "5")),
                                      "batch_b": usd((1_000, "0.075"), (1_000, "0.30"))}
    run(listed())
    assert len(captured.client_spans()) == 2  # seen again: billed once


def test_async_batches_list_iterated_and_retrieved(captured: Any) -> None:
    client = _batches().async_client()

    async def walk() -> list[str]:
        ids = [b.id async for b in client.batches.list()]
        retrieved = await client.batches.retrieve("batch_a")
        assert retrieved.id == "batch_a"
        return ids

    assert run(walk()) == ["batch_a", "batch_b", "batch_c"]
    assert set(_batch_spans(captured)) == {"batch_a", "batch_b"}
    assert all(attributes(s)[names.LLMCOST_BATCH] is True for s in captured.client_spans())
