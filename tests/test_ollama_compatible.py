"""Ollama's OpenAI-compatible ``/v1`` through the openai client: provider ollama, $0 API spend, the hardware
rate per million tokens applied, and no GPU-hour cost invented where the server reports no duration."""

from __future__ import annotations

from typing import Any

import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes, only_span
from otel_llmcost import names

OLLAMA_V1 = "http://localhost:11434/v1"


def test_ollama_v1_with_a_per_token_hardware_rate(instrument_with: Any) -> None:
    captured = instrument_with(hardware_usd_per_mtok="0.20")
    api = FakeOpenAI(tokens=Tokens(prompt=4_000, completion=1_000))
    api.client(base_url=OLLAMA_V1).chat.completions.create(model="llama3.2", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"  # the API it speaks (issue 16, 22)
    assert attrs[names.GEN_AI_USAGE_COST] == 0.0
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_LOCAL
    # (4,000 + 1,000) tokens x $0.20 per million
    assert attrs[names.LLMCOST_COST_HARDWARE] == pytest.approx(0.001)
    assert captured.total(names.METRIC_HARDWARE_COST, gen_ai__provider__name="openai") == pytest.approx(0.001)
    assert captured.total(names.METRIC_COST) == 0


def test_ollama_v1_gpu_hour_rate_needs_a_duration_it_does_not_get(instrument_with: Any) -> None:
    captured = instrument_with(hardware_usd_per_gpu_hour=2)
    FakeOpenAI().client(base_url=OLLAMA_V1).chat.completions.create(model="llama3.2", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert names.LLMCOST_COST_HARDWARE not in attrs  # unknown, never a made-up figure
    assert captured.points(names.METRIC_HARDWARE_COST) == []


def test_hosted_providers_never_get_a_hardware_cost(instrument_with: Any) -> None:
    captured = instrument_with(hardware_usd_per_mtok=1)
    FakeOpenAI(model="gpt-4o-mini").client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert names.LLMCOST_COST_HARDWARE not in attributes(only_span(captured))
