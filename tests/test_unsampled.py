"""Unsampled calls: a span the sampler drops builds no span data, and the call's metrics are those of a sampled one.

Production apps sample traces (a parent-based 1-10% ratio is common): for most calls the SDK hands out a
non-recording span. Such a call must cost only its metrics path: no span attributes, events or captured content
are built. What a call builds is seen from outside: captured message content is serialized only when it is written
to a span, and a message object that counts how often it is turned into text shows whether that happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

from conftest import Captured, make_captured
from openai_payloads import FakeOpenAI, Tokens
from otel_llmcost import Budget, names

CALLS = [
    Tokens(prompt=10_000, cached=8_000, completion=500),
    Tokens(prompt=3_000, cache_write=1_000, completion=1_000),
    Tokens(prompt=7, completion=3),
]


class Message(pydantic.BaseModel):
    """A chat message the SDK sends as JSON; ``str()`` of it is what serializing it as captured content takes."""

    role: str
    content: str
    serialized: list[int] = pydantic.Field(default_factory=list, exclude=True)

    def __str__(self) -> str:
        self.serialized.append(1)
        return self.content

    def __getattribute__(self, name: str) -> Any:
        if name == "content":  # reading it is what converting it to captured content takes
            object.__getattribute__(self, "serialized").append(1)
        return super().__getattribute__(name)


@pytest.fixture
def run() -> Iterator[Any]:
    made: list[Captured] = []

    def factory(sampler: Sampler, parent: trace.SpanContext | None = None, **options: Any) -> tuple[Captured, Message]:
        cap = make_captured(sampler, capture_content=True, **options)
        made.append(cap)
        api = FakeOpenAI()
        client = api.client()
        message = Message(role="user", content="Say hello")
        token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(parent))) if parent else None
        try:
            for tokens in CALLS:
                api.tokens = tokens
                client.chat.completions.create(model="gpt-4o", messages=[message])  # type: ignore[list-item]
        finally:
            if token is not None:
                context.detach(token)
            cap.instrumentor.uninstrument()  # one instrumentor per process: the next run instruments anew
        return cap, message

    yield factory
    for cap in made:
        cap.tracer_provider.shutdown()
        cap.meter_provider.shutdown()


def _points(cap: Captured) -> dict[tuple[str, frozenset[Any]], tuple[Any, ...]]:
    """Every metric point by (metric, attributes): counters' values, histograms' counts (and sums, but for the
    durations, which are times)."""
    found: dict[tuple[str, frozenset[Any]], tuple[Any, ...]] = {}
    for rm in cap.metrics().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, frozenset((point.attributes or {}).items()))
                    if hasattr(point, "value"):
                        found[key] = (point.value,)
                    elif metric.name == names.METRIC_OPERATION_DURATION:
                        found[key] = (point.count,)
                    else:
                        found[key] = (point.count, point.sum, tuple(point.bucket_counts))
    return found


UNSAMPLED_PARENT = trace.SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=trace.TraceFlags(0))


@pytest.mark.parametrize(
    ("sampler", "parent"),
    [
        (ParentBased(ALWAYS_OFF), None),
        (TraceIdRatioBased(0.0), None),
        (ParentBased(ALWAYS_ON), UNSAMPLED_PARENT),  # the app's trace was not sampled upstream
    ],
    ids=["parent-based-off", "ratio-0", "unsampled-parent"],
)
def test_unsampled_call_records_the_metrics_of_a_sampled_one_and_builds_no_span_data(
    run: Any, sampler: Sampler, parent: trace.SpanContext | None
) -> None:
    sampled, sampled_message = run(ALWAYS_ON)
    unsampled, unsampled_message = run(sampler, parent)

    assert len(sampled.client_spans()) == len(CALLS)
    assert sampled_message.serialized  # the probe works: a sampled call writes the captured content
    assert unsampled.spans() == []
    assert unsampled_message.serialized == []  # no captured content built for a span nobody records
    points = _points(sampled)
    assert points == _points(unsampled)
    assert sum(v[0] for (name, _), v in points.items() if name == names.METRIC_REQUESTS) == len(CALLS)


def test_unsampled_call_still_settles_its_budget(run: Any) -> None:
    """The budget and its threshold counter see an unsampled call as any other; only the span event is gone."""
    budget = Budget("all", limit="0.01", thresholds=(0.5,))
    sampled, _ = run(ALWAYS_ON, budgets=[budget])
    unsampled, _ = run(ParentBased(ALWAYS_OFF), budgets=[budget])

    events = [e.name for s in sampled.client_spans() for e in s.events]
    assert names.LLMCOST_BUDGET_THRESHOLD_EVENT in events
    assert unsampled.spans() == []
    crossed = {
        name: v for (name, _), v in _points(unsampled).items() if name == names.METRIC_BUDGET_THRESHOLD_CROSSINGS
    }
    assert crossed and crossed == {
        name: v for (name, _), v in _points(sampled).items() if name == names.METRIC_BUDGET_THRESHOLD_CROSSINGS
    }


@pytest.mark.parametrize("sdk", ["anthropic", "gemini", "ollama"])
def test_other_providers_build_no_content_for_an_unsampled_call(sdk: str) -> None:
    """Anthropic, Gemini and Ollama convert captured input content as lazily as OpenAI: only for a written span.
    The probe counts the SDK's own reads too: an unsampled call reads the content exactly as often as the SDK alone."""
    reads = {}
    for name, sampler in (("off", None), ("sampled", ALWAYS_ON), ("unsampled", ParentBased(ALWAYS_OFF))):
        cap = make_captured(sampler, capture_content=True) if sampler is not None else None
        message = Message(role="user", content="Say hello")
        try:
            if sdk == "anthropic":
                from anthropic_payloads import FakeAnthropic

                FakeAnthropic().client().messages.create(
                    model="claude-sonnet-4-5", max_tokens=10, messages=[message])  # type: ignore[list-item]
            elif sdk == "gemini":
                from google.genai import types

                from otel_llmcost.fakes.gemini_api import FakeGemini, gemini_client

                class CountingPart(types.Part):
                    def __getattribute__(self, attribute: str, seen: list[int] = message.serialized) -> Any:
                        if attribute == "text":  # reading it is what converting it to captured content takes
                            seen.append(1)
                        return super().__getattribute__(attribute)

                gemini_client(FakeGemini()).models.generate_content(
                    model="gemini-2.5-flash", contents=[types.Content(role="user", parts=[CountingPart(text="Hi")])])
            else:
                from otel_llmcost.fakes.ollama_api import FakeOllama, sync_client

                sync_client(FakeOllama()).chat(model="llama3.2", messages=[message])
        finally:
            if cap is not None:
                cap.instrumentor.uninstrument()
                cap.tracer_provider.shutdown()
                cap.meter_provider.shutdown()
        reads[name] = len(message.serialized), len(cap.client_spans()) if cap is not None else 0
    assert reads["sampled"][0] > reads["off"][0] and reads["sampled"][1] == 1  # the probe works
    assert reads["unsampled"] == (reads["off"][0], 0)
