"""Hypothesis strategies: OpenAI and Anthropic HTTP replies that the SDKs accept but that stress an instrumentation.

Usage missing or ``null``, zero, negative, huge and mistyped counts, cache counts larger than the input, unknown
service tiers and models, extra fields, empty or missing choices and content, streams that end without usage or
without a stop event, error events, and SSE bodies cut at any byte. Each strategy draws an ``Reply``: the bytes and
content type the fake API answers with (framed by otel_llmcost.fakes.wire). Nothing else of otel_llmcost is
imported here: these are a provider's bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from otel_llmcost.fakes.wire import sse

JSON = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    body: bytes
    content_type: str

    def __repr__(self) -> str:  # hypothesis prints the falsifying example: show the bytes
        return f"Reply({self.content_type!r}, {self.body[:2000]!r})"


# --- odd values -------------------------------------------------------------------------------------
HUGE = (2**31, 2**53 + 1, 10**15, 2**63 - 1)
COUNT = st.one_of(
    st.integers(0, 5_000),
    st.sampled_from((0, 1, *HUGE)),
    st.integers(-3, -1),
    st.none(),
    st.sampled_from((1.5, True, "12", [], {})),
)
OPENAI_MODEL = st.sampled_from(("gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "o3", "acme-unknown-1", "", None, 42))
ANTHROPIC_MODEL = st.sampled_from(
    ("claude-sonnet-4-5", "claude-3-5-haiku-20241022", "claude-opus-4-1", "acme-unknown-1", "", None, 7)
)
TIER = st.sampled_from(("default", "flex", "priority", "scale", "auto", "batch", "standard", "ultra-new", "", None, 3))
TEXT = st.one_of(st.sampled_from(("Hello", "", " there")), st.text(max_size=8), st.none())
MISTYPED = st.sampled_from((5, "x", {"0": 1}, True))
"""A list or object field holding something else: the SDKs construct models without validating."""
REASON = st.sampled_from(("stop", "length", "tool_calls", "end_turn", "max_tokens", "brand_new_reason", "", None, 1))
EXTRA = st.dictionaries(
    st.sampled_from(("x_extra", "output_text", "model_extra", "usage_v2", "_private", "service_tier_detail")),
    st.one_of(st.none(), st.integers(-1, 10), st.text(max_size=4), st.just({"nested": [1, None]})),
    max_size=2,
)


def _with(base: JSON, optional: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[JSON]:
    """``base`` plus any subset of the optional keys (absent, or present with an odd value), plus extra fields."""
    return st.builds(lambda picked, extra: {**base, **picked, **extra}, st.fixed_dictionaries({}, optional=optional),
                     EXTRA)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _maybe_cut(frames: bytes) -> st.SearchStrategy[bytes]:
    """The SSE body as sent, or cut at any byte (a connection dropped mid-stream)."""
    return st.one_of(st.just(frames), st.integers(0, max(0, len(frames) - 1)).map(lambda n: frames[:n]))


# --- OpenAI -----------------------------------------------------------------------------------------
def _openai_chat_usage() -> st.SearchStrategy[Any]:
    details = st.one_of(
        st.none(),
        _with({}, {"cached_tokens": COUNT, "cache_write_tokens": COUNT, "audio_tokens": COUNT}),
    )
    usage = _with(
        {},
        {
            "prompt_tokens": COUNT,
            "completion_tokens": COUNT,
            "total_tokens": COUNT,
            "prompt_tokens_details": details,
            "completion_tokens_details": st.one_of(st.none(), _with({}, {"reasoning_tokens": COUNT})),
        },
    )
    # Cache reads larger than the whole prompt, as a buggy gateway may report.
    cache_gt_input = st.builds(
        lambda prompt, extra: {"prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5,
                               "prompt_tokens_details": {"cached_tokens": prompt + extra}},
        st.integers(0, 1_000), st.integers(1, 10**6),
    )
    return st.one_of(st.none(), usage, cache_gt_input, st.sampled_from(([], "n/a", 12)))


def _choice() -> st.SearchStrategy[JSON]:
    message = _with({"role": "assistant"}, {"content": TEXT, "refusal": st.none(), "tool_calls": st.just([])})
    return _with({"index": 0}, {"message": st.one_of(message, st.none()), "finish_reason": REASON,
                                "logprobs": st.none()})


def openai_chat() -> st.SearchStrategy[Reply]:
    body = _with(
        {"object": "chat.completion", "created": 1},
        {
            "id": st.one_of(st.just("chatcmpl-odd"), st.none(), st.integers()),
            "model": OPENAI_MODEL,
            "choices": st.one_of(st.lists(_choice(), max_size=2), st.none(), MISTYPED),
            "usage": _openai_chat_usage(),
            "service_tier": TIER,
            "system_fingerprint": st.none(),
        },
    )
    return body.map(lambda b: Reply(_json(b), "application/json"))


def _sse(events: list[Any], names: bool = False) -> bytes:
    """The events framed as the fakes frame them (otel_llmcost.fakes.wire.sse), ``event:`` lines when ``names``."""
    return b"".join(sse(e, str(e.get("type")) if names and isinstance(e, dict) else None) for e in events)


def openai_chat_stream() -> st.SearchStrategy[Reply]:
    common = _with({"object": "chat.completion.chunk", "created": 1},
                   {"id": st.just("chatcmpl-s"), "model": OPENAI_MODEL, "service_tier": TIER})
    delta = _with({}, {"content": TEXT, "role": st.just("assistant")})
    choice = _with({"index": 0}, {"delta": st.one_of(delta, st.none(), MISTYPED), "finish_reason": REASON})
    choices = st.one_of(st.lists(st.one_of(choice, MISTYPED), max_size=2), MISTYPED)
    content_chunk = st.builds(lambda c, cs: {**c, "choices": cs}, common, choices)
    usage_chunk = st.builds(lambda c, u: {**c, "choices": [], "usage": u}, common, _openai_chat_usage())
    odd_chunk = st.one_of(
        st.just({"error": {"message": "overloaded", "type": "server_error"}}),  # an error event mid-stream
        common,  # no choices at all
        st.builds(lambda c: {**c, "choices": None, "usage": None}, common),
    )
    chunks = st.lists(st.one_of(content_chunk, content_chunk, usage_chunk, odd_chunk), max_size=6)
    frames = st.builds(lambda cs, done: _sse(cs) + (b"data: [DONE]\n\n" if done else b""), chunks, st.booleans())
    return frames.flatmap(_maybe_cut).map(lambda b: Reply(b, "text/event-stream"))


def _openai_responses_usage() -> st.SearchStrategy[Any]:
    usage = _with(
        {},
        {
            "input_tokens": COUNT,
            "output_tokens": COUNT,
            "total_tokens": COUNT,
            "input_tokens_details": st.one_of(st.none(), MISTYPED, _with({}, {"cached_tokens": COUNT,
                                                                     "cache_write_tokens": COUNT})),
            "output_tokens_details": st.one_of(st.none(), _with({}, {"reasoning_tokens": COUNT})),
        },
    )
    return st.one_of(st.none(), usage)


def _response_object(status: st.SearchStrategy[Any]) -> st.SearchStrategy[JSON]:
    item = _with({"type": "message", "role": "assistant", "id": "msg_1"},
                 {"status": st.just("completed"),
                  "content": st.one_of(st.lists(_with({"type": "output_text", "annotations": []}, {"text": TEXT}),
                                                max_size=2), st.none(), MISTYPED)})
    return _with(
        {"object": "response", "created_at": 1},
        {
            "id": st.one_of(st.just("resp_odd"), st.none()),
            "model": OPENAI_MODEL,
            "status": status,
            "output": st.one_of(st.lists(st.one_of(item, MISTYPED), max_size=2), st.none(), MISTYPED),
            "usage": _openai_responses_usage(),
            "service_tier": TIER,
        },
    )


STATUS = st.sampled_from(("completed", "incomplete", "failed", "in_progress", "queued", "novel", None))


def openai_responses() -> st.SearchStrategy[Reply]:
    return _response_object(STATUS).map(lambda b: Reply(_json(b), "application/json"))


def openai_responses_stream() -> st.SearchStrategy[Reply]:
    kinds = ("response.created", "response.in_progress", "response.completed", "response.incomplete",
             "response.failed")
    with_response = st.builds(lambda kind, r: {"type": kind, "response": r}, st.sampled_from(kinds),
                              _response_object(STATUS))
    delta = st.builds(lambda d: {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                                 "content_index": 0, "delta": d}, TEXT)
    odd = st.one_of(
        st.just({"type": "response.completed"}),  # no response object at all
        st.just({"type": "response.completed", "response": None}),
        st.just({"type": "error", "code": "server_error", "message": "boom", "param": None}),
        st.just({"type": "brand.new.event", "data": 1}),
    )
    events = st.lists(st.one_of(with_response, delta, odd), max_size=6).map(
        lambda es: [{**e, "sequence_number": i} for i, e in enumerate(es)]
    )
    return events.map(lambda es: _sse(es, names=True)).flatmap(_maybe_cut).map(lambda b: Reply(b, "text/event-stream"))


# --- Anthropic --------------------------------------------------------------------------------------
def _anthropic_usage() -> st.SearchStrategy[Any]:
    usage = _with(
        {},
        {
            "input_tokens": COUNT,
            "output_tokens": COUNT,
            "cache_read_input_tokens": COUNT,
            "cache_creation_input_tokens": COUNT,
            "cache_creation": st.one_of(st.none(), MISTYPED, _with({}, {"ephemeral_5m_input_tokens": COUNT,
                                                                 "ephemeral_1h_input_tokens": COUNT})),
            "output_tokens_details": st.one_of(st.none(), _with({}, {"thinking_tokens": COUNT})),
            "server_tool_use": st.one_of(st.none(), _with({}, {"web_search_requests": COUNT,
                                                                  "web_fetch_requests": COUNT})),
            "service_tier": TIER,
            "speed": st.sampled_from(("fast", "standard", "warp", None, 1)),
        },
    )
    return st.one_of(st.none(), usage, st.sampled_from(([], "n/a")))


def _content_block() -> st.SearchStrategy[JSON]:
    return st.one_of(
        _with({"type": "text"}, {"text": TEXT}),
        st.just({"type": "thinking", "thinking": "hmm", "signature": "sig"}),
        st.just({"type": "brand_new_block", "payload": [1, 2]}),
    )


def _anthropic_message() -> st.SearchStrategy[JSON]:
    return _with(
        {"type": "message", "role": "assistant"},
        {
            "id": st.one_of(st.just("msg_odd"), st.none()),
            "model": ANTHROPIC_MODEL,
            "content": st.one_of(st.lists(st.one_of(_content_block(), MISTYPED), max_size=2), st.none(), MISTYPED),
            "stop_reason": REASON,
            "stop_sequence": st.none(),
            "usage": _anthropic_usage(),
        },
    )


def anthropic_message() -> st.SearchStrategy[Reply]:
    return _anthropic_message().map(lambda b: Reply(_json(b), "application/json"))


def anthropic_stream() -> st.SearchStrategy[Reply]:
    start = st.builds(lambda m: {"type": "message_start", "message": m}, _anthropic_message())
    block_start = st.builds(lambda b: {"type": "content_block_start", "index": 0, "content_block": b},
                            _content_block())
    text_delta = st.builds(lambda t, d: {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": t} if d else t}, TEXT, st.booleans())
    message_delta = st.builds(
        lambda reason, usage: {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                               "usage": usage},
        REASON, _anthropic_usage(),
    )
    simple = st.sampled_from((
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
        {"type": "ping"},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {"type": "brand_new_event", "x": 1},
    ))
    # Mostly well ordered (start first), sometimes anything in any order.
    ordered = st.builds(
        lambda s, middle, end: [s, *middle, *end],
        start,
        st.lists(st.one_of(block_start, text_delta, simple), max_size=3),
        st.lists(st.one_of(message_delta, st.just({"type": "message_stop"})), max_size=2),
    )
    anything = st.lists(st.one_of(start, block_start, text_delta, message_delta, simple), max_size=5)
    events = st.one_of(ordered, ordered, anything)
    return events.map(lambda es: _sse(es, names=True)).flatmap(_maybe_cut).map(lambda b: Reply(b, "text/event-stream"))
