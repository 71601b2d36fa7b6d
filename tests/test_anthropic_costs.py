"""Hand-computed Anthropic costs, through the real ``anthropic`` clients on a scripted API.

Prices (USD per million tokens, genai-prices data, checked by hand):
claude-sonnet-4-5 at Anthropic: input 3, cache read 0.30, 5m cache write 3.75, 1h cache write 6, output 15; above
200k input tokens every token pays 6 / 0.60 / 7.50 / 12 / 22.50; batch 1.50 / 0.15 / 1.875 / 3 / 7.50.
claude-opus-4-8: input 5, output 25; fast mode (speed "fast") input 10, output 50.
Bedrock claude-sonnet-4-5: global profile 3 / 15; regional and cross-region (us., eu., apac., in-region) 3.30 / 16.50.
Vertex AI claude-sonnet-4-5: 3 / 15.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_payloads import (
    CONFIGS,
    MESSAGES,
    OFF,
    FakeAnthropic,
    Tokens,
    attributes,
    batch_error,
    batch_result,
    client_spans,
    configured,
)
from conftest import Captured
from otel_llmcost import names
from otel_llmcost.providers.anthropic import message_usage
from otel_llmcost.records import Request, Response

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SONNET = "claude-sonnet-4-5"


def usd(value: float) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-12)


def only_span(cap: Captured, *exporters: Any) -> dict[str, Any]:
    spans = client_spans(cap.exporter, *exporters)
    assert len(spans) == 1, [s.name for s in spans]
    return attributes(spans[0])


def create(fake: FakeAnthropic, model: str = SONNET, **options: Any) -> Any:
    return fake.client(**{**OFF, **options}).messages.create(model=model, max_tokens=1024, messages=MESSAGES)


def test_sonnet_with_cache_read_and_5m_and_1h_writes(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=Tokens(input=1000, output=500, cache_read=2000, cache_5m=400, cache_1h=600))
    create(fake)
    attrs = only_span(captured)
    # 1000 x $3 + 2000 x $0.30 + 400 x $3.75 + 600 x $6 + 500 x $15, per million
    assert attrs[names.GEN_AI_USAGE_COST] == usd(0.0162)
    assert attrs[names.LLMCOST_COST_INPUT] == usd(0.003)
    assert attrs[names.LLMCOST_COST_CACHE_READ] == usd(0.0006)
    assert attrs[names.LLMCOST_COST_CACHE_WRITE] == usd(0.0015 + 0.0036)
    assert attrs[names.LLMCOST_COST_OUTPUT] == usd(0.0075)
    assert attrs[names.LLMCOST_SAVINGS_CACHE] == usd(2000 * (3 - 0.3) / 1e6)
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 4000  # input EXCLUDES cache at Anthropic: 1000 + 2000 + 1000
    assert attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 2000
    assert attrs[names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 1000
    assert attrs[names.LLMCOST_CACHE_WRITE_5M_TOKENS] == 400
    assert attrs[names.LLMCOST_CACHE_WRITE_1H_TOKENS] == 600
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[names.LLMCOST_SERVICE_TIER] == "standard"
    assert captured.total(names.METRIC_COST) == usd(0.0162)
    assert captured.total(names.METRIC_COST, llmcost__cost__component="cache_write") == usd(0.0051)
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="input") == 4000
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="cache_write") == 1000
    assert captured.total(names.METRIC_SAVINGS, llmcost__savings__kind="cache") == usd(0.0054)
    assert captured.total(names.METRIC_UNPRICED) == 0


def test_long_context_above_200k_tier(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=Tokens(input=150_000, output=1_000, cache_read=60_000, cache_5m=10_000))
    create(fake)
    attrs = only_span(captured)
    # 220,000 input tokens > 200k: every token pays the tier: 150k x $6 + 60k x $0.60 + 10k x $7.50 + 1k x $22.50
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 220_000
    assert attrs[names.GEN_AI_USAGE_COST] == usd(0.9 + 0.036 + 0.075 + 0.0225)


def test_exactly_200k_is_still_the_base_price(captured: Captured) -> None:
    create(FakeAnthropic(tokens=Tokens(input=200_000, output=0)))
    assert only_span(captured)[names.GEN_AI_USAGE_COST] == usd(0.6)


def test_fast_mode_has_its_own_price(captured: Captured) -> None:
    create(FakeAnthropic(tokens=Tokens(input=1000, output=200, speed="fast")), model="claude-opus-4-8")
    create(FakeAnthropic(tokens=Tokens(input=1000, output=200, speed="standard")), model="claude-opus-4-8")
    fast, standard = (attributes(s) for s in client_spans(captured.exporter))
    assert fast[names.GEN_AI_USAGE_COST] == usd(1000 * 10 / 1e6 + 200 * 50 / 1e6)  # 0.02
    assert standard[names.GEN_AI_USAGE_COST] == usd(1000 * 5 / 1e6 + 200 * 25 / 1e6)  # 0.01


def test_thinking_tokens_are_reasoning_and_billed_as_output(captured: Captured) -> None:
    create(FakeAnthropic(tokens=Tokens(input=500, output=1200, thinking=800)))
    attrs = only_span(captured)
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 1200
    assert attrs[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 800
    assert attrs[names.GEN_AI_USAGE_COST] == usd(500 * 3 / 1e6 + 1200 * 15 / 1e6)  # 0.0195
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="reasoning") == 800


def test_unknown_model_has_no_cost_and_is_counted(captured: Captured, caplog: pytest.LogCaptureFixture) -> None:
    create(FakeAnthropic(tokens=Tokens(input=10, output=5)), model="claude-nonexistent-9")
    attrs = only_span(captured)
    assert names.GEN_AI_USAGE_COST not in attrs
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_UNKNOWN
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert captured.total(names.METRIC_UNPRICED) == 1
    assert captured.total(names.METRIC_COST) == 0
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="output") == 5
    assert "claude-nonexistent-9" in caplog.text


def test_web_search_requests_priced(captured: Captured) -> None:
    """server_tool_use.web_search_requests bill at the model's web_searches_kcount ($10 per 1,000)."""
    create(FakeAnthropic(tokens=Tokens(input=100, output=10, web_search=3)))
    attrs = only_span(captured)
    assert attrs[names.LLMCOST_WEB_SEARCH_REQUESTS] == 3
    assert attrs[names.GEN_AI_USAGE_COST] == usd(100 * 3 / 1e6 + 10 * 15 / 1e6 + 3 * 10 / 1000)


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", (3.3, 16.5)),
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", (3.3, 16.5)),
        ("apac.anthropic.claude-sonnet-4-5-20250929-v1:0", (3.3, 16.5)),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", (3.3, 16.5)),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", (3.0, 15.0)),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            (3.3, 16.5),
        ),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0", (3.3, 16.5)),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            (3.0, 15.0),
        ),
    ],
)
def test_bedrock_ids_with_region_prefix_and_arns(captured: Captured, model: str, price: tuple[float, float]) -> None:
    # Bedrock answers with the base model name; the requested id carries the routing that sets the price.
    fake = FakeAnthropic(model="claude-sonnet-4-5-20250929", tokens=Tokens(input=1000, output=200))
    fake.bedrock(**OFF).messages.create(model=model, max_tokens=100, messages=MESSAGES)
    attrs = only_span(captured)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert attrs[names.SERVER_ADDRESS] == "bedrock-runtime.us-east-1.amazonaws.com"
    assert attrs[names.GEN_AI_REQUEST_MODEL] == model
    assert attrs[names.GEN_AI_USAGE_COST] == usd(1000 * price[0] / 1e6 + 200 * price[1] / 1e6)
    assert "/invoke" in str(fake.requests[-1].url)


def test_vertex_at_model_id(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=Tokens(input=1000, output=200))  # echoes the model of the URL
    fake.vertex(**OFF).messages.create(model="claude-sonnet-4-5@20250929", max_tokens=100, messages=MESSAGES)
    attrs = only_span(captured)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    # A regional endpoint ({region}-aiplatform.googleapis.com) bills 1.1x the global price (pricing/multipliers.json).
    exact = (Decimal(1000) * 3 + Decimal(200) * 15) * Decimal("1.1") / Decimal(1_000_000)
    assert attrs[names.GEN_AI_USAGE_COST] == float(exact)
    assert attrs[names.LLMCOST_PRICE_MULTIPLIER_NAME] == "vertex_ai.regional_endpoint.claude"


def test_foundry_is_priced_as_anthropic(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=Tokens(input=1000, output=200))
    fake.foundry(**OFF).messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=MESSAGES)
    attrs = only_span(captured)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "anthropic"  # as the SDK names it on its own span
    assert attrs[names.SERVER_ADDRESS] == "res.services.ai.azure.com"
    assert attrs[names.GEN_AI_USAGE_COST] == usd(0.006)


def test_user_host_mapping_wins(instrument_with: Any) -> None:
    cap = instrument_with(provider_hosts={"llm-gateway.internal": "aws.bedrock"})
    fake = FakeAnthropic(tokens=Tokens(input=1000, output=200))
    client = fake.client(base_url="https://llm-gateway.internal", **OFF)
    client.messages.create(model="global.anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens=10, messages=MESSAGES)
    attrs = only_span(cap)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert attrs[names.GEN_AI_USAGE_COST] == usd(0.006)


def test_local_server_costs_nothing(captured: Captured) -> None:
    """A model no hosted price list knows, on a local address: self-hosted, $0."""
    create(FakeAnthropic(tokens=Tokens(input=1000, output=200)), model="qwen3:8b", base_url="http://localhost:11434")
    attrs = only_span(captured)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "anthropic"  # the API it speaks; server.address says where
    assert attrs[names.SERVER_ADDRESS] == "localhost"
    assert attrs[names.GEN_AI_USAGE_COST] == 0.0
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_LOCAL


def test_a_known_model_through_a_local_proxy_is_priced(captured: Captured) -> None:
    """A LiteLLM proxy or gateway on localhost in front of the paid API: Claude there is billed as Anthropic's."""
    create(FakeAnthropic(tokens=Tokens(input=1000, output=200)), base_url="http://localhost:4000")
    attrs = only_span(captured)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[names.GEN_AI_USAGE_COST] == usd(0.006)  # 1000 x $3 + 200 x $15, per million
    assert attrs[names.LLMCOST_PRICE_SOURCE].startswith(names.PRICE_SOURCE_BUNDLED)


def test_us_only_inference_bills_1_1x(captured: Captured) -> None:
    create(FakeAnthropic(tokens=Tokens(input=1000, output=200, inference_geo="us")))
    attrs = only_span(captured)
    exact = (Decimal(1000) * 3 + Decimal(200) * 15) * Decimal("1.1") / Decimal(1_000_000)
    assert attrs[names.GEN_AI_USAGE_COST] == float(exact)
    assert attrs[names.LLMCOST_PRICE_MULTIPLIER_NAME] == "anthropic.inference_geo.us"
    assert attrs[names.LLMCOST_PRICE_MULTIPLIER] == 1.1


def test_us_only_inference_stream_bills_1_1x(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=Tokens(input=1000, output=200, inference_geo="us"))
    with fake.client(**OFF).messages.stream(model=SONNET, max_tokens=1024, messages=MESSAGES) as stream:
        stream.until_done()
    attrs = only_span(captured)
    exact = (Decimal(1000) * 3 + Decimal(200) * 15) * Decimal("1.1") / Decimal(1_000_000)
    assert attrs[names.GEN_AI_USAGE_COST] == float(exact)


def test_global_inference_has_no_multiplier(captured: Captured) -> None:
    create(FakeAnthropic(tokens=Tokens(input=1000, output=200, inference_geo="global")))
    attrs = only_span(captured)
    assert attrs[names.GEN_AI_USAGE_COST] == usd(0.006)
    assert names.LLMCOST_PRICE_MULTIPLIER_NAME not in attrs


# --- batches ---------------------------------------------------------------------------------------
def batch_fake() -> FakeAnthropic:
    fake = FakeAnthropic()
    fake.batches["msgbatch_01"] = [
        batch_result("req-1", SONNET, Tokens(input=1000, output=500, service_tier="batch")),
        batch_result("req-2", SONNET, Tokens(input=2000, output=100, cache_read=4000, service_tier="batch")),
        batch_error("req-3"),
    ]
    return fake


def test_batch_results_priced_at_batch_rate_once_each(captured: Captured) -> None:
    fake = batch_fake()
    client = fake.client(**OFF)
    results = list(client.messages.batches.results("msgbatch_01"))
    assert [r.custom_id for r in results] == ["req-1", "req-2", "req-3"]
    # batch: input $1.50, cache read $0.15, output $7.50 (half the standard prices)
    first = 1000 * 1.5 / 1e6 + 500 * 7.5 / 1e6
    second = 2000 * 1.5 / 1e6 + 4000 * 0.15 / 1e6 + 100 * 7.5 / 1e6
    assert captured.total(names.METRIC_COST) == usd(first + second)
    assert captured.total(names.METRIC_SAVINGS, llmcost__savings__kind="batch") == usd(first + second)
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="input") == 1000 + 6000
    # Reading the results again (or through beta) prices nothing twice.
    list(client.messages.batches.results("msgbatch_01"))
    list(client.beta.messages.batches.results("msgbatch_01"))
    assert captured.total(names.METRIC_COST) == usd(first + second)
    # One span per results() call of ours (the SDK makes none here), no span per result.
    spans = client_spans(captured.exporter)
    assert len(spans) == 3
    attrs = attributes(spans[0])
    assert attrs[names.LLMCOST_BATCH_ID] == "msgbatch_01"
    assert attrs[names.LLMCOST_BATCH] is True


def test_batch_result_usage_alone_says_batch(captured: Captured) -> None:
    # service_tier "batch" in a result's usage is enough to bill it at the batch rate.
    usage = message_usage(Tokens(input=1000, output=500, service_tier="batch").usage())
    assert usage is not None and usage.batch
    runtime = captured.instrumentor.runtime
    cost = runtime.price(Request("anthropic", "chat", SONNET), Response(model=SONNET), usage)
    assert cost is not None and cost.total == usd(0.00525)


# --- streamed and plain calls of one conversation: identical usage and cost -----------------------
COMPARED = (
    names.GEN_AI_USAGE_COST,
    names.LLMCOST_COST_INPUT,
    names.LLMCOST_COST_OUTPUT,
    names.LLMCOST_COST_CACHE_READ,
    names.LLMCOST_COST_CACHE_WRITE,
    names.GEN_AI_USAGE_INPUT_TOKENS,
    names.GEN_AI_USAGE_OUTPUT_TOKENS,
    names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    names.LLMCOST_CACHE_WRITE_5M_TOKENS,
    names.LLMCOST_CACHE_WRITE_1H_TOKENS,
)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("delta_with_input", [False, True])
def test_streamed_and_plain_calls_report_identical_usage_and_cost(
    captured: Captured, config: str, delta_with_input: bool
) -> None:
    tokens = Tokens(input=1200, output=345, cache_read=3000, cache_5m=500, cache_1h=250, thinking=100)
    fake = FakeAnthropic(tokens=tokens, delta_with_input=delta_with_input)
    with configured(config) as setup:
        client = fake.client(**setup.options)
        request = {"model": SONNET, "max_tokens": 1024, "messages": MESSAGES}
        client.messages.create(**request)
        for _ in client.messages.create(**request, stream=True):
            pass
        with client.messages.stream(**request) as stream:
            stream.get_final_message()
        if hasattr(client.messages, "parse"):
            client.messages.parse(**request)
        spans = client_spans(captured.exporter, *setup.exporters)
    calls = 4 if hasattr(client.messages, "parse") else 3
    assert len(spans) == calls
    seen = [{key: attributes(span).get(key, 0) for key in COMPARED} for span in spans]
    assert all(s == seen[0] for s in seen), seen
    cost = 1200 * 3 + 3000 * 0.3 + 500 * 3.75 + 250 * 6 + 345 * 15
    assert seen[0][names.GEN_AI_USAGE_COST] == usd(cost / 1e6)
    assert captured.total(names.METRIC_COST) == usd(calls * cost / 1e6)
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="output") == calls * 345


# --- cross-check: our normalization + price book against genai-prices' own calc_price ----------------
counts = st.integers(min_value=0, max_value=400_000)


@settings(max_examples=60, deadline=None)
@given(uncached=counts, output=counts, read=counts, w5=counts, w1=counts)
def test_cost_matches_genai_prices_calc_price(uncached: int, output: int, read: int, w5: int, w1: int) -> None:
    from otel_llmcost.pricing import PriceBook

    usage = message_usage(Tokens(input=uncached, output=output, cache_read=read, cache_5m=w5, cache_1h=w1).usage())
    assert usage is not None
    ours = PriceBook().cost("anthropic", SONNET, usage)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=usage.input_tokens,
            cache_read_tokens=read,
            cache_write_tokens=w5 + w1,
            cache_write_1h_tokens=w1,
            output_tokens=output,
        ),
        SONNET,
        provider_id="anthropic",
    )
    assert ours is not None
    assert ours.total == pytest.approx(float(theirs.total_price), rel=1e-12, abs=1e-15)
