"""Odd replies, part two (issue 21): stream objects with exactly the SDK's surface, raw responses whose body cannot
be read, bare JSON values as stream events, and every way a caller may end a stream.

Same harness as test_hardening_odd_responses.py: each drawn reply is answered to the real client twice, the
instrumentation off (``uninstrument()``) and on; the two outcomes must be equal and the instrumented call must
leave exactly one ended CLIENT span, with no failure inside our code. The outcome of a stream includes its
surface: ``dir()`` and ``hasattr`` of the context-manager, close and generator methods, so a proxy that gains or
loses one differs from the SDK's object. Every provider (openai, anthropic, google-genai, ollama), sync and async,
and every stream-ending operation (read to the end, ``with`` / ``async with``, ``close`` / ``aclose`` after one
chunk, dropped after one chunk or unread). Derandomized, modest example counts.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import ollama
import pytest
from google import genai
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind

import odd_payloads as odd
from gemini_payloads import http_options
from otel_llmcost import names
from test_hardening_odd_responses import ANTHROPIC_KW, OPENAI_KW, Harness, Outcome, dump, failed, open_harness, run

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")


@pytest.fixture(name="harness")
def _harness() -> Iterator[Harness]:
    yield from open_harness()

# What a stream object may or may not have: the proxy must answer hasattr for each as the SDK's object does.
SURFACE = (
    "__enter__", "__exit__", "__aenter__", "__aexit__", "close", "aclose", "send", "throw", "asend", "athrow",
    "response", "__iter__", "__next__", "__aiter__", "__anext__",
)
SYNC_OPS = ("read", "with", "close", "drop", "unread")
ASYNC_OPS = ("read", "async-with", "close", "aclose", "drop", "unread")
BARE = (b'"str"', b"[]", b"3", b"null", b"true", b"{}", b'"data"')
"""Bare JSON values (and an empty object) as a ``data:`` line or an NDJSON line."""


def surface(stream: Any) -> Outcome:
    """The stream's class, ``dir()`` and which of SURFACE it has. ``__slotnames__`` aside: copyreg caches it on
    the SDK's class the first time any instance is copied, so it may appear between the bare and the
    instrumented run."""
    listed = tuple(sorted(name for name in dir(stream) if name != "__slotnames__"))
    return (stream.__class__, listed, tuple(n for n in SURFACE if hasattr(stream, n)))


def _first(stream: Any) -> list[Outcome]:
    for item in stream:
        return [dump(item)]
    return []


async def _afirst(stream: Any) -> list[Outcome]:
    async for item in stream:
        return [dump(item)]
    return []


def _sync_op(stream: Any, op: str) -> Any:
    if op == "read":
        return [dump(item) for item in stream]
    if op == "with":
        with stream as entered:
            return [entered is stream, *(dump(item) for item in entered)]
    if op == "close":
        items = _first(stream)
        return [*items, stream.close()]
    if op == "drop":
        return _first(stream)
    return None  # unread: dropped as it came


async def _async_op(stream: Any, op: str) -> Any:
    if op == "read":
        return [dump(item) async for item in stream]
    if op == "async-with":
        async with stream as entered:
            return [entered is stream, *[dump(item) async for item in entered]]
    if op in ("close", "aclose"):
        items = await _afirst(stream)
        closing = getattr(stream, op, None)  # a caller falling back from one to the other, as issue 21 tells
        if closing is None:
            closing = stream.aclose if op == "close" else stream.close
        return [*items, op, await closing()]
    if op == "drop":
        return await _afirst(stream)
    return None


def stream_outcome(open_stream: Callable[[], Any], op: str) -> Outcome:
    """Open the stream, end it the ``op`` way, drop it; what the caller saw (surface included)."""

    def go() -> Outcome:
        try:
            stream = open_stream()
            shape = surface(stream)
        except Exception as error:
            return ("open", failed(error))
        try:
            return ("stream", shape, _sync_op(stream, op))
        except Exception as error:
            return ("stream", shape, failed(error))

    result = go()
    gc.collect()  # a dropped stream ends its call now, before the spans are counted
    return result


def astream_outcome(harness: Harness, open_stream: Callable[[], Any], op: str) -> Outcome:
    async def go() -> Outcome:
        try:
            stream = await open_stream()
            shape = surface(stream)
        except Exception as error:
            return ("open", failed(error))
        try:
            return ("stream", shape, await _async_op(stream, op))
        except Exception as error:
            return ("stream", shape, failed(error))

    result = harness.loop.run_until_complete(go())
    gc.collect()
    harness.loop.run_until_complete(harness.loop.shutdown_asyncgens())  # an async generator dropped: finalized
    gc.collect()
    return result


# --- the other two SDKs on the same replies ----------------------------------------------------------------
def ollama_clients(harness: Harness) -> tuple[ollama.Client, ollama.AsyncClient]:
    handler = harness.handler(httpx)
    host = "http://127.0.0.1:11434"
    return (ollama.Client(host=host, transport=httpx.MockTransport(handler)),
            ollama.AsyncClient(host=host, transport=httpx.MockTransport(handler)))


def gemini_client(harness: Harness) -> genai.Client:
    from gemini_payloads import http

    return genai.Client(api_key="test-key", http_options=http_options(harness.handler(http)))


# --- replies -------------------------------------------------------------------------------------------------
def _bare_sse(values: list[bytes], named: bool = False) -> bytes:
    return b"".join((b"event: message_start\n" if named else b"") + b"data: " + v + b"\n\n" for v in values)


def with_bare_values(stream: st.SearchStrategy[odd.Reply], named: bool = False) -> st.SearchStrategy[odd.Reply]:
    """A drawn SSE reply with bare JSON values as events before, or after, its own."""
    bare = st.lists(st.sampled_from(BARE), min_size=1, max_size=3).map(lambda vs: _bare_sse(vs, named))
    return st.builds(
        lambda reply, extra, before: odd.Reply(extra + reply.body if before else reply.body + extra,
                                               reply.content_type),
        stream, bare, st.booleans(),
    )


OLLAMA_LINE = st.one_of(
    st.sampled_from(BARE),
    st.builds(lambda text: json.dumps({"model": "llama3.2", "created_at": "2026-01-01T00:00:00Z", "done": False,
                                       "message": {"role": "assistant", "content": text}}).encode(),
              st.sampled_from(("Hi", "", " there"))),
    st.builds(lambda prompt, out: json.dumps({"model": "llama3.2", "created_at": "2026-01-01T00:00:00Z",
                                              "done": True, "done_reason": "stop", "message": {"role": "assistant",
                                              "content": ""}, "prompt_eval_count": prompt,
                                              "eval_count": out}).encode(), odd.COUNT, odd.COUNT),
    st.just(b'{"error": "boom"}'),
    st.just(b"<html>502</html>"),
)


def ollama_stream() -> st.SearchStrategy[odd.Reply]:
    return st.lists(OLLAMA_LINE, max_size=4).map(lambda ls: odd.Reply(b"".join(line + b"\n" for line in ls),
                                                                      "application/x-ndjson"))


def _gemini_chunk(text: str, usage: Any) -> dict[str, Any]:
    chunk: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
                             "modelVersion": "gemini-2.5-flash"}
    if usage is not None:
        chunk["usageMetadata"] = {"promptTokenCount": usage, "candidatesTokenCount": 3}
    return chunk


def gemini_stream() -> st.SearchStrategy[odd.Reply]:
    event = st.one_of(
        st.sampled_from(BARE),
        st.builds(lambda t, u: json.dumps(_gemini_chunk(t, u)).encode(), st.sampled_from(("Hi", "")), odd.COUNT),
    )
    return st.lists(event, max_size=4).map(
        lambda es: odd.Reply(b"".join(b"data: " + e + b"\r\n\r\n" for e in es), "text/event-stream"))


RAW_BODIES = st.one_of(
    st.sampled_from((b"", b"   ", b"\n", b"<html><body><h1>502 Bad Gateway</h1></body></html>", b'{"id": "x", "ty',
                     b"\xff\xfe{}", b"\xff\xfe", b"null", b"[]", b'"str"', b"3")),
    st.binary(max_size=12),
).map(lambda body: odd.Reply(body, "application/json"))
"""Bodies served with status 200 and ``application/json`` that no SDK can parse (or parses into no message)."""


# --- raw responses: parse() fails, or is never called ------------------------------------------------------
def _span_error(harness: Harness) -> Any:
    spans = [s for s in harness.captured.exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    return dict(spans[-1].attributes or {}).get(names.ERROR_TYPE)


def raw_calls(harness: Harness) -> dict[str, Callable[[], Outcome]]:
    def parsed(open_raw: Callable[[], Any]) -> Outcome:
        try:
            raw = open_raw()
        except Exception as error:
            return failed(error)
        try:
            return ("parsed", *dump(raw.parse()))
        except Exception as error:
            return failed(error)

    def aparsed(open_raw: Callable[[], Any], awaited_parse: bool) -> Outcome:
        async def go() -> Outcome:
            try:
                raw = await open_raw()
            except Exception as error:
                return failed(error)
            try:
                result = raw.parse()
                return ("parsed", *dump(await result if awaited_parse else result))
            except Exception as error:
                return failed(error)

        return harness.loop.run_until_complete(go())

    def unparsed(open_raw: Callable[[], Any]) -> Outcome:
        raw = open_raw()
        status = raw.http_response.status_code
        del raw
        gc.collect()
        return ("dropped", status)

    # Fresh clients each time: the SDK binds with_raw_response's methods when first accessed.
    return {
        "openai": lambda: parsed(lambda: harness.openai()[0].chat.completions.with_raw_response.create(**OPENAI_KW)),
        "openai-async": lambda: aparsed(
            lambda: harness.openai()[1].chat.completions.with_raw_response.create(**OPENAI_KW), False),
        "openai-unparsed": lambda: unparsed(
            lambda: harness.openai()[0].chat.completions.with_raw_response.create(**OPENAI_KW)),
        "anthropic": lambda: parsed(lambda: harness.anthropic()[0].messages.with_raw_response.create(**ANTHROPIC_KW)),
        "anthropic-async": lambda: aparsed(
            lambda: harness.anthropic()[1].messages.with_raw_response.create(**ANTHROPIC_KW), True),
        "anthropic-unparsed": lambda: unparsed(
            lambda: harness.anthropic()[0].messages.with_raw_response.create(**ANTHROPIC_KW)),
    }


def test_raw_responses_whose_body_cannot_be_read(harness: Harness) -> None:
    calls = raw_calls(harness)

    def check(reply: odd.Reply, mode: str, sdk_tracing: bool) -> None:
        harness.both(reply, calls[mode], False, sdk_tracing and mode.startswith("anthropic"))

    ran = run(harness, 60, st.tuples(RAW_BODIES, st.sampled_from(sorted(calls)), st.booleans()), check)
    assert ran >= 60


@pytest.mark.parametrize("body", [b"   ", b"<html><body>502 Bad Gateway</body></html>", b'{"id": "msg_1", "ty',
                                  b"\xff\xfe{}"])
@pytest.mark.parametrize("sdk", ["openai", "anthropic", "anthropic-async"])
def test_a_raw_body_that_cannot_be_parsed_fails_its_span_once(harness: Harness, sdk: str, body: bytes) -> None:
    """Issue 21: the caller gets the SDK's error, and the call's span ends once, with that error's type."""
    calls = raw_calls(harness)
    reply = odd.Reply(body, "application/json")
    harness.both(reply, calls[sdk], False)
    outcome = calls[sdk]()  # once more, instrumented, to read what was raised
    assert outcome[0] == "raised"
    assert _span_error(harness) == outcome[1].__name__


# --- streams: surface, odd events, every way to end one ------------------------------------------------------
def openai_stream_calls(harness: Harness) -> dict[str, Callable[[str], Outcome]]:
    client, aclient = harness.openai()
    kw = {**OPENAI_KW, "stream": True}
    rkw = {"model": "gpt-4o", "input": "Say hello", "stream": True}
    return {
        "chat": lambda op: stream_outcome(lambda: client.chat.completions.create(**kw), op),
        "chat-async": lambda op: astream_outcome(harness, lambda: aclient.chat.completions.create(**kw), op),
        "responses": lambda op: stream_outcome(lambda: client.responses.create(**rkw), op),
        "responses-async": lambda op: astream_outcome(harness, lambda: aclient.responses.create(**rkw), op),
        "chat-raw-stream": lambda op: stream_outcome(
            lambda: harness.openai()[0].chat.completions.with_raw_response.create(**kw).parse(), op),
    }


def anthropic_stream_calls(harness: Harness) -> dict[str, Callable[[str], Outcome]]:
    client, aclient = harness.anthropic()
    kw = {**ANTHROPIC_KW, "stream": True}

    async def araw() -> Any:
        raw = await harness.anthropic()[1].messages.with_raw_response.create(**kw)
        return await raw.parse()

    return {
        "messages": lambda op: stream_outcome(lambda: client.messages.create(**kw), op),
        "messages-async": lambda op: astream_outcome(harness, lambda: aclient.messages.create(**kw), op),
        "messages-raw": lambda op: stream_outcome(
            lambda: harness.anthropic()[0].messages.with_raw_response.create(**kw).parse(), op),
        "messages-raw-async": lambda op: astream_outcome(harness, araw, op),
    }


def _ops(kind: str) -> tuple[str, ...]:
    return ASYNC_OPS if kind.endswith("async") else SYNC_OPS


def _stream_cases(calls: dict[str, Any], replies: st.SearchStrategy[odd.Reply]) -> st.SearchStrategy[Any]:
    kinds = st.sampled_from(sorted(calls))
    return st.tuples(replies, kinds.flatmap(lambda k: st.tuples(st.just(k), st.sampled_from(_ops(k)))),
                     st.booleans())


def test_openai_streams_every_ending_and_bare_events(harness: Harness) -> None:
    calls = openai_stream_calls(harness)
    replies = st.one_of(with_bare_values(odd.openai_chat_stream()), with_bare_values(odd.openai_responses_stream()))

    def check(reply: odd.Reply, kind_op: tuple[str, str], capture: bool) -> None:
        kind, op = kind_op
        harness.both(reply, lambda: calls[kind](op), capture)

    ran = run(harness, 40, _stream_cases(calls, replies), check)
    assert ran >= 40


def test_anthropic_streams_every_ending_and_bare_events(harness: Harness) -> None:
    calls = {tracing: anthropic_stream_calls(harness) for tracing in (False, True)}

    def check(reply: odd.Reply, kind_op: tuple[str, str], capture: bool, sdk_tracing: bool) -> None:
        kind, op = kind_op
        harness.both(reply, lambda: calls[sdk_tracing][kind](op), capture, sdk_tracing)

    replies = with_bare_values(odd.anthropic_stream(), named=True)
    ran = run(harness, 30, _anthropic_cases(calls[False], replies), check)
    assert ran >= 30


def _anthropic_cases(calls: dict[str, Any], replies: st.SearchStrategy[odd.Reply]) -> st.SearchStrategy[Any]:
    kinds = st.sampled_from(sorted(calls))
    return st.tuples(replies, kinds.flatmap(lambda k: st.tuples(st.just(k), st.sampled_from(_ops(k)))),
                     st.booleans(), st.booleans())


def test_ollama_streams_every_ending_and_bare_lines(harness: Harness) -> None:
    client, aclient = ollama_clients(harness)
    kw: dict[str, Any] = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    async def aopen() -> Any:
        return await aclient.chat(**kw)

    calls: dict[str, Callable[[str], Outcome]] = {
        "chat": lambda op: stream_outcome(lambda: client.chat(**kw), op),
        "generate": lambda op: stream_outcome(lambda: client.generate(model="llama3.2", prompt="hi", stream=True), op),
        "chat-async": lambda op: astream_outcome(harness, aopen, op),
    }

    def check(reply: odd.Reply, kind_op: tuple[str, str], capture: bool) -> None:
        kind, op = kind_op
        harness.both(reply, lambda: calls[kind](op), capture)

    ran = run(harness, 30, _stream_cases(calls, ollama_stream()), check)
    assert ran >= 30


def test_gemini_streams_every_ending_and_bare_events(harness: Harness) -> None:
    client = gemini_client(harness)
    kw: dict[str, Any] = {"model": "gemini-2.5-flash", "contents": "hi"}

    async def aopen() -> Any:
        return await client.aio.models.generate_content_stream(**kw)

    calls: dict[str, Callable[[str], Outcome]] = {
        "content": lambda op: stream_outcome(lambda: client.models.generate_content_stream(**kw), op),
        "content-async": lambda op: astream_outcome(harness, aopen, op),
    }

    def check(reply: odd.Reply, kind_op: tuple[str, str], capture: bool) -> None:
        kind, op = kind_op
        harness.both(reply, lambda: calls[kind](op), capture)

    # google-genai's streams are lazy generators: one never started sends nothing (no call, no span, with or
    # without us), so the operations here all start the stream; its surface is compared all the same.
    ops = {"content": ("read", "close", "drop"), "content-async": ("read", "close", "aclose", "drop")}
    cases = st.tuples(gemini_stream(), st.sampled_from(sorted(calls)).flatmap(
        lambda k: st.tuples(st.just(k), st.sampled_from(ops[k]))), st.booleans())
    ran = run(harness, 20, cases, check)
    assert ran >= 20



# --- issue 21's own cases, as plain regression tests -------------------------------------------------------
def _ollama_ndjson(request: Any) -> Any:
    lines = [{"model": "llama3.2", "created_at": "2026-01-01T00:00:00Z", "done": False,
              "message": {"role": "assistant", "content": "Hi"}},
             {"model": "llama3.2", "created_at": "2026-01-01T00:00:00Z", "done": True, "done_reason": "stop",
              "message": {"role": "assistant", "content": ""}, "prompt_eval_count": 3, "eval_count": 2}]
    return httpx.Response(200, content=b"".join(json.dumps(line).encode() + b"\n" for line in lines))


def test_ollama_streams_are_generators_to_the_caller(harness: Harness) -> None:
    """``with`` on Ollama's sync stream raises the generator's TypeError; the async stream has ``aclose`` and no
    ``close``, so a caller's ``getattr(stream, "close", None)`` falls back to ``aclose()``; one span each."""
    host = "http://127.0.0.1:11434"
    client = ollama.Client(host=host, transport=httpx.MockTransport(_ollama_ndjson))
    aclient = ollama.AsyncClient(host=host, transport=httpx.MockTransport(_ollama_ndjson))
    kw: dict[str, Any] = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    harness.captured.exporter.clear()

    stream = client.chat(**kw)
    assert not hasattr(stream, "__enter__") and not hasattr(stream, "__exit__") and hasattr(stream, "close")
    with pytest.raises(TypeError, match="'generator' object does not support the context manager protocol"), stream:
        pass
    assert [chunk.message.content for chunk in stream] == ["Hi", ""]

    async def main() -> None:
        astream = await aclient.chat(**kw)
        assert getattr(astream, "close", None) is None and not hasattr(astream, "__aenter__")
        assert hasattr(astream, "aclose") and hasattr(astream, "asend")
        await astream.__anext__()
        await astream.aclose()

    harness.loop.run_until_complete(main())
    spans = [s for s in harness.captured.exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(spans) == 2
    assert dict(spans[0].attributes or {})[names.GEN_AI_USAGE_INPUT_TOKENS] == 3  # read to the end: priced


@pytest.mark.parametrize("value", [b'"str"', b"[]", b"3"])
def test_openai_bare_json_stream_events_are_skipped_without_internal_error(harness: Harness, value: bytes) -> None:
    """A ``data:`` line holding a bare JSON value: handed over as the SDK gives it, skipped by the summary, usage
    marked unavailable, nothing counted as an internal failure."""
    harness.reply = odd.Reply(b"data: " + value + b"\n\ndata: [DONE]\n\n", "text/event-stream")
    client = harness.openai()[0]
    harness.captured.exporter.clear()
    errors = harness.errors.count
    chunks = list(client.chat.completions.create(**OPENAI_KW, stream=True))
    assert chunks == [json.loads(value)]
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    assert events == [json.loads(value)]
    spans = [s for s in harness.captured.exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(spans) == 2
    for span in spans:
        assert names.LLMCOST_USAGE_UNAVAILABLE_REASON in dict(span.attributes or {})
    assert harness.errors.count == errors
