"""Exactly one CLIENT span per Anthropic API call, priced, in every configuration of the SDK's own tracing.

(a) ``sdk_on``: the SDK traces to the global provider; our span replaces its span, made as the SDK's would be
    (its tracer, so its provider and scope; its span name; its HTTP attributes; its trace context on the request).
(b) ``env_off`` (ANTHROPIC_OPEN_TELEMETRY=false) and ``option_off`` (open_telemetry=False): our span.
(c) ``own_provider``: the client's own tracer provider; our span replaces the SDK's there, in that provider.
A client in the SDK's content mode keeps the SDK's own span (only it records content), with our cost on it.
``no_global``: the SDK is on but no global provider is set (its tracer is a no-op proxy): our span.
Metrics are recorded once per call in all of them. Old SDKs (no self-tracing) run as ``default``: our span.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from anthropic_payloads import (
    CONFIGS,
    MESSAGES,
    SELF_TRACING,
    FakeAnthropic,
    Tokens,
    attributes,
    client_spans,
    configured,
    span_sink,
)
from conftest import Captured
from otel_llmcost import names

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SONNET = "claude-sonnet-4-5"
REQUEST = {"model": SONNET, "max_tokens": 1024, "messages": MESSAGES}
TOKENS = Tokens(input=1000, output=500, cache_read=2000, cache_5m=400, cache_1h=600)
COST = 0.0162
SDK_SCOPE = "com.anthropic.sdk.python"


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def _sync_entry_points(client: Any) -> dict[str, Callable[[], Any]]:
    messages = client.messages
    beta = client.beta.messages
    calls: dict[str, Callable[[], Any]] = {
        "create": lambda: messages.create(**REQUEST),
        "create_stream": lambda: _drain(messages.create(**REQUEST, stream=True)),
        "stream_helper": lambda: _with_stream(messages.stream(**REQUEST)),
        "count_tokens": lambda: messages.count_tokens(model=SONNET, messages=MESSAGES),
        "beta_create": lambda: beta.create(**REQUEST),
        "beta_stream_helper": lambda: _with_stream(beta.stream(**REQUEST)),
        "raw_response": lambda: messages.with_raw_response.create(**REQUEST).parse(),
        "raw_response_stream": lambda: _drain(messages.with_raw_response.create(**REQUEST, stream=True).parse()),
        "streaming_response": lambda: _streaming_response(messages),
    }
    if hasattr(messages, "parse"):
        calls["parse"] = lambda: messages.parse(**REQUEST)
    if hasattr(beta, "parse"):
        calls["beta_parse"] = lambda: beta.parse(**REQUEST)
    return calls


def _with_stream(manager: Any) -> Any:
    with manager as stream:
        return stream.get_final_message()


def _streaming_response(messages: Any) -> Any:
    with messages.with_streaming_response.create(**REQUEST) as response:
        return response.parse()


ENTRY_POINTS = sorted(_sync_entry_points(FakeAnthropic().client()))
UNPRICED = {"count_tokens"}


def _expect_cost_on_span(entry: str, sdk_records: bool) -> bool:
    # A with_streaming_response body is unread when the SDK records the call: its own span has no usage
    # either (a known gap of the SDK's recorder); the call's metrics are still priced when it is parsed.
    return entry not in UNPRICED and not (sdk_records and entry == "streaming_response")


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_one_span_per_call(captured: Captured, config: str, entry: str) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    with configured(config) as setup:
        client = fake.client(**setup.options)
        _sync_entry_points(client)[entry]()
        spans = client_spans(captured.exporter, *setup.exporters)
    assert len(spans) == 1, [(s.name, s.instrumentation_scope.name) for s in spans]
    span = spans[0]
    attrs = attributes(span)
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    assert scope == (SDK_SCOPE if setup.sdk_span else names.INSTRUMENTATION_SCOPE)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "anthropic"
    if _expect_cost_on_span(entry, setup.sdk_records):
        assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(COST)
        assert attrs[names.LLMCOST_CACHE_WRITE_1H_TOKENS] == 600
        assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 4000
    else:
        assert names.GEN_AI_USAGE_COST not in attrs
    if entry == "count_tokens" and not setup.sdk_records:
        assert attrs[names.ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS] == 42
        assert attrs[names.GEN_AI_OPERATION_NAME] == "count_tokens"
    # Metrics: once per call, priced once (count_tokens: no cost, and not counted as unpriced).
    durations = captured.points(names.METRIC_OPERATION_DURATION)
    assert sum(p.count for p in durations) == 1
    assert captured.total(names.METRIC_COST) == pytest.approx(0 if entry in UNPRICED else COST)
    assert captured.total(names.METRIC_UNPRICED) == 0
    assert captured.total(names.METRIC_REQUEST_COST) == pytest.approx(0 if entry in UNPRICED else COST)


async def _async_entry_points(client: Any) -> None:
    messages = client.messages
    await messages.create(**REQUEST)
    async for _ in await messages.create(**REQUEST, stream=True):
        pass
    async with messages.stream(**REQUEST) as stream:
        await stream.get_final_message()
    async with client.beta.messages.stream(**REQUEST) as stream:
        async for _ in stream.text_stream:
            pass
    await messages.count_tokens(model=SONNET, messages=MESSAGES)
    raw = await messages.with_raw_response.create(**REQUEST)
    parsed = raw.parse()  # a coroutine on anthropic 1.x/2.x; the Message itself on 0.x (legacy wrapper)
    if inspect.isawaitable(parsed):
        await parsed
    async with messages.with_streaming_response.create(**REQUEST, stream=True) as response:
        async for _ in await response.parse():
            pass
    if hasattr(messages, "parse"):
        await messages.parse(**REQUEST)


@pytest.mark.parametrize("config", CONFIGS)
def test_one_span_per_async_call(captured: Captured, config: str) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    with configured(config) as setup:
        client = fake.async_client(**setup.options)
        asyncio.run(_async_entry_points(client))
        spans = client_spans(captured.exporter, *setup.exporters)
    calls = 8 if hasattr(client.messages, "parse") else 7
    assert len(spans) == calls, [s.name for s in spans]
    priced = [s for s in spans if names.GEN_AI_USAGE_COST in attributes(s)]
    assert len(priced) == calls - 1  # all but count_tokens
    assert all(attributes(s)[names.GEN_AI_USAGE_COST] == pytest.approx(COST) for s in priced)
    assert sum(p.count for p in captured.points(names.METRIC_OPERATION_DURATION)) == calls
    assert captured.total(names.METRIC_COST) == pytest.approx((calls - 1) * COST)


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
def test_sdk_span_keeps_its_own_attributes_and_parent(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    with configured("sdk_on") as setup:
        app = trace.get_tracer("app")
        with app.start_as_current_span("app-operation") as parent:
            fake.client().messages.create(**REQUEST)
        spans = client_spans(*setup.exporters)
    assert not captured.spans()
    (span,) = spans
    attrs = attributes(span)
    assert span.name == "anthropic.messages.create"
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert attrs["http.request.method"] == "POST"  # the SDK's own attributes are still there
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(COST)
    assert attrs[names.LLMCOST_PRICE_SOURCE].startswith(names.PRICE_SOURCE_BUNDLED)


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
def test_sdk_span_and_ours_to_the_same_global_provider(instrument_with: Any) -> None:
    # The usual opentelemetry-instrument setup: one global provider, used by the SDK and by us.
    provider, exporter = span_sink()
    with configured("sdk_on"):
        trace._TRACER_PROVIDER = provider  # the global one, shared
        cap = instrument_with()
        fake = FakeAnthropic(tokens=TOKENS)
        client = fake.client()
        client.messages.create(**REQUEST)
        _drain(client.messages.create(**REQUEST, stream=True))
        spans = client_spans(exporter, cap.exporter)
    assert [s.name for s in spans] == ["anthropic.messages.create"] * 2
    assert all(attributes(s)[names.GEN_AI_USAGE_COST] == pytest.approx(COST) for s in spans)


@pytest.mark.parametrize("config", CONFIGS)
def test_failed_call_one_span_error_metrics(captured: Captured, config: str) -> None:
    import anthropic

    fake = FakeAnthropic(fail=(400, "invalid_request_error"))
    with configured(config) as setup:
        client = fake.client(**setup.options)
        with pytest.raises(anthropic.BadRequestError) as raised:
            client.messages.create(**REQUEST)
        spans = client_spans(captured.exporter, *setup.exporters)
    assert raised.value.status_code == 400
    assert len(spans) == 1
    assert attributes(spans[0])[names.ERROR_TYPE]
    points = captured.points(names.METRIC_OPERATION_DURATION)
    assert sum(p.count for p in points) == 1
    assert dict(points[0].attributes)[names.ERROR_TYPE] == "BadRequestError"


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
def test_sampled_out_sdk_span_still_metered_once(captured: Captured) -> None:
    # The SDK's span is made but not recorded (sampler says no): nothing is exported, metrics still count.
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    with configured("sdk_on") as setup:
        trace._TRACER_PROVIDER = TracerProvider(sampler=ALWAYS_OFF)
        client = FakeAnthropic(tokens=TOKENS).client()
        client.messages.create(**REQUEST)
        _drain(client.messages.create(**REQUEST, stream=True))
        _with_stream(client.messages.stream(**REQUEST))
        assert not client_spans(captured.exporter, *setup.exporters)
    assert sum(p.count for p in captured.points(names.METRIC_OPERATION_DURATION)) == 3
    assert captured.total(names.METRIC_COST) == pytest.approx(3 * COST)


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
@pytest.mark.parametrize("platform", ["bedrock", "vertex", "foundry"])
def test_platform_clients_sdk_span_priced(captured: Captured, platform: str) -> None:
    models = {
        "bedrock": ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws.bedrock"),
        "vertex": ("claude-sonnet-4-5@20250929", "gcp.vertex_ai"),
        "foundry": ("claude-sonnet-4-5", "anthropic"),
    }
    model, provider = models[platform]
    fake = FakeAnthropic(tokens=TOKENS)
    with configured("sdk_on") as setup:
        client = getattr(fake, platform)()
        client.messages.create(model=model, max_tokens=100, messages=MESSAGES)
        if platform != "bedrock":  # Bedrock streams are AWS event streams, decoded with botocore (not installed)
            _drain(client.messages.create(model=model, max_tokens=100, messages=MESSAGES, stream=True))
        spans = client_spans(captured.exporter, *setup.exporters)
    assert len(spans) == (1 if platform == "bedrock" else 2)
    for span in spans:
        attrs = attributes(span)
        assert span.instrumentation_scope is not None and span.instrumentation_scope.name.startswith(SDK_SCOPE)
        assert attrs[names.GEN_AI_PROVIDER_NAME] == provider
        # The fake's Vertex client is regional (us-east5): Claude 4.5+ bills 1.1x there (pricing/multipliers.json).
        assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(COST * (1.1 if platform == "vertex" else 1))


# Attributes of the SDK's own span that ours, in its place, leaves out on purpose: none today.
NOT_KEPT: set[str] = set()


def _sdk_own_span(fake: FakeAnthropic, call: Callable[[Any], Any], **options: Any) -> ReadableSpan:
    """The span the SDK alone makes for ``call`` (ours passes calls through under suppress_instrumentation)."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with configured("sdk_on") as setup:
        with suppress_instrumentation():
            call(fake.client(**options))
        (span,) = client_spans(*setup.exporters)
    return span


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_our_span_in_place_of_the_sdk_span_keeps_what_it_had(captured: Captured, streamed: bool) -> None:
    fake = FakeAnthropic(tokens=TOKENS)

    def call(client: Any) -> None:
        if streamed:
            _drain(client.messages.create(**REQUEST, stream=True))
        else:
            client.messages.create(**REQUEST)

    sdk = _sdk_own_span(fake, call)
    with configured("sdk_on") as setup:
        call(fake.client())
        (span,) = client_spans(captured.exporter, *setup.exporters)
    ours = attributes(span)
    assert span.name == sdk.name and span.kind is sdk.kind
    assert span.instrumentation_scope is not None and sdk.instrumentation_scope is not None
    assert span.instrumentation_scope.name == sdk.instrumentation_scope.name == SDK_SCOPE
    missing = set(attributes(sdk)) - set(ours) - NOT_KEPT
    assert not missing, missing
    # The SDK's values where both name the same thing (ours adds the cache writes to the input tokens, as
    # its own recorder does), plus our cost.
    for key in ("http.request.method", "http.route", "url.full", "http.response.status_code",
                "anthropic.request.id", "gen_ai.response.id", "gen_ai.request.model", "server.address"):
        assert ours[key] == attributes(sdk)[key], key
    assert ours[names.GEN_AI_USAGE_COST] == pytest.approx(COST)
    assert ours["anthropic.request.id"] == ("req_stream" if streamed else "req_01")


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
@pytest.mark.parametrize("propagation", [True, False])
def test_requests_carry_our_span_context_as_the_client_says(captured: Captured, propagation: bool) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    options: dict[str, Any] = {} if propagation else {"open_telemetry": {"propagation": False}}
    with configured("sdk_on") as setup:
        fake.client(**options).messages.create(**REQUEST)
        (span,) = client_spans(captured.exporter, *setup.exporters)
    (request,) = fake.requests
    if not propagation:
        assert "traceparent" not in request.headers
        return
    _, trace_id, span_id, _ = request.headers["traceparent"].split("-")
    assert int(trace_id, 16) == span.context.trace_id
    assert int(span_id, 16) == span.context.span_id  # the server sees the span that carries the cost


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
def test_failed_call_in_place_of_the_sdk_span_has_its_status(captured: Captured) -> None:
    import anthropic

    fake = FakeAnthropic(fail=(529, "overloaded_error"))
    with configured("sdk_on") as setup:
        with pytest.raises(anthropic.APIStatusError):
            fake.client().messages.create(**REQUEST)
        (span,) = client_spans(captured.exporter, *setup.exporters)
    attrs = attributes(span)
    assert attrs["http.response.status_code"] == 529
    assert attrs["anthropic.request.id"] == "req_err"
    assert attrs[names.ERROR_TYPE] == "OverloadedError"
    assert span.status.status_code.name == "ERROR"


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
def test_content_mode_keeps_the_sdk_span_with_our_cost(captured: Captured) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    content = {"open_telemetry": {"traces": {"content_mode": "content"}}}
    sdk = _sdk_own_span(fake, lambda client: client.messages.create(**REQUEST), **content)
    recorded = {key for key in attributes(sdk) if key not in ("gen_ai.usage.cost",)}
    with configured("sdk_on") as setup:
        fake.client(**content).messages.create(**REQUEST)
        (span,) = client_spans(captured.exporter, *setup.exporters)
    attrs = attributes(span)
    assert recorded <= set(attrs)  # the SDK's span, content included
    assert any("messages" in key for key in recorded)
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(COST)


@pytest.mark.skipif(not SELF_TRACING, reason="anthropic < 1.14 does not trace itself")
def test_retried_call_in_place_of_the_sdk_span_counts_its_resends(captured: Captured) -> None:
    import anthropic

    from anthropic_payloads import API, http

    fake = FakeAnthropic(tokens=TOKENS)
    sent: list[Any] = []

    def overloaded_once(request: Any) -> Any:
        sent.append(request)
        if len(sent) == 1:  # the API asks for a 1 ms wait: the SDK's retry, not a sleep of ours
            return http.Response(529, headers={"retry-after-ms": "1", "request-id": "req_busy"}, json={
                "type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
        return fake(request)

    with configured("sdk_on") as setup:
        client = anthropic.Anthropic(
            api_key="sk-ant-test", base_url=API, max_retries=1,
            http_client=http.Client(transport=http.MockTransport(overloaded_once)),
        )
        client.messages.create(**REQUEST)
        (span,) = client_spans(captured.exporter, *setup.exporters)
    attrs = attributes(span)
    assert len(sent) == 2
    assert attrs["http.request.resend_count"] == 1
    assert attrs["http.response.status_code"] == 200
    assert attrs["anthropic.request.id"] == "req_01"
    # Both attempts carried the context of the one span.
    assert {r.headers["traceparent"] for r in sent} == {sent[0].headers["traceparent"]}
    assert captured.total(names.METRIC_COST) == pytest.approx(COST)
