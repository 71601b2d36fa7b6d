"""Anthropic streams: the span ends exactly once and metrics are recorded once, however the stream ends.

Full read, early close, ``with``, break and garbage collection, a connection cut mid-stream; raw
``stream=True`` streams and the ``messages.stream()`` helper (events, ``text_stream``, ``get_final_message()``,
``until_done()``), sync and async. The SDK's stream objects keep working as without us.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import pytest

from anthropic_payloads import (
    MESSAGES,
    SELF_TRACING,
    WORDS,
    FakeAnthropic,
    Tokens,
    attributes,
    client_spans,
    configured,
)
from conftest import Captured
from otel_llmcost import names

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SONNET = "claude-sonnet-4-5"
REQUEST = {"model": SONNET, "max_tokens": 1024, "messages": MESSAGES}
TOKENS = Tokens(input=1000, output=500, cache_read=2000, cache_5m=400, cache_1h=600)
COST = 0.0162
INPUT_ONLY_COST = (1000 * 3 + 2000 * 0.3 + 400 * 3.75 + 600 * 6 + 1 * 15) / 1e6  # message_start's 1 output token
STREAM_CONFIGS = ("sdk_on", "option_off", "sdk_content") if SELF_TRACING else ("default",)


def ended_once(cap: Captured, exporters: list[Any]) -> dict[str, Any]:
    """The call's one span, ended once; its metrics recorded once."""
    spans = client_spans(cap.exporter, *exporters)
    assert len(spans) == 1, [s.name for s in spans]
    assert sum(p.count for p in cap.points(names.METRIC_OPERATION_DURATION)) == 1
    return attributes(spans[0])


def no_metrics(cap: Captured) -> bool:
    """No call recorded (other series, such as the process-wide error counter, may exist)."""
    data = cap.reader.get_metrics_data()
    if data is None:
        return True
    return not any(
        metric.name == names.METRIC_OPERATION_DURATION and metric.data.data_points
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    )


@pytest.fixture(params=STREAM_CONFIGS)
def setup(request: pytest.FixtureRequest) -> Any:
    with configured(request.param) as made:
        yield made


def test_full_read(captured: Captured, setup: Any) -> None:
    stream = FakeAnthropic(tokens=TOKENS).client(**setup.options).messages.create(**REQUEST, stream=True)
    assert isinstance(stream, anthropic.Stream)
    if setup.sdk_records:  # the SDK records this stream itself and ends our call with its span: no proxy at all
        assert type(stream) is anthropic.Stream
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    attrs = ended_once(captured, setup.exporters)
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(COST)
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 500  # message_delta's running total, not 1 + 500
    assert captured.total(names.METRIC_COST) == pytest.approx(COST)
    if not setup.sdk_records:
        assert attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0
        assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)  # end_turn, as the conventions name it
    assert captured.points(names.METRIC_TIME_TO_FIRST_CHUNK)


def test_early_close(captured: Captured, setup: Any) -> None:
    stream = FakeAnthropic(tokens=TOKENS).client(**setup.options).messages.create(**REQUEST, stream=True)
    first = next(iter(stream))
    assert first.type == "message_start"
    stream.close()
    stream.close()  # twice: still one end
    attrs = ended_once(captured, setup.exporters)
    # Input usage is known from message_start (and billed); output is what the API had reported so far.
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 4000
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(INPUT_ONLY_COST)
    assert captured.total(names.METRIC_COST) == pytest.approx(INPUT_ONLY_COST)


def test_context_manager(captured: Captured, setup: Any) -> None:
    client = FakeAnthropic(tokens=TOKENS).client(**setup.options)
    with client.messages.create(**REQUEST, stream=True) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break
    ended_once(captured, setup.exporters)


def test_break_and_garbage_collection(captured: Captured, setup: Any) -> None:
    client = FakeAnthropic(tokens=TOKENS).client(**setup.options)

    def read_two() -> None:
        stream = client.messages.create(**REQUEST, stream=True)
        for i, _ in enumerate(stream):
            if i == 1:
                break

    read_two()
    gc.collect()
    ended_once(captured, setup.exporters)
    assert captured.total(names.METRIC_COST) == pytest.approx(INPUT_ONLY_COST)


def test_connection_cut_mid_stream(captured: Captured, setup: Any) -> None:
    client = FakeAnthropic(tokens=TOKENS, fail_after=4).client(**setup.options)
    stream = client.messages.create(**REQUEST, stream=True)
    seen = []
    with pytest.raises(Exception) as raised:
        for event in stream:
            seen.append(event.type)
    assert "message_start" in seen
    assert "anthropic" in type(raised.value).__module__ or "httpx" in type(raised.value).__module__
    attrs = ended_once(captured, setup.exporters)
    assert names.ERROR_TYPE in attrs
    point = captured.points(names.METRIC_OPERATION_DURATION)[0]
    assert dict(point.attributes)[names.ERROR_TYPE] == type(raised.value).__qualname__


def test_helper_get_final_message(captured: Captured, setup: Any) -> None:
    client = FakeAnthropic(tokens=TOKENS).client(**setup.options)
    manager = client.messages.stream(**REQUEST)
    assert type(manager).__name__ == "MessageStreamManager"
    assert not client_spans(captured.exporter, *setup.exporters)  # nothing is sent before __enter__
    with manager as stream:
        assert stream.request_id == "req_stream" if hasattr(stream, "request_id") else True
        message = stream.get_final_message()
        assert stream.get_final_text() == "".join(WORDS)
    assert message.usage.output_tokens == 500
    attrs = ended_once(captured, setup.exporters)
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(COST)


def test_helper_text_stream(captured: Captured, setup: Any) -> None:
    client = FakeAnthropic(tokens=TOKENS).client(**setup.options)
    with client.messages.stream(**REQUEST) as stream:
        assert "".join(stream.text_stream) == "".join(WORDS)
    assert ended_once(captured, setup.exporters)[names.GEN_AI_USAGE_COST] == pytest.approx(COST)


def test_helper_events_and_until_done(captured: Captured, setup: Any) -> None:
    client = FakeAnthropic(tokens=TOKENS).client(**setup.options)
    with client.messages.stream(**REQUEST) as stream:
        kinds = [event.type for event in stream]
        stream.until_done()
    assert "text" in kinds and kinds[-1] == "message_stop"
    assert captured.total(names.METRIC_COST) == pytest.approx(COST)
    ended_once(captured, setup.exporters)


def test_helper_left_early(captured: Captured, setup: Any) -> None:
    client = FakeAnthropic(tokens=TOKENS).client(**setup.options)
    with client.messages.stream(**REQUEST) as stream:
        next(iter(stream))
    ended_once(captured, setup.exporters)


def test_helper_error_on_enter(captured: Captured, setup: Any) -> None:
    client = FakeAnthropic(fail=(529, "overloaded_error")).client(**setup.options)
    with pytest.raises(anthropic.APIStatusError) as raised, client.messages.stream(**REQUEST):
        pass
    assert raised.value.status_code == 529
    assert names.ERROR_TYPE in ended_once(captured, setup.exporters)


def test_helper_never_entered_sends_nothing(captured: Captured, setup: Any) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    fake.client(**setup.options).messages.stream(**REQUEST)
    gc.collect()
    assert not fake.requests
    assert not client_spans(captured.exporter, *setup.exporters)
    assert no_metrics(captured)


def test_async_streams(captured: Captured, setup: Any) -> None:
    async def main() -> None:
        client = FakeAnthropic(tokens=TOKENS).async_client(**setup.options)
        stream = await client.messages.create(**REQUEST, stream=True)
        assert isinstance(stream, anthropic.AsyncStream)
        async for _ in stream:
            pass
        async with client.messages.stream(**REQUEST) as helper:
            text = [t async for t in helper.text_stream]
        assert "".join(text) == "".join(WORDS)
        async with client.messages.stream(**REQUEST) as helper:
            await helper.until_done()
        early = await client.messages.create(**REQUEST, stream=True)
        async for _ in early:
            break
        await early.close()

    asyncio.run(main())
    spans = client_spans(captured.exporter, *setup.exporters)
    assert len(spans) == 4
    assert sum(p.count for p in captured.points(names.METRIC_OPERATION_DURATION)) == 4
    assert captured.total(names.METRIC_COST) == pytest.approx(3 * COST + INPUT_ONLY_COST)


def test_async_helper_never_awaited(captured: Captured, setup: Any) -> None:
    fake = FakeAnthropic(tokens=TOKENS)
    with pytest.warns(RuntimeWarning, match="never awaited"):
        fake.async_client(**setup.options).messages.stream(**REQUEST)
        gc.collect()
    assert not fake.requests
    assert no_metrics(captured)
