"""Ollama through the real ``ollama`` clients: tokens, $0 API spend, the configured hardware cost apart from it,
streams that end once, errors unchanged, the module-level functions, uninstrument()."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import ollama
import pytest
import wrapt
from opentelemetry.trace import StatusCode

from ollama_payloads import HOST, WORDS, FakeOllama, async_client, sync_client
from otel_llmcost import names

MODEL = "llama3.2"
MESSAGES = [{"role": "user", "content": "Say hello."}]
NS_PER_HOUR = Decimal(3_600_000_000_000)


def only_span(captured: Any) -> Any:
    spans = captured.client_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_chat_reports_tokens_zero_api_cost_and_the_gpu_hour_hardware_cost(instrument_with: Any) -> None:
    captured = instrument_with(hardware_usd_per_gpu_hour=Decimal("2.40"))
    fake = FakeOllama(prompt_eval_count=26, eval_count=298, total_duration_ns=5_191_566_416)
    result = sync_client(fake).chat(model=MODEL, messages=MESSAGES)
    assert isinstance(result, ollama.ChatResponse) and result.message.content == "".join(WORDS)

    # 5.191566416 s of server time at $2.40 per GPU-hour.
    hardware = Decimal(5_191_566_416) * Decimal("2.40") / NS_PER_HOUR
    assert round(hardware, 12) == Decimal("0.003461044277")
    span = only_span(captured)
    attrs = span.attributes
    assert span.name == f"chat {MODEL}"
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "ollama"
    assert attrs[names.GEN_AI_OPERATION_NAME] == "chat"
    assert (attrs[names.SERVER_ADDRESS], attrs[names.SERVER_PORT]) == ("127.0.0.1", 11434)
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 26
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 298
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[names.LLMCOST_SERVER_DURATION] == pytest.approx(5.191566416)
    # API spend: a known $0, from the local path; the hardware cost is its own figure.
    assert attrs[names.GEN_AI_USAGE_COST] == 0.0
    assert attrs[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_LOCAL
    assert attrs[names.LLMCOST_COST_HARDWARE] == pytest.approx(float(hardware))
    assert captured.total(names.METRIC_COST) == 0  # API spend totals and budgets never see it
    assert captured.total(names.METRIC_HARDWARE_COST, gen_ai__provider__name="ollama") == pytest.approx(float(hardware))
    assert captured.total(names.METRIC_TOKENS, gen_ai__provider__name="ollama", gen_ai__token__type="input") == 26
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="output") == 298
    assert captured.total(names.METRIC_UNPRICED) == 0


def test_hardware_rate_per_million_tokens(instrument_with: Any) -> None:
    captured = instrument_with(hardware_usd_per_mtok="0.50")
    sync_client(FakeOllama(prompt_eval_count=26, eval_count=298)).chat(model=MODEL, messages=MESSAGES)
    # (26 + 298) tokens x $0.50 per million
    expected = (26 + 298) * Decimal("0.50") / Decimal(1_000_000)
    assert expected == Decimal("0.000162")
    assert only_span(captured).attributes[names.LLMCOST_COST_HARDWARE] == pytest.approx(0.000162)
    assert captured.total(names.METRIC_HARDWARE_COST) == pytest.approx(0.000162)


def test_hardware_rate_from_the_environment(instrument_with: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(names.ENV_HARDWARE_USD_PER_GPU_HOUR, "3.6")
    captured = instrument_with()
    sync_client(FakeOllama(total_duration_ns=1_000_000_000)).chat(model=MODEL, messages=MESSAGES)
    # 1 s at $3.60 per hour
    assert only_span(captured).attributes[names.LLMCOST_COST_HARDWARE] == pytest.approx(0.001)


def test_no_hardware_rate_no_hardware_cost(captured: Any) -> None:
    sync_client(FakeOllama()).chat(model=MODEL, messages=MESSAGES)
    attrs = only_span(captured).attributes
    assert names.LLMCOST_COST_HARDWARE not in attrs
    assert attrs[names.GEN_AI_USAGE_COST] == 0.0
    assert captured.points(names.METRIC_HARDWARE_COST) == []


def test_generate_and_embed(captured: Any) -> None:
    client = sync_client(FakeOllama(prompt_eval_count=7, eval_count=11))
    assert client.generate(MODEL, "Say hello.").response == "".join(WORDS)  # positional model and prompt
    embedded = client.embed(model="nomic-embed-text", input=["a", "b"])
    assert len(embedded.embeddings) == 2
    client.embeddings(model="nomic-embed-text", prompt="a")  # the deprecated API reports no counts
    generate, embed, legacy = sorted(captured.client_spans(), key=lambda s: s.start_time)
    assert generate.name == f"text_completion {MODEL}"
    assert generate.attributes[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 11
    assert embed.name == "embeddings nomic-embed-text"
    assert embed.attributes[names.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert names.GEN_AI_USAGE_OUTPUT_TOKENS not in embed.attributes  # none defined for embeddings
    assert legacy.attributes[names.LLMCOST_USAGE_AVAILABLE] is False


def test_prompt_served_from_the_kv_cache_reports_zero_input(captured: Any) -> None:
    sync_client(FakeOllama(prompt_eval_count=None, eval_count=5)).chat(model=MODEL, messages=MESSAGES)
    attrs = only_span(captured).attributes
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 0 and attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_async_chat_generate_embed(instrument_with: Any) -> None:
    captured = instrument_with(hardware_usd_per_mtok=1)
    client = async_client(FakeOllama(prompt_eval_count=100, eval_count=900))

    async def run() -> None:
        await client.chat(model=MODEL, messages=MESSAGES)
        await client.generate(model=MODEL, prompt="Hi")
        await client.embed(model="nomic-embed-text", input="a")

    asyncio.run(run())
    spans = captured.client_spans()
    assert sorted(s.attributes[names.GEN_AI_OPERATION_NAME] for s in spans) == ["chat", "embeddings", "text_completion"]
    # chat and generate: 1,000 tokens at $1 per million each; embed: 100 input tokens
    assert captured.total(names.METRIC_HARDWARE_COST) == pytest.approx(0.001 + 0.001 + 0.0001)


def test_stream_usage_from_the_final_chunk(instrument_with: Any) -> None:
    captured = instrument_with(hardware_usd_per_gpu_hour=2)
    stream = sync_client(FakeOllama(total_duration_ns=1_800_000_000)).chat(model=MODEL, messages=MESSAGES, stream=True)
    assert "".join(chunk.message.content for chunk in stream) == "".join(WORDS)
    attrs = only_span(captured).attributes
    assert attrs[names.GEN_AI_REQUEST_STREAM] is True
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 26 and attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 298
    assert attrs[names.LLMCOST_COST_HARDWARE] == pytest.approx(0.001)  # 1.8 s at $2 per hour
    assert attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0


def test_async_stream(captured: Any) -> None:
    async def run() -> str:
        stream = await async_client(FakeOllama()).generate(model=MODEL, prompt="Hi", stream=True)
        return "".join([chunk.response async for chunk in stream])

    assert asyncio.run(run()) == "".join(WORDS)
    assert only_span(captured).attributes[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 298


def test_stream_abandoned_ends_its_span_once_without_inventing_usage(captured: Any) -> None:
    stream = sync_client(FakeOllama()).chat(model=MODEL, messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.close()
    del stream
    gc.collect()
    attrs = only_span(captured).attributes
    assert attrs[names.LLMCOST_USAGE_AVAILABLE] is False
    assert attrs[names.LLMCOST_USAGE_UNAVAILABLE_REASON]


def test_async_stream_aclose_ends_the_span(captured: Any) -> None:
    async def run() -> None:
        stream = await async_client(FakeOllama()).chat(model=MODEL, messages=MESSAGES, stream=True)
        await stream.__anext__()
        await stream.aclose()
        assert len(captured.client_spans()) == 1  # ended by aclose(), not later by garbage collection

    asyncio.run(run())


def test_error_reaches_the_caller_unchanged(captured: Any) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        sync_client(FakeOllama(fail_status=404)).chat(model="missing", messages=MESSAGES)
    assert raised.value.status_code == 404
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[names.ERROR_TYPE] == "ResponseError"


def test_remote_self_hosted_server_is_still_local_but_ollama_com_is_not(captured: Any) -> None:
    sync_client(FakeOllama(), host="http://gpu-box.internal:11434").chat(model=MODEL, messages=MESSAGES)
    sync_client(FakeOllama(), host="https://ollama.com").chat(model="gpt-oss:120b", messages=MESSAGES)
    own, cloud = sorted(captured.client_spans(), key=lambda s: s.start_time)
    assert own.attributes[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_LOCAL
    assert cloud.attributes[names.GEN_AI_PROVIDER_NAME] == "ollama"
    assert cloud.attributes[names.LLMCOST_PRICE_SOURCE] == names.PRICE_SOURCE_UNKNOWN  # no price: not $0
    assert captured.total(names.METRIC_UNPRICED) == 1


def test_price_file_prices_a_local_model_as_the_user_says(instrument_with: Any, tmp_path: Any) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  - provider: ollama\n    model: llama3.2\n    input: 1\n    output: 1\n")
    captured = instrument_with(price_file=str(prices))
    sync_client(FakeOllama(prompt_eval_count=500_000, eval_count=500_000)).chat(model=MODEL, messages=MESSAGES)
    assert only_span(captured).attributes[names.GEN_AI_USAGE_COST] == pytest.approx(1.0)


def test_content_only_when_asked(instrument_with: Any) -> None:
    captured = instrument_with(capture_content=True)
    sync_client(FakeOllama()).chat(MODEL, MESSAGES)  # positional messages
    attrs = only_span(captured).attributes
    assert "Say hello." in attrs[names.GEN_AI_INPUT_MESSAGES]
    assert "".join(WORDS) in attrs[names.GEN_AI_OUTPUT_MESSAGES]


@pytest.fixture
def default_client_on(fake: FakeOllama) -> Iterator[FakeOllama]:
    """The package's default client (behind ``ollama.chat`` & co.) talking to the fake API."""
    default = ollama._client
    original = default._client
    default._client = httpx.Client(base_url=HOST, transport=httpx.MockTransport(fake))
    try:
        yield fake
    finally:
        default._client = original


@pytest.fixture
def fake() -> FakeOllama:
    return FakeOllama(prompt_eval_count=3, eval_count=4)


def test_module_level_functions_are_instrumented(captured: Any, default_client_on: FakeOllama) -> None:
    ollama.chat(model=MODEL, messages=MESSAGES)
    ollama.generate(MODEL, "Hi")
    ollama.embed(model="nomic-embed-text", input="a")
    spans = captured.client_spans()
    assert len(spans) == 3 and len(default_client_on.paths) == 3  # one span per call, none doubled
    assert {s.attributes[names.GEN_AI_OPERATION_NAME] for s in spans} == {"chat", "text_completion", "embeddings"}


def test_uninstrument_restores_every_method(captured: Any, default_client_on: FakeOllama) -> None:
    client_module = sys.modules["ollama._client"]  # ollama._client is the default client, shadowing the module
    assert isinstance(vars(client_module.Client)["chat"], wrapt.FunctionWrapper)
    assert isinstance(vars(ollama)["chat"], wrapt.FunctionWrapper)
    captured.instrumentor.uninstrument()
    for owner in (client_module.Client, client_module.AsyncClient):
        for method in ("chat", "generate", "embed", "embeddings"):
            assert not isinstance(vars(owner)[method], wrapt.FunctionWrapper)
    assert not isinstance(vars(ollama)["chat"], wrapt.FunctionWrapper)
    ollama.chat(model=MODEL, messages=MESSAGES)
    sync_client(FakeOllama()).chat(model=MODEL, messages=MESSAGES)
    assert captured.client_spans() == []
