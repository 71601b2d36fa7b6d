"""Roll-ups: a request's (local root span's) and an agent run's totals, written while open, recorded at the end.

Real OpenTelemetry SDK providers, the real openai SDK over a MockTransport; the app's spans are made through
the tracer as an app (or an agent framework following the GenAI conventions) makes them.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from decimal import Decimal
from typing import Any

import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens
from otel_llmcost import ConfigError, attributes, names

TOKENS = Tokens(prompt=1_000, cached=200, completion=50)


def call_cost(span: Any) -> Decimal:
    return Decimal(repr(span.attributes[names.GEN_AI_USAGE_COST]))


def chat(client: Any, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **kwargs)


def by_name(captured: Any, name: str) -> Any:
    (span,) = [s for s in captured.spans() if s.name == name]
    return span


def operation_points(captured: Any, metric: str) -> list[Any]:
    return captured.points(metric)


def test_a_root_span_carries_its_calls_totals_and_records_one_point(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    client = fake.client()
    tracer = captured.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("nightly-digest"), attributes(feature="digest"):
        chat(client)
        stream = chat(client, stream=True, stream_options={"include_usage": True})
        for _ in stream:
            pass
    root = by_name(captured, "nightly-digest")
    calls = captured.client_spans()
    assert len(calls) == 2
    total = sum(call_cost(s) for s in calls)
    attrs = root.attributes
    assert attrs[names.LLMCOST_ROLLUP_CALLS] == 2
    assert Decimal(repr(attrs[names.LLMCOST_ROLLUP_COST])) == total
    assert attrs[names.LLMCOST_ROLLUP_INPUT_TOKENS] == 2_000
    assert attrs[names.LLMCOST_ROLLUP_OUTPUT_TOKENS] == 100
    assert attrs[names.LLMCOST_ROLLUP_CACHE_READ_TOKENS] == 400
    assert names.LLMCOST_ROLLUP_UNPRICED_CALLS not in attrs
    exemplars = [  # one collection: a collection hands out (and resets) the exemplars gathered since the last
        exemplar
        for rm in captured.reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name in (names.METRIC_OPERATION_COST, names.METRIC_REQUEST_COST)
        for point in metric.data.data_points
        for exemplar in point.exemplars
    ]
    # Every exemplar links its point to the request's trace: one per bucket hit (both calls cost the same).
    assert len(exemplars) == 2
    assert {e.trace_id for e in exemplars} == {root.context.trace_id}
    (cost,) = operation_points(captured, names.METRIC_OPERATION_COST)
    (count,) = operation_points(captured, names.METRIC_OPERATION_CALLS)
    assert dict(cost.attributes) == {names.LLMCOST_OPERATION: "nightly-digest", names.LLMCOST_FEATURE: "digest"}
    assert cost.count == 1 and Decimal(repr(cost.sum)) == total
    assert count.count == 1 and count.sum == 2


def test_spans_without_llm_calls_get_nothing(captured: Any) -> None:
    tracer = captured.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("health"), tracer.start_as_current_span("db"):
        pass
    for span in captured.spans():
        assert not [k for k in span.attributes or {} if k.startswith("llmcost.rollup")]
    assert operation_points(captured, names.METRIC_OPERATION_CALLS) == []
    assert operation_points(captured, names.METRIC_OPERATION_COST) == []


def test_a_bare_call_is_no_request(captured: Any) -> None:
    chat(FakeOpenAI(tokens=TOKENS).client())
    assert operation_points(captured, names.METRIC_OPERATION_CALLS) == []
    (span,) = captured.client_spans()
    assert names.LLMCOST_ROLLUP_CALLS not in span.attributes


def test_unpriced_calls_make_the_total_unknown_not_zero(captured: Any) -> None:
    fake = FakeOpenAI(model="no-such-model-anywhere", tokens=TOKENS)
    tracer = captured.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("job"):
        chat(fake.client())
    attrs = by_name(captured, "job").attributes
    assert attrs[names.LLMCOST_ROLLUP_CALLS] == 1
    assert attrs[names.LLMCOST_ROLLUP_UNPRICED_CALLS] == 1
    assert names.LLMCOST_ROLLUP_COST not in attrs
    assert operation_points(captured, names.METRIC_OPERATION_COST) == []
    (count,) = operation_points(captured, names.METRIC_OPERATION_CALLS)
    assert count.sum == 1


def test_calls_in_threads_and_asyncio_tasks_reach_their_own_root(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    client, async_client = fake.client(), fake.async_client()
    tracer = captured.tracer_provider.get_tracer("app")

    def request(name: str, calls: int) -> None:
        with tracer.start_as_current_span(name):
            workers = [
                threading.Thread(target=contextvars.copy_context().run, args=(chat, client)) for _ in range(calls)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()

    async def async_request(name: str, calls: int) -> None:
        with tracer.start_as_current_span(name):
            await asyncio.gather(*(async_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
                                   for _ in range(calls)))

    outer = [threading.Thread(target=request, args=(f"threads-{i}", i + 1)) for i in range(3)]
    for thread in outer:
        thread.start()
    for thread in outer:
        thread.join()

    async def both() -> None:
        await asyncio.gather(async_request("tasks-a", 2), async_request("tasks-b", 3))

    asyncio.run(both())
    expected = {"threads-0": 1, "threads-1": 2, "threads-2": 3, "tasks-a": 2, "tasks-b": 3}
    for name, calls in expected.items():
        assert by_name(captured, name).attributes[names.LLMCOST_ROLLUP_CALLS] == calls
    points = {dict(p.attributes)[names.LLMCOST_OPERATION]: p for p in captured.points(names.METRIC_OPERATION_CALLS)}
    assert {name: int(p.sum) for name, p in points.items()} == expected
    assert sum(p.count for p in points.values()) == 5


def test_a_stream_read_after_its_root_ended_is_late_never_lost_nor_twice(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    client = fake.client()
    tracer = captured.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler"):
        chat(client)
        stream = chat(client, stream=True, stream_options={"include_usage": True})
    # The handler returned (its span ended); the stream is read on afterwards.
    for _ in stream:
        pass
    root = by_name(captured, "handler")
    assert root.attributes[names.LLMCOST_ROLLUP_CALLS] == 1
    (count,) = captured.points(names.METRIC_OPERATION_CALLS)
    assert count.sum == 1
    assert captured.total(names.METRIC_ROLLUP_LATE_CALLS) == 1
    assert captured.total(names.METRIC_REQUESTS) == 2  # the late call is still a call, priced in llmcost.cost


def test_a_stream_read_while_its_root_is_open_reaches_the_total(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    client = fake.client()
    tracer = captured.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request"):
        with tracer.start_as_current_span("handler"):
            stream = chat(client, stream=True, stream_options={"include_usage": True})
        for _ in stream:  # after the handler's span ended, inside the request's
            pass
    assert by_name(captured, "request").attributes[names.LLMCOST_ROLLUP_CALLS] == 1
    assert captured.total(names.METRIC_ROLLUP_LATE_CALLS) == 0


def agent(tracer: Any, name: str, operation: str = "invoke_agent") -> Any:
    """An agent-run span as the GenAI conventions (and OpenAI Agents, pydantic-ai, util-genai) name it."""
    return tracer.start_as_current_span(
        f"{operation} {name}",
        attributes={names.GEN_AI_OPERATION_NAME: operation, "gen_ai.agent.name": name},
    )


def test_agent_runs_nested_each_count_every_call_beneath_once(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    client = fake.client()
    tracer = captured.tracer_provider.get_tracer("agents")
    with tracer.start_as_current_span("POST /ask"):
        with agent(tracer, "triage", "invoke_workflow"):
            chat(client)
            with tracer.start_as_current_span("execute_tool research"), agent(tracer, "researcher"):
                chat(client)
                chat(client)
            with agent(tracer, "writer"):
                chat(client)
        chat(client)  # outside any agent run
    calls = {
        "POST /ask": 5,
        "invoke_workflow triage": 4,
        "invoke_agent researcher": 2,
        "invoke_agent writer": 1,
    }
    unit = call_cost(captured.client_spans()[0])
    for name, count in calls.items():
        attrs = by_name(captured, name).attributes
        assert attrs[names.LLMCOST_ROLLUP_CALLS] == count, name
        assert Decimal(repr(attrs[names.LLMCOST_ROLLUP_COST])) == unit * count
    assert names.LLMCOST_ROLLUP_CALLS not in by_name(captured, "execute_tool research").attributes
    (point,) = captured.points(names.METRIC_OPERATION_CALLS)  # agents record no point: their root does
    assert point.sum == 5


def test_concurrent_sibling_agent_runs_stay_apart(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    client = fake.async_client()
    tracer = captured.tracer_provider.get_tracer("agents")

    async def run(name: str, calls: int) -> None:
        with agent(tracer, name):
            for _ in range(calls):
                await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    async def main() -> None:
        with tracer.start_as_current_span("crew"):
            await asyncio.gather(run("a", 1), run("b", 2), run("c", 3))

    asyncio.run(main())
    for name, calls in (("a", 1), ("b", 2), ("c", 3)):
        assert by_name(captured, f"invoke_agent {name}").attributes[names.LLMCOST_ROLLUP_CALLS] == calls
    assert by_name(captured, "crew").attributes[names.LLMCOST_ROLLUP_CALLS] == 6


def test_roll_up_state_is_empty_once_spans_ended(captured: Any) -> None:
    fake = FakeOpenAI(tokens=TOKENS)
    tracer = captured.tracer_provider.get_tracer("agents")
    with tracer.start_as_current_span("r"), agent(tracer, "x"):
        chat(fake.client())
    from otel_llmcost.rollups import _by_provider

    rollups = _by_provider[captured.tracer_provider]
    assert (rollups._roots, rollups._chains, rollups._agent_traces, rollups._totals) == ({}, {}, {}, {})


# --- conversation id ---------------------------------------------------------------------------------------
def test_conversation_id_from_attributes_and_baggage_reaches_the_span(captured: Any) -> None:
    from opentelemetry import baggage, context

    client = FakeOpenAI(tokens=TOKENS).client()
    with attributes(conversation_id="c-1"):
        chat(client)
    token = context.attach(baggage.set_baggage(names.GEN_AI_CONVERSATION_ID, "c-2"))
    try:
        chat(client)
    finally:
        context.detach(token)
    first, second = captured.client_spans()
    assert first.attributes[names.GEN_AI_CONVERSATION_ID] == "c-1"
    assert second.attributes[names.GEN_AI_CONVERSATION_ID] == "c-2"
    for point in captured.points(names.METRIC_REQUESTS):
        assert names.GEN_AI_CONVERSATION_ID not in dict(point.attributes)


def test_conversation_id_is_refused_as_a_metric_label(instrument_with: Any) -> None:
    with pytest.raises(ConfigError, match="conversation"):
        instrument_with(metric_attributes="feature,conversation")


# --- one expensive request -----------------------------------------------------------------------------------
def test_an_expensive_call_gets_an_event_a_warning_and_the_callbacks(
    instrument_with: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_llmcost import on_expensive_request, remove_expensive_request_callback

    captured = instrument_with(expensive_request_usd="0.001", expensive_request_usd_by_feature="bulk=1")
    seen: list[Any] = []
    on_expensive_request(seen.append)
    try:
        client = FakeOpenAI(tokens=TOKENS).client()
        tracer = captured.tracer_provider.get_tracer("app")
        with caplog.at_level(logging.WARNING, logger="otel_llmcost.expensive"):
            with tracer.start_as_current_span("req"), attributes(user_id="alice", feature="chat"):
                chat(client)
            with attributes(user_id="bob", feature="bulk"):  # its own, higher threshold
                chat(client)
    finally:
        remove_expensive_request_callback(seen.append)
    first, second = captured.client_spans()
    (event,) = first.events
    assert event.name == names.LLMCOST_EXPENSIVE_REQUEST_EVENT
    assert event.attributes[names.LLMCOST_EXPENSIVE_THRESHOLD_USD] == 0.001
    assert not second.events
    (request,) = seen
    assert request.cost == call_cost(first) and request.threshold == Decimal("0.001")
    assert (request.user, request.feature, request.model) == ("alice", "chat", "gpt-4o")
    assert request.trace_id == format(first.context.trace_id, "032x")
    (record,) = [r for r in caplog.records if "expensive" in r.getMessage()]
    message = record.getMessage()
    for part in (str(request.cost), "gpt-4o", "alice", "chat", request.trace_id):
        assert part in message


def test_a_bad_expensive_threshold_is_one_clear_error(instrument_with: Any) -> None:
    with pytest.raises(ConfigError, match=r"expensive_request_usd"):
        instrument_with(expensive_request_usd="lots")
    with pytest.raises(ConfigError, match="chat"):
        instrument_with(expensive_request_usd_by_feature="chat=cheap")
