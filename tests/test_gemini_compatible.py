"""Gemini through the openai client and its OpenAI-compatible URL: provider gcp.gemini, Google's prices
(long-context tier included), and one span per call even with the google-genai adapter installed too."""

from __future__ import annotations

from typing import Any

import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes, only_span, usd
from otel_llmcost import names

GEMINI_OPENAI_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # <= 200k: 150,000 - 100,000 cached at 1.25, 100,000 cached at 0.125, 5,000 out at 10
        (150_000, usd((50_000, "1.25"), (100_000, "0.125"), (5_000, "10"))),
        # > 200k: every token at the long-context prices 2.50 / 0.25 / 15
        (250_000, usd((150_000, "2.50"), (100_000, "0.25"), (5_000, "15"))),
    ],
)
def test_compatible_endpoint_prices_gemini_pro_with_its_tiers(captured: Any, prompt: int, expected: float) -> None:
    api = FakeOpenAI(model="gemini-2.5-pro", tokens=Tokens(prompt=prompt, cached=100_000, completion=5_000))
    api.client(base_url=GEMINI_OPENAI_URL).chat.completions.create(model="gemini-2.5-pro", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "gcp.gemini"
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(expected)
    assert captured.total(names.METRIC_COST, gen_ai__provider__name="gcp.gemini") == pytest.approx(expected)


def test_compatible_endpoint_model_prefix_is_priced(captured: Any) -> None:
    api = FakeOpenAI(model="models/gemini-2.5-flash", tokens=Tokens(prompt=1_000, completion=100))
    api.client(base_url=GEMINI_OPENAI_URL).chat.completions.create(model="models/gemini-2.5-flash", messages=MESSAGES)
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == usd((1_000, "0.30"), (100, "2.50"))


def test_compatible_endpoint_is_counted_once(captured: Any) -> None:
    """The openai client does not go through google-genai: its wrapper alone sees the call."""
    api = FakeOpenAI(model="gemini-2.5-flash", tokens=Tokens(prompt=1_000, completion=100))
    client = api.async_client(base_url=GEMINI_OPENAI_URL)

    import asyncio

    asyncio.run(client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES))
    assert len(api.requests) == 1
    only_span(captured)
    assert captured.total(names.METRIC_COST) == pytest.approx(usd((1_000, "0.30"), (100, "2.50")))
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="input") == 1_000
