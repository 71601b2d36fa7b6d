"""Anthropic entry points beyond messages.create: platform clients, beta and their copies, batches, raw
responses, errors, content capture; uninstrument; and the rule that our failures never reach the caller."""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
from typing import Any

import anthropic
import pytest
import wrapt
from opentelemetry.instrumentation.utils import suppress_instrumentation

from anthropic_payloads import (
    MESSAGES,
    OFF,
    SELF_TRACING,
    FakeAnthropic,
    Tokens,
    attributes,
    batch_error,
    batch_result,
    client_spans,
    configured,
)
from conftest import Captured, make_captured
from otel_llmcost import names
from otel_llmcost.providers import anthropic as adapter

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SONNET = "claude-sonnet-4-5"
REQUEST = {"model": SONNET, "max_tokens": 1024, "messages": MESSAGES}
TOKENS = Tokens(input=1000, output=500)
COST = 1000 * 3 / 1e6 + 500 * 15 / 1e6
# The fake's Vertex client is regional (us-east5): Claude 4.5+ there bills 1.1x global, as Bedrock's regional prices.
VERTEX_REGIONAL = (1000 * 3 + 500 * 15) * 1.1 / 1e6


def spans(cap: Captured) -> list[dict[str, Any]]:
    return [attributes(s) for s in client_spans(cap.exporter)]


def test_bedrock_and_vertex_beta_methods_are_instrumented(captured: Captured) -> None:
    # Their beta Messages classes copy the first-party functions at import; both copies are wrapped.
    fake = FakeAnthropic(tokens=TOKENS)
    fake.bedrock(**OFF).beta.messages.create(
        model="us.anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens=10, messages=MESSAGES
    )
    fake.vertex(**OFF).beta.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=10, messages=MESSAGES)
    bedrock, vertex = spans(captured)
    assert bedrock[names.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert bedrock[names.GEN_AI_USAGE_COST] == pytest.approx(1000 * 3.3 / 1e6 + 500 * 16.5 / 1e6)
    assert vertex[names.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert vertex[names.GEN_AI_USAGE_COST] == pytest.approx(VERTEX_REGIONAL)


def test_vertex_count_tokens_and_stream(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    client = fake.vertex(**OFF)
    assert client.messages.count_tokens(model="claude-sonnet-4-5@20250929", messages=MESSAGES).input_tokens == 42
    with client.messages.stream(model="claude-sonnet-4-5@20250929", max_tokens=10, messages=MESSAGES) as stream:
        stream.until_done()
    count, streamed = spans(captured)
    assert count[names.GEN_AI_OPERATION_NAME] == "count_tokens"
    assert names.GEN_AI_USAGE_COST not in count
    assert streamed[names.GEN_AI_USAGE_COST] == pytest.approx(VERTEX_REGIONAL)
    assert captured.total(names.METRIC_UNPRICED) == 0


@pytest.mark.parametrize("client_kind", ["client", "async_client"])
def test_batch_results_sync_and_async(captured: Captured, client_kind: str) -> None:
    fake = FakeAnthropic()
    batch_id = f"msgbatch_{client_kind}"  # results are priced once per process, by (batch id, custom_id)
    fake.batches[batch_id] = [
        batch_result("a", SONNET, Tokens(input=1000, output=500, service_tier="batch")),
        batch_error("b"),
    ]
    client = getattr(fake, client_kind)(**OFF)
    if client_kind == "client":
        entries = list(client.messages.batches.results(batch_id))
    else:

        async def read() -> list[Any]:
            return [entry async for entry in await client.messages.batches.results(batch_id)]

        entries = asyncio.run(read())
    assert [e.result.type for e in entries] == ["succeeded", "errored"]
    assert captured.total(names.METRIC_COST) == pytest.approx(1000 * 1.5 / 1e6 + 500 * 7.5 / 1e6)
    assert captured.total(names.METRIC_UNPRICED) == 0


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
def test_batch_results_with_sdk_tracing_make_no_span_of_ours(captured: Captured) -> None:
    fake = FakeAnthropic()
    fake.batches["msgbatch_y"] = [batch_result("a", SONNET, Tokens(input=1000, output=500, service_tier="batch"))]
    with configured("sdk_on") as setup:
        list(fake.client().messages.batches.results("msgbatch_y"))
        sdk = client_spans(*setup.exporters)
    assert not captured.spans()
    assert {s.name for s in sdk} <= {"anthropic.messages.batches.retrieve", "anthropic.messages.batches.results"}
    assert captured.total(names.METRIC_COST) == pytest.approx(1000 * 1.5 / 1e6 + 500 * 7.5 / 1e6)


def test_raw_response_priced_without_parse(captured: Captured) -> None:
    # with_raw_response reads the body: the call is priced even if the caller only looks at headers.
    fake = FakeAnthropic(tokens=TOKENS)
    raw = fake.client(**OFF).messages.with_raw_response.create(**REQUEST)
    assert raw.headers["request-id"] == "req_01"
    assert spans(captured)[0][names.GEN_AI_USAGE_COST] == pytest.approx(COST)
    assert raw.parse().usage.output_tokens == 500
    assert captured.total(names.METRIC_COST) == pytest.approx(COST)  # parse() does not count it again


def test_streaming_response_never_parsed_ends_when_dropped(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    with fake.client(**OFF).messages.with_streaming_response.create(**REQUEST) as response:
        assert response.http_response.status_code == 200
    del response
    gc.collect()
    (attrs,) = spans(captured)
    assert attrs[names.LLMCOST_USAGE_AVAILABLE] is False
    assert sum(p.count for p in captured.points(names.METRIC_OPERATION_DURATION)) == 1


def test_api_errors_reach_the_caller_unchanged(captured: Captured) -> None:
    fake = FakeAnthropic(fail=(429, "rate_limit_error"))
    with pytest.raises(anthropic.RateLimitError) as raised:
        fake.client(**OFF).messages.create(**REQUEST)
    assert raised.value.status_code == 429
    assert raised.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    (attrs,) = spans(captured)
    assert attrs[names.ERROR_TYPE] == "RateLimitError"


def test_content_capture(instrument_with: Any) -> None:
    cap = instrument_with(capture_content=True)
    fake = FakeAnthropic(tokens=TOKENS)
    client = fake.client(**OFF)
    client.messages.create(**REQUEST, system="Be brief.")
    for _ in client.messages.create(**REQUEST, stream=True):
        pass
    plain, streamed = spans(cap)
    assert json.loads(plain[names.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}
    ]
    assert json.loads(plain[names.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]
    reply = [{"role": "assistant", "parts": [{"type": "text", "content": "Hello there, friend."}],
              "finish_reason": "stop"}]
    assert json.loads(plain[names.GEN_AI_OUTPUT_MESSAGES]) == reply
    assert json.loads(streamed[names.GEN_AI_OUTPUT_MESSAGES]) == reply


def test_content_not_captured_by_default(captured: Captured) -> None:
    FakeAnthropic(tokens=TOKENS).client(**OFF).messages.create(**REQUEST)
    (attrs,) = spans(captured)
    assert names.GEN_AI_INPUT_MESSAGES not in attrs and names.GEN_AI_OUTPUT_MESSAGES not in attrs


def test_suppressed_calls_go_through_untouched(captured: Captured) -> None:
    client = FakeAnthropic(tokens=TOKENS).client(**OFF)
    with suppress_instrumentation():
        client.messages.create(**REQUEST)
        with client.messages.stream(**REQUEST) as stream:
            stream.until_done()
    assert not captured.spans()


def _break(monkeypatch: pytest.MonkeyPatch, name: str, broken: Any) -> None:
    """Replace one of our functions with ``broken`` in every module of the adapter that calls it."""
    for module in (adapter, adapter.usage, adapter.endpoints, adapter.methods, adapter.sdk_tracing):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, broken)


def test_our_failures_never_reach_the_caller(captured: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: make our own result handling raise; the SDK's result must still come back intact.
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in otel-llmcost")

    for name in ("message_result", "message_usage", "client_endpoint"):
        _break(monkeypatch, name, broken)
    client = FakeAnthropic(tokens=TOKENS).client(**OFF)
    message = client.messages.create(**REQUEST)
    assert message.usage.output_tokens == 500
    events = [event.type for event in client.messages.create(**REQUEST, stream=True)]
    assert events[-1] == "message_stop"
    with client.messages.stream(**REQUEST) as stream:
        assert stream.get_final_message().usage.output_tokens == 500
    assert captured.total(names.METRIC_INSTRUMENTATION_ERRORS) >= 3


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
def test_our_failures_in_the_sdk_hook_never_reach_the_caller(
    captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in otel-llmcost")

    _break(monkeypatch, "message_result", broken)
    with configured("sdk_on") as setup:
        client = FakeAnthropic(tokens=TOKENS).client()
        assert client.messages.create(**REQUEST).usage.output_tokens == 500
        assert [e.type for e in client.messages.create(**REQUEST, stream=True)][-1] == "message_stop"
        assert len(client_spans(*setup.exporters)) == 2
    assert captured.total(names.METRIC_INSTRUMENTATION_ERRORS) >= 2


def _patched_targets() -> list[tuple[Any, str]]:
    targets = []
    for module, path, *_ in (*adapter.METHODS, *adapter.HOOKS):
        try:
            owner: Any = importlib.import_module(module)
        except ImportError:
            continue
        *parents, attribute = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent, None)
        if owner is not None and attribute in vars(owner):
            targets.append((owner, attribute))
    return targets


def test_uninstrument_restores_everything() -> None:
    before = {(id(owner), attr): vars(owner)[attr] for owner, attr in _patched_targets()}
    assert before
    assert not any(isinstance(v, wrapt.FunctionWrapper) for v in before.values())
    cap = make_captured()
    during = {(id(owner), attr): vars(owner)[attr] for owner, attr in _patched_targets()}
    assert all(isinstance(v, wrapt.FunctionWrapper) for v in during.values())
    cap.instrumentor.uninstrument()
    after = {(id(owner), attr): vars(owner)[attr] for owner, attr in _patched_targets()}
    assert after == before
    fake = FakeAnthropic(tokens=TOKENS)
    client = fake.client(**OFF)
    client.messages.create(**REQUEST)
    with client.messages.stream(**REQUEST) as stream:
        stream.until_done()
    assert not cap.spans()
    cap.meter_provider.shutdown()
    cap.tracer_provider.shutdown()


def test_stream_proxy_is_the_sdk_stream_to_the_caller(captured: Captured) -> None:
    import copy

    client = FakeAnthropic(tokens=TOKENS).client(**OFF)
    stream = client.messages.create(**REQUEST, stream=True)
    assert isinstance(stream, anthropic.Stream)
    assert stream.response.status_code == 200
    assert copy.copy(stream) is stream.__wrapped__
    stream.close()
    astream_cls = anthropic.AsyncStream

    async def check() -> None:
        stream = await FakeAnthropic(tokens=TOKENS).async_client(**OFF).messages.create(**REQUEST, stream=True)
        assert isinstance(stream, astream_cls)
        await stream.close()

    asyncio.run(check())
