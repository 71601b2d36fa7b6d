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


def _thinking_left_out(body: dict[str, Any]) -> dict[str, Any]:
    """Gemini's compatible reply when completion_tokens leaves the 3,000 thinking tokens out of its count."""
    usage = dict(body["usage"], total_tokens=body["usage"]["total_tokens"] + 3_000)
    return {**body, "usage": usage}


def test_thinking_left_out_of_completion_tokens_is_still_billed_as_output(captured: Any) -> None:
    tokens = Tokens(prompt=1_000, completion=100)
    api = FakeOpenAI(model="gemini-2.5-flash", tokens=tokens, chat_body=_thinking_left_out)
    api.client(base_url=GEMINI_OPENAI_URL).chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 3_100
    assert attrs[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 3_000
    # 1,000 x 0.30 + (100 + 3,000) x 2.50
    assert attrs[names.GEN_AI_USAGE_COST] == usd((1_000, "0.30"), (3_100, "2.50"))


def test_the_same_reply_from_openai_is_taken_as_it_is(captured: Any) -> None:
    api = FakeOpenAI(model="gpt-4o-mini", tokens=Tokens(prompt=1_000, completion=100), chat_body=_thinking_left_out)
    api.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 100


class _ThinkingLeftOut(Tokens):
    def chat(self) -> dict[str, Any]:
        usage = super().chat()
        return {**usage, "total_tokens": usage["total_tokens"] + 3_000}


def test_streamed_thinking_left_out_is_still_billed(captured: Any) -> None:
    api = FakeOpenAI(model="gemini-2.5-flash", tokens=_ThinkingLeftOut(prompt=1_000, completion=100))
    stream = api.client(base_url=GEMINI_OPENAI_URL).chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert list(stream)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 3_100
    assert attrs[names.GEN_AI_USAGE_COST] == usd((1_000, "0.30"), (3_100, "2.50"))
