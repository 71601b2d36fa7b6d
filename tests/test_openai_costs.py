"""USD cost of real OpenAI SDK calls, checked against arithmetic done by hand from the published $/Mtok."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes, batch, needs_responses, only_span, usd
from otel_llmcost import names

BUNDLED = f"genai-prices@{genai_prices.__version__}"


def test_gpt4o_with_8k_of_10k_input_cached(captured: Any) -> None:
    api = FakeOpenAI(tokens=Tokens(prompt=10_000, cached=8_000, completion=500))
    api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    # gpt-4o: $2.50 per Mtok in, $1.25 cached in, $10 out.
    assert attrs[names.LLMCOST_COST_INPUT] == usd((2_000, "2.50")) == 0.005
    assert attrs[names.LLMCOST_COST_CACHE_READ] == usd((8_000, "1.25")) == 0.01
    assert attrs[names.LLMCOST_COST_OUTPUT] == usd((500, "10")) == 0.005
    assert names.LLMCOST_COST_CACHE_WRITE not in attrs  # zero details are left out
    assert attrs[names.GEN_AI_USAGE_COST] == 0.02
    assert attrs[names.LLMCOST_SAVINGS_CACHE] == usd((8_000, "1.25"))  # 8k x ($2.50 - $1.25)
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 10_000  # cached tokens stay inside the input count
    assert attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 8_000
    assert attrs[names.LLMCOST_PRICE_SOURCE] == BUNDLED


def test_dated_model_id_priced_as_gpt4o(captured: Any) -> None:
    api = FakeOpenAI(model="gpt-4o-2024-08-06", tokens=Tokens(prompt=1_000, completion=1_000))
    api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert attrs[names.GEN_AI_USAGE_COST] == usd((1_000, "2.50"), (1_000, "10"))


def test_reasoning_model_reasoning_tokens_inside_output(captured: Any) -> None:
    # o4-mini: $1.10 in, $4.40 out; 3000 output tokens of which 2500 are reasoning: billed once.
    api = FakeOpenAI(tokens=Tokens(prompt=4_000, completion=3_000, reasoning=2_500))
    api.client().chat.completions.create(model="o4-mini", messages=MESSAGES, extra_body={"reasoning_effort": "high"})
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 3_000
    assert attrs[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 2_500
    assert attrs[names.LLMCOST_COST_OUTPUT] == usd((3_000, "4.40"))
    assert attrs[names.GEN_AI_USAGE_COST] == usd((4_000, "1.10"), (3_000, "4.40"))


@pytest.mark.parametrize(
    ("requested", "reported", "rates"),
    [
        # o3 prices since 2026-10-12: standard $2 / $0.50 / $8, flex $1 / $0.25 / $4, priority $3.50 / $0.875 / $14.
        ("flex", "flex", ("1", "0.25", "4")),
        ("priority", "priority", ("3.5", "0.875", "14")),
        ("auto", "priority", ("3.5", "0.875", "14")),  # the tier that served the call bills it
        ("flex", "default", ("2", "0.5", "8")),
        (None, "default", ("2", "0.5", "8")),
    ],
)
def test_service_tier_reported_by_the_response_sets_the_price(
    captured: Any, requested: str | None, reported: str, rates: tuple[str, str, str]
) -> None:
    api = FakeOpenAI(service_tier=reported, tokens=Tokens(prompt=10_000, cached=4_000, completion=1_000))
    kwargs: dict[str, Any] = {"service_tier": requested} if requested else {}
    api.client().chat.completions.create(model="o3", messages=MESSAGES, **kwargs)
    attrs = attributes(only_span(captured))
    in_rate, cached_rate, out_rate = rates
    assert attrs[names.GEN_AI_USAGE_COST] == usd((6_000, in_rate), (4_000, cached_rate), (1_000, out_rate))
    assert attrs[names.OPENAI_RESPONSE_SERVICE_TIER] == reported
    assert attrs[names.LLMCOST_SERVICE_TIER] == reported
    if requested:
        assert attrs[names.OPENAI_REQUEST_SERVICE_TIER] == requested
    else:
        assert names.OPENAI_REQUEST_SERVICE_TIER not in attrs


@needs_responses
def test_priority_tier_of_gpt4o_on_responses_api(captured: Any) -> None:
    # gpt-4o priority: $4.25 in, $2.125 cached, $17 out.
    api = FakeOpenAI(tokens=Tokens(prompt=2_000, cached=1_000, completion=100))
    api.client().responses.create(model="gpt-4o", input="hi", service_tier="priority")
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_COST] == usd((1_000, "4.25"), (1_000, "2.125"), (100, "17"))


def test_batch_priced_once_at_the_batch_rate(captured: Any) -> None:
    # gpt-4o batch: $1.25 in, $5 out, cached input $1.25.
    tokens = Tokens(prompt=30_000, cached=10_000, completion=20_000)
    api = FakeOpenAI(batches={"batch_a": batch("batch_a", "gpt-4o", tokens)})
    client = api.client()
    first = client.batches.retrieve("batch_a")
    assert first.id == "batch_a" and first.status == "completed"
    span = only_span(captured)
    attrs = attributes(span)
    expected = usd((20_000, "1.25"), (10_000, "1.25"), (20_000, "5"))
    assert span.name == "chat gpt-4o"
    assert attrs[names.GEN_AI_USAGE_COST] == expected
    assert attrs[names.LLMCOST_BATCH] is True
    assert attrs[names.LLMCOST_BATCH_ID] == "batch_a"
    standard = usd((20_000, "2.50"), (10_000, "1.25"), (20_000, "10"))
    assert attrs[names.LLMCOST_SAVINGS_BATCH] == pytest.approx(standard - expected, rel=1e-12)
    # Looking at the same batch again bills nothing more.
    client.batches.retrieve("batch_a")
    assert len(captured.client_spans()) == 1
    assert captured.total(names.METRIC_COST) == pytest.approx(expected, rel=1e-12)
    (point,) = captured.points(names.METRIC_REQUEST_COST)
    assert point.count == 1


def test_batches_list_prices_each_completed_batch_once(captured: Any) -> None:
    tokens = Tokens(prompt=1_000, completion=1_000)
    api = FakeOpenAI(
        batches={
            "batch_a": batch("batch_a", "gpt-4o", tokens),
            "batch_b": batch("batch_b", "gpt-4o-mini", tokens),
            "batch_c": batch("batch_c", "gpt-4o", tokens, status="in_progress"),
        }
    )
    client = api.client()
    client.batches.retrieve("batch_a")
    page = client.batches.list()
    assert [b.id for b in page.data] == ["batch_a", "batch_b", "batch_c"]
    client.batches.list()
    spans = captured.client_spans()
    assert sorted(attributes(s)[names.LLMCOST_BATCH_ID] for s in spans) == ["batch_a", "batch_b"]
    mini = next(s for s in spans if attributes(s)[names.LLMCOST_BATCH_ID] == "batch_b")
    # gpt-4o-mini batch: $0.075 in, $0.30 out.
    assert attributes(mini)[names.GEN_AI_USAGE_COST] == usd((1_000, "0.075"), (1_000, "0.30"))


def test_async_batch_retrieve(captured: Any) -> None:
    import asyncio

    api = FakeOpenAI(batches={"batch_z": batch("batch_z", "gpt-4o", Tokens(prompt=1_000, completion=1_000))})

    async def main() -> None:
        client = api.async_client()
        await client.batches.retrieve("batch_z")
        await client.batches.retrieve("batch_z")

    asyncio.run(main())
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == usd((1_000, "1.25"), (1_000, "5"))


@pytest.mark.parametrize(
    ("input_tokens", "rates"),
    [(272_000, ("2.5", "0.25", "15")), (272_001, ("5", "0.5", "22.5")), (400_000, ("5", "0.5", "22.5"))],
)
def test_long_context_tier(captured: Any, input_tokens: int, rates: tuple[str, str, str]) -> None:
    # gpt-5.4: $2.50 / $0.25 cached / $15 up to 272k input tokens; past that ALL tokens pay $5 / $0.50 / $22.50.
    api = FakeOpenAI(tokens=Tokens(prompt=input_tokens, cached=50_000, completion=2_000))
    api.client().chat.completions.create(model="gpt-5.4", messages=MESSAGES)
    in_rate, cached_rate, out_rate = rates
    expected = usd((input_tokens - 50_000, in_rate), (50_000, cached_rate), (2_000, out_rate))
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == expected


# --- price overrides ------------------------------------------------------------------------------
YAML_PRICES = """
models:
  - model: my-finetune
    input: 3
    output: 12
    cache_read: 1.5
  - model: gpt-4o
    provider: openai
    input: 2
    output: 8
  - model: my-llama
    input: 0
    output: 0
"""
JSON_PRICES = {
    "models": [
        {"model": "my-finetune", "input": 3, "output": 12, "cache_read": 1.5},
        {"model": "gpt-4o", "provider": "openai", "input": 2, "output": 8},
        {"model": "my-llama", "input": 0, "output": 0},
    ]
}


def _write_yaml(path: Path) -> Path:
    path = path / "prices.yaml"
    path.write_text(YAML_PRICES)
    return path


def _write_json(path: Path) -> Path:
    path = path / "prices.json"
    path.write_text(json.dumps(JSON_PRICES))
    return path


@pytest.mark.parametrize("write", [_write_yaml, _write_json], ids=["yaml", "json"])
def test_override_file_adds_replaces_and_zeroes(
    instrument_with: Callable[..., Any], tmp_path: Path, write: Callable[[Path], Path]
) -> None:
    path = write(tmp_path)
    captured = instrument_with(price_file=str(path))
    api = FakeOpenAI(tokens=Tokens(prompt=10_000, cached=4_000, completion=1_000))
    api.client().chat.completions.create(model="my-finetune", messages=MESSAGES)
    api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    # A self-hosted server on a private address (not localhost): only the override says it is free.
    api.client(base_url="http://10.1.2.3:8000/v1").chat.completions.create(model="my-llama", messages=MESSAGES)
    finetune, gpt4o, llama = (attributes(s) for s in captured.client_spans())
    source = f"override:{path.name}"
    assert finetune[names.GEN_AI_USAGE_COST] == usd((6_000, "3"), (4_000, "1.5"), (1_000, "12"))
    assert finetune[names.LLMCOST_PRICE_SOURCE] == source
    # The override wins over genai-prices' $2.50/$10; no cache price given, so cached input pays the input price.
    assert gpt4o[names.GEN_AI_USAGE_COST] == usd((10_000, "2"), (1_000, "8"))
    assert gpt4o[names.LLMCOST_PRICE_SOURCE] == source
    assert llama[names.GEN_AI_USAGE_COST] == 0.0
    assert llama[names.LLMCOST_PRICE_SOURCE] == source
    assert llama[names.SERVER_ADDRESS] == "10.1.2.3"
    assert captured.total(names.METRIC_UNPRICED) == 0


def test_override_file_from_environment(
    instrument_with: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.ENV_PRICE_FILE, str(_write_yaml(tmp_path)))
    captured = instrument_with()
    FakeOpenAI(tokens=Tokens(prompt=1_000, completion=1_000)).client().chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == usd((1_000, "2"), (1_000, "8"))


# --- unknown models -------------------------------------------------------------------------------
def test_unknown_model_no_cost_counted_and_warned_once(captured: Any, caplog: pytest.LogCaptureFixture) -> None:
    api = FakeOpenAI(tokens=Tokens(prompt=1_000, completion=100))
    client = api.client()
    with caplog.at_level(logging.WARNING, logger="otel_llmcost"):
        for _ in range(3):
            client.chat.completions.create(model="acme-unreleased-9", messages=MESSAGES)
    spans = captured.client_spans()
    assert len(spans) == 3
    for span in spans:
        attrs = attributes(span)
        assert names.GEN_AI_USAGE_COST not in attrs
        assert names.LLMCOST_COST_INPUT not in attrs
        assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_UNKNOWN
        assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 1_000  # usage is still known and reported
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "acme-unreleased-9" in warnings[0].getMessage()
    assert captured.total(names.METRIC_UNPRICED, gen_ai__request__model="acme-unreleased-9") == 3
    assert captured.total(names.METRIC_COST) == 0
    assert captured.points(names.METRIC_REQUEST_COST) == []
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="input") == 3_000


def test_priced_calls_after_the_first_do_no_price_lookup(captured: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_prices.data_snapshot import DataSnapshot

    lookups: list[str] = []
    find = DataSnapshot.find_provider_model

    def counting_find(self: DataSnapshot, *args: Any, **kwargs: Any) -> Any:
        lookups.append(args[0])
        return find(self, *args, **kwargs)

    monkeypatch.setattr(DataSnapshot, "find_provider_model", counting_find)
    api = FakeOpenAI(tokens=Tokens(prompt=1_000, completion=100))
    client = api.client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert lookups == ["gpt-4o-mini"]
    for n in range(1, 21):
        api.tokens = Tokens(prompt=1_000 * n, completion=100)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert lookups == ["gpt-4o-mini"]  # every later call was priced from the cached rates
    last = attributes(captured.client_spans()[-1])
    assert last[names.GEN_AI_USAGE_COST] == usd((20_000, "0.15"), (100, "0.60"))
