"""Gemini costs, hand-computed from Google's published per-million prices, through the real google-genai clients.

Prices (USD per million tokens, standard tier):
  gemini-2.5-pro    prompt <= 200k: input 1.25, cache read 0.125, output (thinking included) 10
                    prompt  > 200k: input 2.50, cache read 0.25,  output 15  (every token of the call)
  gemini-2.5-flash  input 0.30 (text), cache read 0.03, output 2.50
Batch (gemini-2.5-pro, <= 200k): input 0.625, output 5.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from gemini_payloads import FakeGemini, Tokens, client
from otel_llmcost import names
from otel_llmcost.pricing import PriceBook
from otel_llmcost.records import Usage

M = Decimal(1_000_000)


def usd(tokens: int, per_million: str) -> Decimal:
    return tokens * Decimal(per_million) / M


def only_span(captured: Any) -> Any:
    spans = captured.client_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def generate(kind: str, fake: FakeGemini, model: str) -> Any:
    return client(kind, fake).models.generate_content(model=model, contents="Say hello.")


@pytest.mark.parametrize("kind", ["gemini", "vertex"])
def test_pro_under_200k_with_cached_content_and_thinking(captured: Any, kind: str) -> None:
    fake = FakeGemini(Tokens(prompt=150_000, cached=100_000, candidates=2_000, thoughts=3_000), "gemini-2.5-pro")
    result = generate(kind, fake, "gemini-2.5-pro")
    assert result.usage_metadata.thoughts_token_count == 3_000  # the SDK's object, untouched

    # 50,000 uncached input at 1.25, 100,000 cached at 0.125, 2,000 + 3,000 output (thinking) at 10.
    c_input = usd(50_000, "1.25")  # 0.0625
    c_cache = usd(100_000, "0.125")  # 0.0125
    c_output = usd(5_000, "10")  # 0.05
    assert (c_input, c_cache, c_output) == (Decimal("0.0625"), Decimal("0.0125"), Decimal("0.05"))
    span = only_span(captured)
    attrs = span.attributes
    assert attrs[names.GEN_AI_PROVIDER_NAME] == ("gcp.vertex_ai" if kind == "vertex" else "gcp.gemini")
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 150_000
    assert attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100_000
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5_000
    assert attrs[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 3_000
    assert attrs[names.LLMCOST_COST_INPUT] == pytest.approx(float(c_input))
    assert attrs[names.LLMCOST_COST_CACHE_READ] == pytest.approx(float(c_cache))
    assert attrs[names.LLMCOST_COST_OUTPUT] == pytest.approx(float(c_output))
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(0.125)
    # The cache saved 100,000 x (1.25 - 0.125) / 1e6.
    assert attrs[names.LLMCOST_SAVINGS_CACHE] == pytest.approx(float(usd(100_000, "1.125")))
    assert captured.total(names.METRIC_COST) == pytest.approx(0.125)


@pytest.mark.parametrize("kind", ["gemini", "vertex"])
def test_pro_over_200k_every_token_pays_the_long_context_price(captured: Any, kind: str) -> None:
    fake = FakeGemini(Tokens(prompt=250_000, cached=200_000, candidates=1_000, thoughts=4_000), "gemini-2.5-pro")
    generate(kind, fake, "gemini-2.5-pro")

    # 250,000 > 200,000: 50,000 uncached at 2.50, 200,000 cached at 0.25, 5,000 output at 15.
    expected = usd(50_000, "2.50") + usd(200_000, "0.25") + usd(5_000, "15")
    assert expected == Decimal("0.25")  # 0.125 + 0.05 + 0.075
    attrs = only_span(captured).attributes
    assert attrs[names.LLMCOST_COST_INPUT] == pytest.approx(0.125)
    assert attrs[names.LLMCOST_COST_CACHE_READ] == pytest.approx(0.05)
    assert attrs[names.LLMCOST_COST_OUTPUT] == pytest.approx(0.075)
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(float(expected))


@pytest.mark.parametrize(("prompt", "expected"), [(200_000, "0.26"), (200_001, "0.5150025")])
def test_pro_tier_starts_above_200k_prompt_tokens(captured: Any, prompt: int, expected: str) -> None:
    generate("gemini", FakeGemini(Tokens(prompt=prompt, candidates=1_000), "gemini-2.5-pro"), "gemini-2.5-pro")
    # 200,000 x 1.25 + 1,000 x 10 = 0.25 + 0.01;  200,001 x 2.50 + 1,000 x 15 = 0.5000025 + 0.015
    assert usd(200_000, "1.25") + usd(1_000, "10") == Decimal("0.26")
    assert usd(200_001, "2.50") + usd(1_000, "15") == Decimal("0.5150025")
    assert only_span(captured).attributes[names.GEN_AI_USAGE_COST] == pytest.approx(float(expected))


@pytest.mark.parametrize("kind", ["gemini", "vertex"])
def test_flash_with_cache_and_thinking(captured: Any, kind: str) -> None:
    fake = FakeGemini(Tokens(prompt=10_000, cached=4_000, candidates=500, thoughts=1_500), "gemini-2.5-flash")
    generate(kind, fake, "gemini-2.5-flash")
    # 6,000 x 0.30 + 4,000 x 0.03 + (500 + 1,500) x 2.50 = 0.0018 + 0.00012 + 0.005
    expected = usd(6_000, "0.30") + usd(4_000, "0.03") + usd(2_000, "2.50")
    assert expected == Decimal("0.00692")
    assert only_span(captured).attributes[names.GEN_AI_USAGE_COST] == pytest.approx(0.00692)
    assert captured.total(names.METRIC_REQUEST_COST) == pytest.approx(0.00692)


def test_tool_use_prompt_tokens_are_billed_as_input(captured: Any) -> None:
    generate("gemini", FakeGemini(Tokens(prompt=1_000, tool_prompt=2_000, candidates=100)), "gemini-2.5-flash")
    attrs = only_span(captured).attributes
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 3_000
    # 3,000 x 0.30 + 100 x 2.50
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(float(usd(3_000, "0.30") + usd(100, "2.50")))


def test_streamed_usage_comes_from_the_last_chunk_never_a_sum(captured: Any) -> None:
    fake = FakeGemini(Tokens(prompt=150_000, cached=100_000, candidates=2_000, thoughts=3_000), "gemini-2.5-pro")
    chunks = list(client("gemini", fake).models.generate_content_stream(model="gemini-2.5-pro", contents="Hi"))
    assert len(chunks) == 5
    attrs = only_span(captured).attributes
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 150_000  # five chunks each said 150,000: not 750,000
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5_000
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(0.125)


def test_async_stream_on_vertex_prices_the_same(captured: Any) -> None:
    fake = FakeGemini(Tokens(prompt=250_000, cached=200_000, candidates=1_000, thoughts=4_000), "gemini-2.5-pro")
    vertex = client("vertex", fake)

    async def run() -> int:
        n = 0
        async for _ in await vertex.aio.models.generate_content_stream(model="gemini-2.5-pro", contents="Hi"):
            n += 1
        return n

    assert asyncio.run(run()) == 5
    assert "/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-pro" in fake.paths[0]
    attrs = only_span(captured).attributes
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(0.25)


@pytest.mark.parametrize(
    "model", ["models/gemini-2.5-flash", "publishers/google/models/gemini-2.5-flash", "google/gemini-2.5-flash"]
)
def test_resource_names_are_priced_as_the_model(captured: Any, model: str) -> None:
    fake = FakeGemini(Tokens(prompt=1_000, candidates=100), model_version=None)  # the reply names no model
    generate("vertex" if model.startswith("publishers/") else "gemini", fake, model)
    attrs = only_span(captured).attributes
    assert attrs[names.GEN_AI_REQUEST_MODEL] == model
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(float(usd(1_000, "0.30") + usd(100, "2.50")))


def test_unknown_gemini_model_gets_no_cost_and_is_counted(captured: Any) -> None:
    generate("gemini", FakeGemini(Tokens(), model_version="gemini-9-ultra-preview"), "gemini-9-ultra-preview")
    attrs = only_span(captured).attributes
    assert names.GEN_AI_USAGE_COST not in attrs
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_UNKNOWN
    assert captured.total(names.METRIC_UNPRICED) == 1


def test_batch_pricing_of_gemini_goes_through_the_same_engine() -> None:
    usage = Usage(input_tokens=100_000, output_tokens=10_000, reasoning_tokens=6_000, batch=True)
    cost = PriceBook().cost("gcp.gemini", "gemini-2.5-pro", usage)
    assert cost is not None
    # Batch: 100,000 x 0.625 + 10,000 x 5 = 0.0625 + 0.05;  standard would be 0.125 + 0.1.
    assert cost.total == pytest.approx(float(usd(100_000, "0.625") + usd(10_000, "5")))
    assert cost.savings_batch == pytest.approx(0.1125)
    # Long context in batch: 300,000 x 1.25 + 10,000 x 7.5
    long_batch = Usage(input_tokens=300_000, output_tokens=10_000, batch=True)
    big = PriceBook().cost("gcp.vertex_ai", "gemini-2.5-pro", long_batch)
    assert big is not None
    assert big.total == pytest.approx(float(usd(300_000, "1.25") + usd(10_000, "7.5")))


def test_price_override_wins_for_gemini(instrument_with: Any, tmp_path: Any) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  - provider: gcp.gemini\n    model: gemini-2.5-flash\n    input: 1\n    output: 2\n")
    captured = instrument_with(price_file=str(prices))
    generate("gemini", FakeGemini(Tokens(prompt=1_000_000, candidates=1_000_000)), "gemini-2.5-flash")
    assert only_span(captured).attributes[names.GEN_AI_USAGE_COST] == pytest.approx(3.0)
