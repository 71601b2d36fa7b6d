"""The CLIENT span of an OpenAI call: one per call, its name, every attribute, and content only on request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import genai_prices
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from openai_payloads import (
    HAS_RESPONSES,
    MESSAGES,
    FakeOpenAI,
    Tokens,
    attributes,
    http,
    needs_responses,
    only_span,
    usd,
)
from otel_llmcost import names

BUNDLED = f"genai-prices@{genai_prices.__version__}"
SECRET_PROMPT = "my password is hunter2, please remember it"


def test_chat_span_has_every_attribute(captured: Any) -> None:
    api = FakeOpenAI(
        model="gpt-4o-2024-08-06",
        tokens=Tokens(prompt=1_200, cached=1_024, cache_write=100, completion=300, reasoning=0),
    )
    api.client().chat.completions.create(
        model="gpt-4o", messages=MESSAGES, max_tokens=512, temperature=0.2, top_p=0.9, service_tier="default"
    )
    span = only_span(captured)
    assert span.name == "chat gpt-4o"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope.name == names.INSTRUMENTATION_SCOPE
    uncached = 1_200 - 1_024 - 100
    # OpenAI does not price cache writes separately: they pay the input price ($2.50).
    found = attributes(span)
    assert len(found.pop(names.LLMCOST_REQUEST_FINGERPRINT)) == 32  # keyed hashes, never the content
    assert [len(h) for h in found.pop(names.LLMCOST_REQUEST_PREFIX_FINGERPRINTS)] == [32]
    assert found.pop(names.LLMCOST_REQUEST_PREFIX_BOUNDARIES) == (1,)
    assert found.pop(names.LLMCOST_REQUEST_PREFIX_TOKENS)[0] > 0
    assert found.pop(names.LLMCOST_REQUEST_ORIGIN) == "none"
    assert found == {
        names.GEN_AI_OPERATION_NAME: "chat",
        names.GEN_AI_PROVIDER_NAME: "openai",
        names.GEN_AI_REQUEST_MODEL: "gpt-4o",
        names.GEN_AI_REQUEST_MAX_TOKENS: 512,
        names.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        names.GEN_AI_REQUEST_TOP_P: 0.9,
        names.OPENAI_REQUEST_SERVICE_TIER: "default",
        names.SERVER_ADDRESS: "api.openai.com",
        names.SERVER_PORT: 443,
        names.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
        names.GEN_AI_RESPONSE_ID: "chatcmpl-test123",
        names.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_mock0000",
        names.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        names.GEN_AI_USAGE_INPUT_TOKENS: 1_200,
        names.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
        names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1_024,
        names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100,
        names.LLMCOST_SERVICE_TIER: "default",
        names.OPENAI_RESPONSE_SERVICE_TIER: "default",
        names.GEN_AI_USAGE_COST: usd((uncached, "2.50"), (1_024, "1.25"), (100, "2.50"), (300, "10")),
        names.LLMCOST_COST_INPUT: usd((uncached, "2.50")),
        names.LLMCOST_COST_CACHE_READ: usd((1_024, "1.25")),
        names.LLMCOST_COST_CACHE_WRITE: usd((100, "2.50")),
        names.LLMCOST_COST_OUTPUT: usd((300, "10")),
        names.LLMCOST_SAVINGS_CACHE: usd((1_024, "1.25")),
        names.LLMCOST_PRICE_SOURCE: BUNDLED,
    }


@needs_responses
def test_responses_span_with_reasoning(captured: Any) -> None:
    api = FakeOpenAI(tokens=Tokens(prompt=500, completion=900, reasoning=700))
    api.client().responses.create(model="o3", input="Prove it", max_output_tokens=1_000)
    span = only_span(captured)
    attrs = attributes(span)
    assert span.name == "chat o3"
    assert attrs[names.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[names.GEN_AI_REQUEST_MAX_TOKENS] == 1_000
    assert attrs[names.GEN_AI_RESPONSE_ID] == "resp_test123"
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)  # from the output items, not the status
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 900
    assert attrs[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 700
    # o3: $2 in, $8 out.
    assert attrs[names.GEN_AI_USAGE_COST] == usd((500, "2"), (900, "8"))
    assert attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0  # reported as 0: written, as officially


def test_embeddings_span(captured: Any) -> None:
    api = FakeOpenAI(tokens=Tokens(prompt=2_000))
    api.client().embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    span = only_span(captured)
    attrs = attributes(span)
    assert span.name == "embeddings text-embedding-3-small"
    assert attrs[names.GEN_AI_OPERATION_NAME] == "embeddings"
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 2_000
    assert names.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs  # the conventions define none for embeddings
    assert attrs[names.GEN_AI_USAGE_COST] == usd((2_000, "0.02"))


def test_one_span_per_call(captured: Any) -> None:
    client = FakeOpenAI().client()
    for _ in range(5):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    spans = captured.client_spans()
    assert len(spans) == 5
    assert len(captured.spans()) == 5  # nothing else (no internal spans)
    assert len({s.context.span_id for s in spans}) == 5


def test_span_is_current_while_the_request_is_sent(captured: Any) -> None:
    seen: list[int] = []
    api = FakeOpenAI(on_request=lambda request: seen.append(trace.get_current_span().get_span_context().span_id))
    tracer = captured.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler") as parent:
        api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert trace.get_current_span() is parent  # our context is detached again
    span = only_span(captured)
    assert seen == [span.context.span_id]
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id


def test_no_content_by_default(captured: Any) -> None:
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": SECRET_PROMPT}]
    client = FakeOpenAI().client()
    client.chat.completions.create(model="gpt-4o", messages=messages)
    for chunk in client.chat.completions.create(model="gpt-4o", messages=messages, stream=True):
        del chunk
    if HAS_RESPONSES:
        client.responses.create(model="gpt-4o", input=SECRET_PROMPT, instructions="Be terse.")
    spans = captured.client_spans()
    assert len(spans) == (3 if HAS_RESPONSES else 2)
    for span in spans:
        attrs = attributes(span)
        for key in (names.GEN_AI_INPUT_MESSAGES, names.GEN_AI_OUTPUT_MESSAGES, names.GEN_AI_SYSTEM_INSTRUCTIONS):
            assert key not in attrs
        text = json.dumps(attrs, default=str)
        assert "hunter2" not in text
        assert "Hello there" not in text
        assert "terse" not in text


@pytest.mark.parametrize("how", ["env", "argument"])
def test_content_captured_when_asked(
    instrument_with: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "env":
        monkeypatch.setenv(names.ENV_CAPTURE_CONTENT, "true")
        captured = instrument_with()
    else:
        captured = instrument_with(capture_content=True)
    messages = [{"role": "user", "content": SECRET_PROMPT}]
    client = FakeOpenAI().client()
    client.chat.completions.create(model="gpt-4o", messages=messages)
    stream = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    for chunk in stream:
        del chunk
    chat, streamed = (attributes(s) for s in captured.client_spans()[:2])
    # The conventions' format: messages of typed parts, output messages with their finish reason.
    user = [{"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]}]
    reply = [{"role": "assistant", "parts": [{"type": "text", "content": "Hello there, friend."}],
              "finish_reason": "stop"}]
    assert json.loads(chat[names.GEN_AI_INPUT_MESSAGES]) == user
    assert json.loads(chat[names.GEN_AI_OUTPUT_MESSAGES]) == reply
    if HAS_RESPONSES:
        client.responses.create(model="gpt-4o", input=SECRET_PROMPT, instructions="Be terse.")
        responses = attributes(captured.client_spans()[2])
        assert json.loads(responses[names.GEN_AI_INPUT_MESSAGES]) == user
        assert json.loads(responses[names.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be terse."}]
        assert json.loads(responses[names.GEN_AI_OUTPUT_MESSAGES]) == reply
    assert json.loads(streamed[names.GEN_AI_INPUT_MESSAGES]) == user
    assert json.loads(streamed[names.GEN_AI_OUTPUT_MESSAGES]) == reply


def test_content_truncated_at_configured_length(
    instrument_with: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.ENV_CAPTURE_CONTENT, "true")
    monkeypatch.setenv(names.ENV_CONTENT_MAX_LENGTH, "16")
    captured = instrument_with()
    client = FakeOpenAI().client()
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": SECRET_PROMPT}])
    chat = attributes(only_span(captured))
    full = json.dumps([{"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]}], ensure_ascii=False)
    assert chat[names.GEN_AI_INPUT_MESSAGES] == full[:16] + "…"
    output = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Hello there, friend."}],
                          "finish_reason": "stop"}], ensure_ascii=False)
    assert chat[names.GEN_AI_OUTPUT_MESSAGES] == output[:16] + "…"
    if HAS_RESPONSES:
        client.responses.create(model="gpt-4o", input=SECRET_PROMPT)
        responses = attributes(captured.client_spans()[1])
        assert responses[names.GEN_AI_INPUT_MESSAGES] == full[:16] + "…"
        assert responses[names.GEN_AI_OUTPUT_MESSAGES] == output[:16] + "…"


def test_no_model_argument_still_one_span(captured: Any) -> None:
    # A call the SDK rejects before sending still ends its span (with the SDK's error).
    client = FakeOpenAI().client()
    with pytest.raises(TypeError):
        client.chat.completions.create(messages=MESSAGES)  # type: ignore[call-overload]
    span = only_span(captured)
    assert span.name == "chat"
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)[names.ERROR_TYPE] == "TypeError"


def test_http_error_is_not_double_counted_with_transport_error(captured: Any) -> None:
    def boom(request: Any) -> None:
        raise http.ConnectError("connection refused", request=request)

    import openai

    client = FakeOpenAI(on_request=boom).client(max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    span = only_span(captured)
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)[names.ERROR_TYPE] == "APIConnectionError"
