"""Gemini behaviour through the real google-genai clients: one span per request, streams end once, errors
unchanged, content only when asked, uninstrument() restores, and OpenTelemetry's own google-genai
instrumentation alongside still gives each call exactly one CLIENT span carrying our cost."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest
import wrapt
from google.genai import errors, models, types
from opentelemetry.trace import StatusCode

from gemini_payloads import WORDS, FakeGemini, Tokens, client
from otel_llmcost import LLMCostInstrumentor, names

FLASH = "gemini-2.5-flash"


def only_span(captured: Any) -> Any:
    spans = captured.client_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


@pytest.mark.parametrize("kind", ["gemini", "vertex"])
def test_sync_call_span_and_metrics(captured: Any, kind: str) -> None:
    fake = FakeGemini(Tokens(prompt=1_000, candidates=100))
    result = client(kind, fake).models.generate_content(
        model=FLASH,
        contents="Say hello.",
        config=types.GenerateContentConfig(max_output_tokens=256, temperature=0.5, top_p=0.9),
    )
    assert isinstance(result, types.GenerateContentResponse)
    assert result.text == "".join(WORDS)
    span = only_span(captured)
    attrs = span.attributes
    assert span.name == f"generate_content {FLASH}"
    assert attrs[names.GEN_AI_OPERATION_NAME] == "generate_content"
    assert attrs[names.SERVER_ADDRESS] == (
        "us-central1-aiplatform.googleapis.com" if kind == "vertex" else "generativelanguage.googleapis.com"
    )
    assert attrs[names.GEN_AI_REQUEST_MAX_TOKENS] == 256
    assert attrs[names.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert attrs[names.GEN_AI_REQUEST_TOP_P] == 0.9
    assert attrs[names.GEN_AI_RESPONSE_MODEL] == FLASH
    assert attrs[names.GEN_AI_RESPONSE_ID] == "resp-1"
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert names.GEN_AI_INPUT_MESSAGES not in attrs and names.GEN_AI_OUTPUT_MESSAGES not in attrs
    provider = "gcp.vertex_ai" if kind == "vertex" else "gcp.gemini"
    assert captured.total(names.METRIC_TOKENS, gen_ai__provider__name=provider, gen_ai__token__type="input") == 1_000
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="output") == 100
    assert captured.total(names.METRIC_COST, gen_ai__provider__name=provider) == pytest.approx(0.00055)


def test_async_call(captured: Any) -> None:
    fake = FakeGemini(Tokens(prompt=1_000, candidates=100))
    result = asyncio.run(client("gemini", fake).aio.models.generate_content(model=FLASH, contents="Hi"))
    assert result.usage_metadata.prompt_token_count == 1_000
    attrs = only_span(captured).attributes
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(0.00055)


def test_stream_ends_its_span_once_with_time_to_first_chunk(captured: Any) -> None:
    stream = client("gemini", FakeGemini()).models.generate_content_stream(model=FLASH, contents="Hi")
    assert "".join(chunk.text for chunk in stream) == "".join(WORDS)
    span = only_span(captured)
    assert span.attributes[names.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0
    assert len(captured.points(names.METRIC_TIME_TO_FIRST_CHUNK)) == 1


def test_stream_abandoned_early_ends_its_span_once(captured: Any) -> None:
    stream = client("gemini", FakeGemini()).models.generate_content_stream(model=FLASH, contents="Hi")
    for _ in stream:
        break
    stream.close()  # the SDK's generator: closing it drops our proxy of the request's stream
    del stream
    gc.collect()
    span = only_span(captured)
    assert span.end_time is not None
    assert span.status.status_code is not StatusCode.ERROR


def test_async_stream_abandoned_early(captured: Any) -> None:
    async def run() -> None:
        stream = await client("gemini", FakeGemini()).aio.models.generate_content_stream(model=FLASH, contents="Hi")
        async for _ in stream:
            break
        await stream.aclose()

    asyncio.run(run())
    gc.collect()
    assert only_span(captured).end_time is not None


@pytest.mark.parametrize("is_async", [False, True])
def test_api_error_reaches_the_caller_unchanged(captured: Any, is_async: bool) -> None:
    gemini = client("gemini", FakeGemini(fail_status=400))
    with pytest.raises(errors.ClientError) as raised:
        if is_async:
            asyncio.run(gemini.aio.models.generate_content(model=FLASH, contents="Hi"))
        else:
            gemini.models.generate_content(model=FLASH, contents="Hi")
    assert raised.value.code == 400
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[names.ERROR_TYPE] == "ClientError"
    assert captured.total(names.METRIC_COST) == 0


def test_each_request_of_a_continued_call_is_priced_on_its_own(captured: Any) -> None:
    """Automatic function calling sends a second request with the tool's result: two billed requests."""
    fake = FakeGemini(model_version="gemini-2.5-pro")
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Weather of a city.

        Args:
          city: the city.
        """
        calls.append(city)
        return "sunny"

    # Real types, not this module's postponed strings: google-genai before 2.34 reads them as they are, and then
    # sends the second request without calling the tool.
    get_weather.__annotations__ = {"city": str, "return": str}
    first = Tokens(prompt=150_000, candidates=10)
    second = Tokens(prompt=150_020, candidates=30)
    fake.replies = [first, second]
    original = fake._body

    def body(tokens: Tokens, text: str, usage: dict[str, Any]) -> dict[str, Any]:
        reply = original(tokens, text, usage)
        if tokens is first:  # the model asks for the tool
            reply["candidates"][0]["content"]["parts"] = [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
            ]
        return reply

    fake._body = body  # type: ignore[method-assign]
    client("gemini", fake).models.generate_content(
        model="gemini-2.5-pro", contents="Weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert calls == ["Paris"] and len(fake.requests) == 2
    spans = captured.client_spans()
    assert len(spans) == 2
    # Each request stays under 200k and is priced at the base rate; a sum (300,020) would have crossed the tier.
    costs = sorted(s.attributes[names.GEN_AI_USAGE_COST] for s in spans)
    assert costs == pytest.approx([150_000 * 1.25e-6 + 10 * 10e-6, 150_020 * 1.25e-6 + 30 * 10e-6])


def test_content_captured_only_when_asked(instrument_with: Any) -> None:
    captured = instrument_with(capture_content=True)
    client("gemini", FakeGemini()).models.generate_content(
        model=FLASH, contents="Say hello.", config={"system_instruction": "Be brief."}
    )
    attrs = only_span(captured).attributes
    assert "Say hello." in attrs[names.GEN_AI_INPUT_MESSAGES]
    assert "Be brief." in attrs[names.GEN_AI_SYSTEM_INSTRUCTIONS]
    assert "".join(WORDS) in attrs[names.GEN_AI_OUTPUT_MESSAGES]


@pytest.mark.skipif(
    "should_return_http_response" not in types.GenerateContentConfig.model_fields,
    reason="this google-genai release cannot return the raw HTTP response (a later one added it)",
)
def test_raw_http_response_is_still_priced(captured: Any) -> None:
    result = client("gemini", FakeGemini(Tokens(prompt=1_000, candidates=100))).models.generate_content(
        model=FLASH, contents="Hi", config=types.GenerateContentConfig(should_return_http_response=True)
    )
    assert result.usage_metadata is None and result.sdk_http_response is not None
    assert only_span(captured).attributes[names.GEN_AI_USAGE_COST] == pytest.approx(0.00055)


def test_per_request_methods_are_the_ones_wrapped(captured: Any) -> None:
    """If an SDK release renames them, this fails (rather than telemetry silently moving to the public methods)."""
    for owner in (models.Models, models.AsyncModels):
        assert isinstance(vars(owner)["_generate_content"], wrapt.FunctionWrapper)
        assert isinstance(vars(owner)["_generate_content_stream"], wrapt.FunctionWrapper)
        assert not isinstance(vars(owner)["generate_content"], wrapt.FunctionWrapper)


def test_uninstrument_restores_and_instrumenting_twice_wraps_once(captured: Any) -> None:
    wrapped = vars(models.Models)["_generate_content"]
    LLMCostInstrumentor().instrument()  # already instrumented: BaseInstrumentor does nothing
    assert vars(models.Models)["_generate_content"] is wrapped
    captured.instrumentor.uninstrument()
    for owner in (models.Models, models.AsyncModels):
        for name in ("_generate_content", "_generate_content_stream"):
            assert not isinstance(vars(owner)[name], wrapt.FunctionWrapper)
    client("gemini", FakeGemini()).models.generate_content(model=FLASH, contents="Hi")
    assert captured.client_spans() == []


@pytest.fixture
def google_genai_otel(captured: Any) -> Iterator[Any]:
    """OpenTelemetry's own google-genai instrumentation on the same providers (its declared range stops
    below google-genai 3, so it is forced on here as a user pinning it would)."""
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.google_genai")
    other = instrumentation.GoogleGenAiSdkInstrumentor()
    other.instrument(
        tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider, skip_dep_check=True
    )
    try:
        yield captured
    finally:
        other.uninstrument()


def _one_span_with_our_cost(captured: Any, cost: float) -> Any:
    spans = captured.client_spans()
    assert len(spans) == 1, [(s.name, s.instrumentation_scope.name) for s in spans]
    span = spans[0]
    assert span.instrumentation_scope.name == "opentelemetry.instrumentation.google_genai"
    assert span.attributes[names.GEN_AI_USAGE_COST] == pytest.approx(cost)
    assert span.attributes[names.LLMCOST_PRICE_SOURCE].startswith(names.PRICE_SOURCE_BUNDLED)
    assert captured.total(names.METRIC_COST) == pytest.approx(cost)  # metrics once
    return span


def test_beside_otel_google_genai_one_client_span_per_call(google_genai_otel: Any) -> None:
    gemini = client("gemini", FakeGemini(Tokens(prompt=1_000, candidates=100)))
    gemini.models.generate_content(model=FLASH, contents="Hi")
    _one_span_with_our_cost(google_genai_otel, 0.00055)


def test_beside_otel_google_genai_streams_and_async(google_genai_otel: Any) -> None:
    gemini = client("vertex", FakeGemini(Tokens(prompt=1_000, candidates=100)))
    assert len(list(gemini.models.generate_content_stream(model=FLASH, contents="Hi"))) == 5
    _one_span_with_our_cost(google_genai_otel, 0.00055)
    google_genai_otel.exporter.clear()

    async def run() -> None:
        await gemini.aio.models.generate_content(model=FLASH, contents="Hi")

    asyncio.run(run())
    spans = google_genai_otel.client_spans()
    assert len(spans) == 1 and spans[0].attributes[names.GEN_AI_USAGE_COST] == pytest.approx(0.00055)


def test_beside_otel_google_genai_requests_of_one_call_add_up(google_genai_otel: Any) -> None:
    fake = FakeGemini(Tokens(prompt=1_000, candidates=100))
    fake.replies = [Tokens(prompt=1_000, candidates=100, thoughts=50)]
    original = fake._body
    first: list[bool] = []

    def body(tokens: Tokens, text: str, usage: dict[str, Any]) -> dict[str, Any]:
        reply = original(tokens, text, usage)
        if not first:
            first.append(True)
            reply["candidates"][0]["content"]["parts"] = [{"functionCall": {"name": "ping", "args": {}}}]
        return reply

    def ping() -> str:
        """Ping."""
        return "pong"

    fake._body = body  # type: ignore[method-assign]
    config = types.GenerateContentConfig(tools=[ping])
    client("gemini", fake).models.generate_content(model=FLASH, contents="Hi", config=config)
    # Two requests under the other instrumentation's one span: (1,000 x 0.30 + 150 x 2.50) + (1,000 x 0.30 + 100 x 2.50)
    _one_span_with_our_cost(google_genai_otel, 0.000675 + 0.00055)
