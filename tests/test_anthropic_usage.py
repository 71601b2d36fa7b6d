"""Anthropic usage normalization and model-id normalization: the pure functions, checked by hand and by property."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_payloads import Tokens, message, stream_frames
from otel_llmcost.pricing.model_ids import bedrock_model_id, normalize_model_id, price_model
from otel_llmcost.providers.anthropic import MessageStreamSummary, message_attributes, message_usage
from otel_llmcost.records import Usage


def events(tokens: Tokens, delta_with_input: bool = False) -> list[dict[str, Any]]:
    """The decoded SSE events of a streamed Message (what the SDK parses the frames into)."""
    import json

    out = []
    for frame in stream_frames("claude-sonnet-4-5", tokens, delta_with_input):
        data = frame.decode().split("data: ", 1)[1]
        out.append(json.loads(data))
    return out


def test_input_excludes_cache_so_normalized_input_is_the_sum() -> None:
    usage = message_usage(Tokens(input=1000, output=500, cache_read=2000, cache_5m=400, cache_1h=600).usage())
    assert usage == Usage(
        input_tokens=4000,
        output_tokens=500,
        cache_read_tokens=2000,
        cache_write_tokens=1000,
        cache_write_5m_tokens=400,
        cache_write_1h_tokens=600,
        service_tier="standard",
    )
    assert usage is not None and usage.uncached_input_tokens == 1000


def test_cache_writes_without_the_split_are_all_5_minute() -> None:
    usage = message_usage(Tokens(input=10, cache_5m=300, cache_1h=200, split=False).usage())
    assert usage is not None
    assert (usage.cache_write_tokens, usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (500, 500, 0)
    assert usage.input_tokens == 510


def test_split_larger_than_total_wins() -> None:
    raw = {
        "input_tokens": 5,
        "output_tokens": 1,
        "cache_creation_input_tokens": 10,
        "cache_creation": {"ephemeral_5m_input_tokens": 8, "ephemeral_1h_input_tokens": 7},
    }
    usage = message_usage(raw)
    assert usage is not None and (usage.cache_write_tokens, usage.input_tokens) == (15, 20)


def test_thinking_tier_speed_and_batch() -> None:
    usage = message_usage(Tokens(input=1, output=900, thinking=700, service_tier="priority", speed="fast").usage())
    assert usage is not None
    assert (usage.output_tokens, usage.reasoning_tokens) == (900, 700)
    assert (usage.service_tier, usage.speed, usage.batch) == ("priority", "fast", False)
    batch = message_usage(Tokens(service_tier="batch").usage())
    assert batch is not None and batch.batch
    assert message_usage(Tokens().usage(), batch=True).batch  # type: ignore[union-attr]


def test_odd_values_never_raise() -> None:
    assert message_usage(None) is None
    usage = message_usage({"input_tokens": "x", "output_tokens": None, "cache_creation": 3, "speed": 1})
    assert usage == Usage()
    assert message_attributes({"server_tool_use": {"web_search_requests": 3}}, None) == {
        "llmcost.usage.web_search_requests": 3
    }
    assert message_attributes({"server_tool_use": None, "cache_creation": 3, "service_tier": 1}, 7) == {}
    assert message_attributes({"cache_creation": {"ephemeral_1h_input_tokens": 0}, "service_tier": "batch"}, "x") == {
        "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 0,
        "anthropic.response.service_tier": "batch",
        "anthropic.message.stop_reason": "x",
    }


def test_message_delta_output_is_a_running_total_assigned_not_added() -> None:
    summary = MessageStreamSummary()
    for event in events(Tokens(input=100, output=250)):
        summary.add(event)
    _, usage, _ = summary.result(True)
    assert usage is not None and usage.output_tokens == 250  # not 1 (message_start) + 250


def test_two_message_deltas_keep_the_last_total_and_earlier_fields() -> None:
    summary = MessageStreamSummary()
    summary.add({"type": "message_start", "message": message("claude-sonnet-4-5", Tokens(input=7, output=1))})
    summary.add({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 5, "cache_read_input_tokens": 9}})
    summary.add({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}})
    response, usage, _ = summary.result(True)
    assert usage is not None and (usage.output_tokens, usage.cache_read_tokens, usage.input_tokens) == (12, 9, 16)
    assert response is not None and response.finish_reasons == ["stop"]


def test_stream_cut_before_message_start_has_no_usage() -> None:
    summary = MessageStreamSummary()
    assert summary.result(False) == (None, None, "stream ended before message_start")


token_counts = st.integers(min_value=0, max_value=300_000)


@settings(max_examples=200, deadline=None)
@given(
    uncached=token_counts,
    output=token_counts,
    read=token_counts,
    w5=token_counts,
    w1=token_counts,
    thinking=st.one_of(st.none(), token_counts),
    split=st.booleans(),
    delta_with_input=st.booleans(),
)
def test_streamed_and_plain_usage_are_identical(
    uncached: int, output: int, read: int, w5: int, w1: int, thinking: int | None, split: bool, delta_with_input: bool
) -> None:
    tokens = Tokens(
        input=uncached, output=output, cache_read=read, cache_5m=w5, cache_1h=w1, thinking=thinking, split=split
    )
    plain = message_usage(message("claude-sonnet-4-5", tokens)["usage"])
    summary = MessageStreamSummary()
    for event in events(tokens, delta_with_input):
        summary.add(event)
    _, streamed, _ = summary.result(True)
    assert streamed == plain
    assert plain is not None and plain.input_tokens == uncached + read + w5 + w1


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
        ),
    ],
)
def test_bedrock_ids(model: str, expected: str) -> None:
    assert bedrock_model_id(model) == expected
    assert normalize_model_id(model) == expected


def test_vertex_at_version() -> None:
    assert normalize_model_id("claude-sonnet-4-5@20250929") == "claude-sonnet-4-5-20250929"
    assert normalize_model_id("claude-3-5-sonnet-v2@20241022") == "claude-3-5-sonnet-v2-20241022"
    assert normalize_model_id("gpt-4o") == "gpt-4o"


def test_price_model_prefers_the_bedrock_request_id() -> None:
    profile = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert price_model("aws.bedrock", profile, "claude-sonnet-4-5-20250929") == profile
    opaque = "arn:aws:bedrock:us-east-1:1:application-inference-profile/x"
    assert price_model("aws.bedrock", opaque, "claude-sonnet-4-5-20250929") == "claude-sonnet-4-5-20250929"
    assert price_model("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929") == "claude-sonnet-4-5-20250929"
    assert price_model("gcp.vertex_ai", "claude-sonnet-4-5@20250929", None) == "claude-sonnet-4-5-20250929"
    assert price_model("openai", None, None) is None
