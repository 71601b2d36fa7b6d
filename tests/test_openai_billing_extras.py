"""Issue 16, what the OpenAI adapter lost or never wrapped: usage streamed beside the last choice (DeepSeek,
OpenRouter) or unasked (Groq's ``x_groq.usage``), and ``responses.compact`` (sync, async, raw, beta), through the
real SDK over the scripted fake; costs by hand from the price pages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes, only_span, usd
from otel_llmcost import names

TOKENS = Tokens(prompt=1_000, cached=200, completion=50)


def _stream(fake: FakeOpenAI, base_url: str, model: str) -> None:
    stream = fake.client(base_url).chat.completions.create(model=model, messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert chunks  # every chunk reaches the caller, the one with the usage included


@pytest.mark.parametrize(
    ("base_url", "model", "cost"),
    [
        # DeepSeek deepseek-chat: $0.27 input, $0.07 cache hit, $1.10 output per Mtok.
        ("https://api.deepseek.com/v1", "deepseek-chat", usd((800, "0.27"), (200, "0.07"), (50, "1.1"))),
        # OpenRouter openai/gpt-4o: $2.50, cached $1.25, $10.
        ("https://openrouter.ai/api/v1", "openai/gpt-4o", usd((800, "2.50"), (200, "1.25"), (50, "10"))),
    ],
)
def test_usage_on_the_last_choice_chunk_unasked(captured: Any, base_url: str, model: str, cost: float) -> None:
    _stream(FakeOpenAI(tokens=TOKENS, stream_usage="last_choice"), base_url, model)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 1_000
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 50
    assert attrs[names.GEN_AI_USAGE_COST] == cost
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_groq_x_groq_usage(captured: Any) -> None:
    tokens = Tokens(prompt=2_000, completion=300)
    _stream(FakeOpenAI(tokens=tokens, stream_usage="x_groq"), "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile")
    attrs = attributes(only_span(captured))
    # Groq llama-3.3-70b-versatile: $0.59 input, $0.79 output per Mtok.
    assert attrs[names.GEN_AI_USAGE_COST] == usd((2_000, "0.59"), (300, "0.79"))
    assert names.LLMCOST_USAGE_AVAILABLE not in attrs


def test_usage_asked_and_on_last_choice(captured: Any) -> None:
    """Asked with include_usage and sent on the last choice (OpenRouter): counted once."""
    fake = FakeOpenAI(tokens=TOKENS, stream_usage="last_choice")
    client = fake.client("https://openrouter.ai/api/v1")
    stream = client.chat.completions.create(
        model="openai/gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    list(stream)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_COST] == usd((800, "2.50"), (200, "1.25"), (50, "10"))
    assert captured.total(names.METRIC_COST) == pytest.approx(usd((800, "2.50"), (200, "1.25"), (50, "10")))


# --- responses.compact ------------------------------------------------------------------------------
COMPACT_COST = usd((800, "2.50"), (200, "1.25"), (50, "10"))  # gpt-4o


def _compacted(captured: Any) -> dict[str, Any]:
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_COST] == COMPACT_COST
    assert attrs[names.GEN_AI_RESPONSE_ID] == "cmp_test1"
    return attrs


def test_compact_sync(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    result = fake.client().responses.compact(model="gpt-4o", input="a long conversation")
    assert type(result).__name__ == "CompactedResponse"
    assert result.usage.input_tokens == 1_000
    assert fake.requests[-1].url.path.endswith("/responses/compact")
    _compacted(captured)


def test_compact_async(captured: Any) -> None:
    async def main() -> Any:
        return await FakeOpenAI(tokens=TOKENS).async_client().responses.compact(model="gpt-4o", input="x")

    assert asyncio.run(main()).id == "cmp_test1"
    _compacted(captured)


def test_compact_raw(captured: Any) -> None:
    raw = FakeOpenAI(tokens=TOKENS).client().responses.with_raw_response.compact(model="gpt-4o", input="x")
    assert raw.http_response.status_code == 200
    assert raw.parse().id == "cmp_test1"
    _compacted(captured)


def test_beta_responses(captured: Any) -> None:
    client = FakeOpenAI(tokens=TOKENS).client()
    beta = getattr(client.beta, "responses", None)
    if beta is None or not hasattr(beta, "compact"):
        pytest.skip("this openai release has no beta.responses")
    assert beta.compact(model="gpt-4o", input="x").id == "cmp_test1"
    _compacted(captured)
    created = beta.create(model="gpt-4o", input="hi")
    assert created.usage.output_tokens == 50
    spans = captured.client_spans()
    assert len(spans) == 2
    assert attributes(spans[-1])[names.GEN_AI_USAGE_COST] == COMPACT_COST
