"""Every priced unit a call reports, priced from genai-prices' data, for what no public recording shows.

Real SDK clients over an httpx ``MockTransport`` answering with the JSON body the API sends; the expected costs
are hand arithmetic (Decimal) from the price data's numbers, written next to each case, independent of our
pricing fast path. Plus a cross-check of the pricing plan against genai-prices' own ``calc_price``.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

import transport
from otel_llmcost import names
from otel_llmcost.pricing import PriceBook
from otel_llmcost.records import Usage

MILLION = Decimal(1_000_000)


def usd(*terms: tuple[int, str], searches: tuple[int, str] | None = None) -> float:
    """Tokens x $/Mtok (+ searches x $/1k), exactly, as the double nearest the Decimal."""
    total = sum((Decimal(n) * Decimal(p) for n, p in terms), Decimal(0)) / MILLION
    if searches is not None:
        total += Decimal(searches[0]) * Decimal(searches[1]) / 1000
    return float(total)


def _answer(http: Any, body: dict[str, Any]) -> Any:
    def handle(request: Any) -> Any:
        return http.Response(200, json=body)

    return handle


def openai_client(body: dict[str, Any]) -> Any:
    import openai

    http = transport.for_sdk("openai")
    return openai.OpenAI(
        api_key="k", max_retries=0, http_client=http.Client(transport=http.MockTransport(_answer(http, body)))
    )


def anthropic_client(body: dict[str, Any]) -> Any:
    import anthropic

    http = transport.for_sdk("anthropic")
    return anthropic.Anthropic(
        api_key="k", max_retries=0, http_client=http.Client(transport=http.MockTransport(_answer(http, body)))
    )


def span_attrs(captured: Any) -> dict[str, Any]:
    spans = captured.client_spans()
    assert len(spans) == 1
    return dict(spans[0].attributes or {})


def chat_body(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
        "usage": usage,
    }


def responses_body(model: str, usage: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        **extra,
    }


def test_openai_chat_audio_tokens_priced_at_the_audio_rates(captured: Any) -> None:
    # gpt-audio: $2.50 text in, $32 audio in, $10 text out, $64 audio out (per Mtok).
    usage = {
        "prompt_tokens": 1_000,
        "completion_tokens": 500,
        "total_tokens": 1_500,
        "prompt_tokens_details": {"audio_tokens": 600, "cached_tokens": 0},
        "completion_tokens_details": {"audio_tokens": 400, "reasoning_tokens": 0},
    }
    openai_client(chat_body("gpt-audio", usage)).chat.completions.create(
        model="gpt-audio", messages=[{"role": "user", "content": "hi"}]
    )
    attrs = span_attrs(captured)
    assert attrs[names.GEN_AI_USAGE_COST] == usd((400, "2.5"), (600, "32"), (100, "10"), (400, "64"))
    assert attrs[names.LLMCOST_COST_INPUT] == usd((400, "2.5"))
    assert attrs[names.LLMCOST_COST_UNIT_PREFIX + "input_audio"] == usd((600, "32"))
    assert attrs[names.LLMCOST_COST_UNIT_PREFIX + "output_audio"] == usd((400, "64"))
    assert attrs[names.LLMCOST_USAGE_UNIT_PREFIX + "input_audio_tokens"] == 600
    assert attrs[names.LLMCOST_USAGE_UNIT_PREFIX + "output_audio_tokens"] == 400
    # The component label names the unit; the tokens counter splits each type by modality, adding up to it.
    assert captured.total(names.METRIC_COST, llmcost__cost__component="input_audio") == usd((600, "32"))
    assert captured.total(names.METRIC_COST, llmcost__cost__component="output_audio") == usd((400, "64"))
    tokens = {"gen_ai__token__type": "input"}
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__modality="audio", **tokens) == 600
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__modality="unknown", **tokens) == 400
    assert captured.total(names.METRIC_TOKENS, **tokens) == 1_000


def test_openai_chat_without_modalities_counts_unknown_modality(captured: Any) -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    openai_client(chat_body("gpt-4o", usage)).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="output", gen_ai__token__modality="unknown") == 10
    assert span_attrs(captured)[names.GEN_AI_USAGE_COST] == usd((100, "2.5"), (10, "10"))


def test_openai_responses_30m_and_12h_cache_writes(captured: Any) -> None:
    # gpt-5.6-cyber: $12.50 in, $15.625 cache write, $1.25 cache read, $75 out. genai-prices has no 30m/12h
    # unit: both TTLs bill at the cache-write price, and are on the span by TTL.
    usage = {
        "input_tokens": 10_000,
        "input_tokens_details": {
            "cached_tokens": 1_000,
            "cache_write_tokens": 3_000,
            "cache_write_tokens_details": {"ttl_30m_tokens": 1_000, "ttl_12h_tokens": 2_000},
        },
        "output_tokens": 200,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 10_200,
    }
    openai_client(responses_body("gpt-5.6-cyber", usage)).responses.create(model="gpt-5.6-cyber", input="hi")
    attrs = span_attrs(captured)
    assert attrs[names.GEN_AI_USAGE_COST] == usd((6_000, "12.5"), (3_000, "15.625"), (1_000, "1.25"), (200, "75"))
    assert attrs[names.LLMCOST_COST_CACHE_WRITE] == usd((3_000, "15.625"))
    assert attrs[names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 3_000
    assert attrs[names.LLMCOST_USAGE_UNIT_PREFIX + "cache_write_30m_tokens"] == 1_000
    assert attrs[names.LLMCOST_USAGE_UNIT_PREFIX + "cache_write_12h_tokens"] == 2_000


def test_openai_responses_tool_usage_web_search_and_image_generation(captured: Any) -> None:
    # gpt-5: $1.25 in, $10 out, $10 per 1k web searches. The image_generation tool (gpt-image-1.5): $5 text in,
    # $32 image out per Mtok, billed on top of the call.
    usage = {
        "input_tokens": 1_000,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 100,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 1_100,
    }
    tool_usage = {
        "web_search": {"num_requests": 2},
        "image_gen": {
            "input_tokens": 50,
            "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
            "output_tokens": 1_056,
            "output_tokens_details": {"text_tokens": 0, "image_tokens": 1_056},
            "total_tokens": 1_106,
        },
    }
    tools = [{"type": "image_generation", "model": "gpt-image-1.5"}]
    body = responses_body("gpt-5", usage, tool_usage=tool_usage, tools=tools)
    openai_client(body).responses.create(model="gpt-5", input="draw")
    attrs = span_attrs(captured)
    expected = usd((1_000, "1.25"), (100, "10"), (50, "5"), (1_056, "32"), searches=(2, "10"))
    assert attrs[names.GEN_AI_USAGE_COST] == expected
    assert attrs[names.LLMCOST_COST_UNIT_PREFIX + "web_search"] == usd(searches=(2, "10"))
    assert attrs[names.LLMCOST_COST_UNIT_PREFIX + "output_image"] == usd((1_056, "32"))
    assert attrs[names.LLMCOST_USAGE_UNIT_PREFIX + "web_searches"] == 2
    assert captured.total(names.METRIC_COST, llmcost__cost__component="web_search") == usd(searches=(2, "10"))


def anthropic_body(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def _iteration(kind: str, input_tokens: int, output_tokens: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        **extra,
    }


def test_anthropic_compaction_and_advisor_iterations_priced_once_each_at_its_model(captured: Any) -> None:
    # claude-sonnet-5: $2 in, $10 out; its advisor claude-opus-4-8: $5 in, $25 out. The two message iterations
    # make up the top-level totals (1,000 = 400 + 600 in; 100 = 60 + 40 out); compaction and advisor entries are
    # left out of them, so each bills once more: compaction at the call's model, the advisor at its own.
    usage = {
        "input_tokens": 1_000,
        "output_tokens": 100,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "iterations": [
            _iteration("message", 400, 60),
            _iteration("compaction", 3_000, 400),
            _iteration("advisor_message", 2_000, 50, model="claude-opus-4-8"),
            _iteration("message", 600, 40),
        ],
    }
    client = anthropic_client(anthropic_body("claude-sonnet-5", usage))
    client.beta.messages.create(model="claude-sonnet-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    attrs = span_attrs(captured)
    top = ((1_000, "2"), (100, "10"))
    compaction = ((3_000, "2"), (400, "10"))
    advisor = ((2_000, "5"), (50, "25"))
    assert attrs[names.GEN_AI_USAGE_COST] == usd(*top, *compaction, *advisor)
    assert attrs[names.LLMCOST_COST_INPUT] == float(usd(*top[:1], *compaction[:1], *advisor[:1]))
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 1_000  # the API's top-level count, as reported


def test_anthropic_web_search_on_a_model_without_a_search_price_leaves_the_call_unpriced(
    captured: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # claude-3-haiku has token prices but no web_searches_kcount: the bill is not known, so no cost (not $0,
    # not the tokens alone), one warning naming the unit, and the unpriced counter.
    usage = {"input_tokens": 100, "output_tokens": 10, "server_tool_use": {"web_search_requests": 1}}
    client = anthropic_client(anthropic_body("claude-3-haiku-20240307", usage))
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            client.messages.create(
                model="claude-3-haiku-20240307", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    spans = captured.client_spans()
    assert len(spans) == 2
    attrs = dict(spans[0].attributes or {})
    assert names.GEN_AI_USAGE_COST not in attrs
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_UNKNOWN
    assert captured.total(names.METRIC_UNPRICED) == 2
    assert sum("web_searches" in r.getMessage() for r in caplog.records) == 1


# --- the plan against genai-prices' own calc_price ---------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "model", "units", "fixed"),
    [
        # Gemini image output, audio/video input, cached audio: every modality its own price where it has one.
        ("gcp.gemini", "gemini-2.5-flash-image", {"output_image_tokens": 1290, "output_text_tokens": 10}, {}),
        (
            "gcp.gemini",
            "gemini-2.5-flash",
            {"input_audio_tokens": 3_000, "input_text_tokens": 1_000, "cache_audio_read_tokens": 2_000},
            {"cache_read_tokens": 2_500},
        ),
        ("gcp.gemini", "gemini-2.5-pro", {"input_video_tokens": 5_000, "input_text_tokens": 200}, {}),
        (
            "openai",
            "gpt-image-1",
            {"input_image_tokens": 500, "cache_image_read_tokens": 100},
            {"cache_read_tokens": 300},
        ),
        ("openai", "gpt-4o-realtime-preview", {"input_audio_tokens": 700, "output_audio_tokens": 90}, {}),
        (
            "anthropic",
            "claude-sonnet-4-5",
            {"web_searches": 3},
            {"cache_write_tokens": 1_000, "cache_write_1h_tokens": 400},
        ),
    ],
)
def test_plan_matches_genai_prices_calc_price(
    provider: str, model: str, units: dict[str, int], fixed: dict[str, int]
) -> None:
    from genai_prices import Usage as PricesUsage
    from genai_prices import calc_price

    input_tokens = 6_000
    output_tokens = 1_500
    ours = Usage(input_tokens=input_tokens, output_tokens=output_tokens, **fixed)
    ours.units = units
    cost = PriceBook().cost(provider, model, ours)
    assert cost is not None
    prices_provider = {"gcp.gemini": "google"}.get(provider, provider)
    expected = calc_price(
        PricesUsage(input_tokens=input_tokens, output_tokens=output_tokens, **fixed, **units),
        model_ref=model,
        provider_id=prices_provider,
    ).total_price
    assert cost.exact == expected
    assert cost.total == float(expected)
    parts = cost.input + cost.output + cost.cache_read + cost.cache_write + sum(v for _, v in cost.components)
    assert parts == pytest.approx(cost.total, rel=1e-12)


def test_a_unit_outside_the_registry_bills_inside_its_fixed_field() -> None:
    """cache_write_30m_tokens is not (yet) a genai-prices unit: the tokens bill as cache writes, not unpriced."""
    usage = Usage(input_tokens=1_000, output_tokens=0, cache_write_tokens=1_000)
    plain = PriceBook().cost("openai", "gpt-5.6-cyber", usage)
    usage.units = {"cache_write_30m_tokens": 1_000}
    with_ttl = PriceBook().cost("openai", "gpt-5.6-cyber", usage)
    assert plain is not None and with_ttl is not None
    assert with_ttl.exact == plain.exact == Decimal(1_000) * Decimal("15.625") / MILLION


def test_a_price_file_prices_other_units_by_genai_prices_keys() -> None:
    from otel_llmcost.errors import ConfigError
    from otel_llmcost.pricing import PriceOverrides

    overrides = PriceOverrides.from_data(
        {"models": [{"model": "my-model", "input": 1, "output": 2, "units": {"web_searches_kcount": 12}}]}
    )
    usage = Usage(input_tokens=1_000, output_tokens=100)
    usage.units = {"web_searches": 3}
    cost = PriceBook(overrides).cost("anthropic", "my-model", usage)
    assert cost is not None
    assert cost.exact == (Decimal(1_000) * 1 + Decimal(100) * 2) / MILLION + Decimal(3) * 12 / 1000
    assert dict(cost.components) == {"web_search": float(Decimal(3) * 12 / 1000)}
    # Without a search price, a reported search leaves the call unpriced (no cost, not the tokens alone).
    bare = PriceOverrides.from_data({"models": [{"model": "my-model", "input": 1, "output": 2}]})
    assert PriceBook(bare).cost("anthropic", "my-model", usage) is None
    with pytest.raises(ConfigError, match="web_search_kcount"):
        PriceOverrides.from_data(
            {"models": [{"model": "m", "input": 1, "output": 2, "units": {"web_search_kcount": 1}}]}
        )
