"""Issue 16, what the OpenAI adapter lost or never wrapped: usage streamed beside the last choice (DeepSeek,
OpenRouter) or unasked (Groq's ``x_groq.usage``), and ``responses.compact`` (sync, async, raw, beta), through the
real SDK over the scripted fake; costs by hand from the price pages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes, only_span, usd
from otel_llmcost import names

try:  # openai 1.40 (the oldest supported) has no Responses API
    from openai.resources.responses import Responses as _Responses
except ImportError:  # pragma: no cover - oldest-SDK stage
    _Responses = None  # type: ignore[assignment,misc]
needs_responses = pytest.mark.skipif(_Responses is None, reason="this openai release has no Responses API")
needs_compact = pytest.mark.skipif(
    _Responses is None or not hasattr(_Responses, "compact"), reason="this openai release has no responses.compact"
)

TOKENS = Tokens(prompt=1_000, cached=200, completion=50)


def _stream(fake: FakeOpenAI, base_url: str, model: str) -> None:
    stream = fake.client(base_url).chat.completions.create(model=model, messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert chunks  # every chunk reaches the caller, the one with the usage included


# DeepSeek deepseek-chat: $0.27 input, $0.07 cache hit, $1.10 output per Mtok from 00:30 to 16:30 UTC; half of
# that off-peak (16:30-00:30 UTC). The call is billed at its start.
DEEPSEEK_PEAK = usd((800, "0.27"), (200, "0.07"), (50, "1.1"))
DEEPSEEK_OFF_PEAK = usd((800, "0.135"), (200, "0.035"), (50, "0.55"))
PEAK_UTC = (30, 16 * 60 + 30)  # minutes of the UTC day
NEAR_BOUNDARY_MINUTES = 2  # a price looked up shortly before the call may belong to the other period


def _deepseek_cost_at(start_ns: int) -> set[float]:
    """The price page's cost for a call starting at ``start_ns``; both near a boundary of the off-peak window."""
    minute = (start_ns // 60_000_000_000) % (24 * 60)
    distance = min(abs(minute - edge) for edge in (*PEAK_UTC, PEAK_UTC[0] + 24 * 60))
    if distance <= NEAR_BOUNDARY_MINUTES:
        return {DEEPSEEK_PEAK, DEEPSEEK_OFF_PEAK}
    return {DEEPSEEK_PEAK} if PEAK_UTC[0] <= minute < PEAK_UTC[1] else {DEEPSEEK_OFF_PEAK}


@pytest.mark.parametrize(
    ("base_url", "model", "cost"),
    [
        ("https://api.deepseek.com/v1", "deepseek-chat", None),
        # OpenRouter openai/gpt-4o: $2.50, cached $1.25, $10.
        ("https://openrouter.ai/api/v1", "openai/gpt-4o", usd((800, "2.50"), (200, "1.25"), (50, "10"))),
    ],
)
def test_usage_on_the_last_choice_chunk_unasked(captured: Any, base_url: str, model: str, cost: float | None) -> None:
    _stream(FakeOpenAI(tokens=TOKENS, stream_usage="last_choice"), base_url, model)
    span = only_span(captured)
    attrs = attributes(span)
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 1_000
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 50
    expected = _deepseek_cost_at(span.start_time) if cost is None else {cost}
    assert attrs[names.GEN_AI_USAGE_COST] in expected
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_deepseek_off_peak_window() -> None:
    """The expectation above follows the price page: peak at 12:00 UTC, off-peak at 20:00 and 00:00 UTC."""
    hour = 3_600 * 1_000_000_000
    assert _deepseek_cost_at(12 * hour) == {DEEPSEEK_PEAK}
    assert _deepseek_cost_at(20 * hour) == {DEEPSEEK_OFF_PEAK}
    assert _deepseek_cost_at(24 * hour) == {DEEPSEEK_OFF_PEAK}
    assert _deepseek_cost_at(16 * hour + 30 * 60 * 1_000_000_000) == {DEEPSEEK_PEAK, DEEPSEEK_OFF_PEAK}


def test_groq_x_groq_usage(captured: Any) -> None:
    tokens = Tokens(prompt=2_000, completion=300)
    fake = FakeOpenAI(tokens=tokens, stream_usage="x_groq")
    _stream(fake, "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile")
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


@needs_compact
def test_compact_sync(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    result = fake.client().responses.compact(model="gpt-4o", input="a long conversation")
    assert type(result).__name__ == "CompactedResponse"
    assert result.usage.input_tokens == 1_000
    assert fake.requests[-1].url.path.endswith("/responses/compact")
    _compacted(captured)


@needs_compact
def test_compact_async(captured: Any) -> None:
    async def main() -> Any:
        return await FakeOpenAI(tokens=TOKENS).async_client().responses.compact(model="gpt-4o", input="x")

    assert asyncio.run(main()).id == "cmp_test1"
    _compacted(captured)


@needs_compact
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


# --- provider-reported cost -----------------------------------------------------------------------
def _points(captured: Any, name: str) -> dict[str, float]:
    return {dict(p.attributes)[names.LLMCOST_COST_PROVIDER_DIRECTION]: p.value for p in captured.points(name)}


def test_openrouter_cost_beside_ours(captured: Any) -> None:
    # Ours: openai/gpt-4o at $2.50 / $1.25 cached / $10 = $0.00275; OpenRouter says $0.0045.
    fake = FakeOpenAI(tokens=TOKENS, usage_extra={"cost": 0.0045})
    fake.client("https://openrouter.ai/api/v1").chat.completions.create(model="openai/gpt-4o", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    ours = Decimal(800) * Decimal("2.50") + Decimal(200) * Decimal("1.25") + Decimal(50) * 10
    assert attrs[names.GEN_AI_USAGE_COST] == float(ours / 1_000_000)
    assert attrs[names.LLMCOST_COST_PROVIDER] == 0.0045
    assert attrs[names.LLMCOST_COST_PROVIDER_SOURCE] == "usage.cost"
    assert attrs[names.LLMCOST_PRICE_SOURCE].startswith(names.PRICE_SOURCE_BUNDLED)
    difference = Decimal("0.0045") - ours / 1_000_000  # ours is under theirs
    assert _points(captured, names.METRIC_PROVIDER_COST_DIFFERENCE) == {"under": float(difference)}


def test_xai_ticks_price_an_unknown_model(captured: Any) -> None:
    """No price list knows the model: the provider's own figure is the call's cost (1 USD = 10^10 ticks)."""
    fake = FakeOpenAI(tokens=TOKENS, usage_extra={"cost_in_usd_ticks": 37_756_000})
    fake.client("https://api.x.ai/v1").chat.completions.create(model="grok-99-unreleased", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_COST] == float(Decimal(37_756_000) / Decimal(10**10))  # $0.0037756
    assert attrs[names.LLMCOST_PRICE_SOURCE] == "provider:usage.cost_in_usd_ticks"
    assert attrs[names.LLMCOST_COST_PROVIDER_SOURCE] == "usage.cost_in_usd_ticks"
    assert captured.total(names.METRIC_UNPRICED) == 0
    assert captured.total(names.METRIC_COST, llmcost__cost__component="provider") == pytest.approx(0.0037756)
    assert captured.points(names.METRIC_PROVIDER_COST_DIFFERENCE) == []  # nothing of ours to compare


@needs_responses
def test_xai_ticks_equal_to_ours(captured: Any) -> None:
    # grok-4: $3 input, $0.75 cached, $15 output: 800 x 3 + 200 x 0.75 + 50 x 15 = 3300 (x 1e-6 USD) = 33e6 ticks.
    fake = FakeOpenAI(tokens=TOKENS, usage_extra={"cost_in_usd_ticks": 33_000_000})
    fake.client("https://api.x.ai/v1").responses.create(model="grok-4", input="hi")
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_COST] == 0.0033
    assert attrs[names.LLMCOST_COST_PROVIDER] == 0.0033
    assert _points(captured, names.METRIC_PROVIDER_COST_DIFFERENCE) == {"equal": 0.0}


def test_openrouter_streamed_cost(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS, stream_usage="last_choice", usage_extra={"cost": 0.00275})
    _stream(fake, "https://openrouter.ai/api/v1", "openai/gpt-4o")
    attrs = attributes(only_span(captured))
    assert attrs[names.LLMCOST_COST_PROVIDER] == 0.00275
    assert _points(captured, names.METRIC_PROVIDER_COST_DIFFERENCE) == {"equal": 0.0}


@pytest.mark.parametrize("odd", [-1, "0.1", True, None])
def test_odd_provider_cost_is_ignored(captured: Any, odd: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS, usage_extra={"cost": odd})
    fake.client("https://openrouter.ai/api/v1").chat.completions.create(model="openai/gpt-4o", messages=MESSAGES)
    assert names.LLMCOST_COST_PROVIDER not in attributes(only_span(captured))


# --- where it ran ---------------------------------------------------------------------------------
GPT4O = Decimal(800) * Decimal("2.50") + Decimal(200) * Decimal("1.25") + Decimal(50) * 10  # x 1e-6 USD


@pytest.mark.parametrize("host", ["us.api.openai.com", "eu.api.openai.com", "gov.api.openai.com"])
def test_openai_data_residency_host_bills_1_1x(captured: Any, host: str) -> None:
    FakeOpenAI(tokens=TOKENS).client(f"https://{host}/v1").chat.completions.create(model="gpt-4o", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[names.GEN_AI_USAGE_COST] == float(GPT4O * Decimal("1.1") / 1_000_000)
    assert attrs[names.LLMCOST_PRICE_MULTIPLIER_NAME] == "openai.data_residency"
    assert attrs[names.LLMCOST_PRICE_MULTIPLIER] == 1.1


def test_global_openai_host_has_no_multiplier(captured: Any) -> None:
    FakeOpenAI(tokens=TOKENS).client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_USAGE_COST] == float(GPT4O / 1_000_000)
    assert names.LLMCOST_PRICE_MULTIPLIER not in attrs


def test_price_file_overrides_multipliers(instrument_with: Callable[..., Any], tmp_path: Any) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                "multipliers": [
                    {"name": "openai.data_residency", "host_suffix": ".api.openai.com", "factor": 1},  # off
                    {"name": "gateway.eu", "host": "llm.eu.example", "factor": "1.25"},
                ]
            }
        )
    )
    captured = instrument_with(price_file=str(prices))
    fake = FakeOpenAI(tokens=TOKENS)
    fake.client("https://eu.api.openai.com/v1").chat.completions.create(model="gpt-4o", messages=MESSAGES)
    fake.client("https://llm.eu.example/v1").chat.completions.create(model="gpt-4o", messages=MESSAGES)
    first, second = (attributes(s) for s in captured.client_spans())
    assert first[names.GEN_AI_USAGE_COST] == float(GPT4O / 1_000_000)
    assert names.LLMCOST_PRICE_MULTIPLIER_NAME not in first
    assert second[names.GEN_AI_USAGE_COST] == float(GPT4O * Decimal("1.25") / 1_000_000)
    assert second[names.LLMCOST_PRICE_MULTIPLIER_NAME] == "gateway.eu"


def test_a_bad_multiplier_is_one_clear_error(tmp_path: Any) -> None:
    from otel_llmcost.errors import ConfigError
    from otel_llmcost.pricing.overrides import PriceOverrides

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"multipliers": [{"name": "x", "host": "h", "factor": 0}]}))
    with pytest.raises(ConfigError, match=r"multipliers\[0\].*'factor' must be a finite number > 0"):
        PriceOverrides.load(prices)


# --- "local" that isn't ---------------------------------------------------------------------------
def test_a_known_model_through_a_local_proxy_is_priced(captured: Any) -> None:
    """A LiteLLM proxy on localhost:4000 in front of OpenAI: gpt-4o is billed as OpenAI's."""
    FakeOpenAI(tokens=TOKENS).client("http://localhost:4000/v1").chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )
    attrs = attributes(only_span(captured))
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[names.SERVER_ADDRESS] == "localhost"
    assert attrs[names.GEN_AI_USAGE_COST] == float(GPT4O / 1_000_000)


def test_declared_local_models_cost_nothing_anywhere(instrument_with: Callable[..., Any]) -> None:
    captured = instrument_with(local_models="gpt-4o*, my-finetune")
    fake = FakeOpenAI(tokens=TOKENS)
    fake.client("https://gpu-box.example/v1").chat.completions.create(model="GPT-4o-mini", messages=MESSAGES)
    (span,) = captured.client_spans()
    attrs = attributes(span)
    assert attrs[names.GEN_AI_USAGE_COST] == 0.0
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_LOCAL


def test_local_models_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_llmcost.config import Settings

    monkeypatch.setenv(names.ENV_LOCAL_MODELS, " llama* ,Qwen3:8B,,")
    assert Settings.load().local_models == ("llama*", "qwen3:8b")
