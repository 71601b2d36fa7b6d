"""Metrics of OpenAI calls: every sum equals the per-call values on the spans, exactly, and labels stay bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes, usd
from otel_llmcost import names

CALLS = [
    Tokens(prompt=10_000, cached=8_000, completion=500),
    Tokens(prompt=3_000, cache_write=1_000, completion=1_000),
    Tokens(prompt=50_000, cached=40_000, completion=20_000, reasoning=5_000),
    Tokens(prompt=7, completion=3),
]


def _metric(captured: Any, name: str) -> Any:
    for rm in captured.metrics().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    return metric
    raise AssertionError(f"no metric {name}")


def _run_calls(captured: Any) -> list[dict[str, Any]]:
    api = FakeOpenAI()
    client = api.client()
    for tokens in CALLS:
        api.tokens = tokens
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    spans = captured.client_spans()
    assert len(spans) == len(CALLS)
    return [attributes(s) for s in spans]


def _sum(values: list[float]) -> float:
    total = 0.0
    for value in values:  # in call order, as the counter added them
        total += value
    return total


def test_cost_by_component_equals_span_values(captured: Any) -> None:
    spans = _run_calls(captured)
    for component, attr in (
        ("input", names.LLMCOST_COST_INPUT),
        ("output", names.LLMCOST_COST_OUTPUT),
        ("cache_read", names.LLMCOST_COST_CACHE_READ),
        ("cache_write", names.LLMCOST_COST_CACHE_WRITE),
    ):
        expected = _sum([s.get(attr, 0.0) for s in spans])
        assert captured.total(names.METRIC_COST, llmcost__cost__component=component) == expected, component
    # And by hand, for the whole run (gpt-4o: $2.50 in, $1.25 cached, $10 out; cache writes at the input price).
    by_hand = usd(
        (2_000, "2.50"), (8_000, "1.25"), (500, "10"),
        (2_000, "2.50"), (1_000, "2.50"), (1_000, "10"),
        (10_000, "2.50"), (40_000, "1.25"), (20_000, "10"),
        (7, "2.50"), (3, "10"),
    )  # fmt: skip
    assert abs(captured.total(names.METRIC_COST) - by_hand) < 1e-15


def test_tokens_by_type_equal_span_values(captured: Any) -> None:
    spans = _run_calls(captured)
    for token_type, attr in (
        ("input", names.GEN_AI_USAGE_INPUT_TOKENS),
        ("output", names.GEN_AI_USAGE_OUTPUT_TOKENS),
        ("cache_read", names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        ("cache_write", names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
        ("reasoning", names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
    ):
        expected = sum(s.get(attr, 0) for s in spans)
        assert captured.total(names.METRIC_TOKENS, gen_ai__token__type=token_type) == expected, token_type
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="input") == 63_007
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="reasoning") == 5_000


def test_savings_equal_span_values(captured: Any) -> None:
    spans = _run_calls(captured)
    expected = _sum([s.get(names.LLMCOST_SAVINGS_CACHE, 0.0) for s in spans])
    assert expected == usd((8_000, "1.25")) + usd((40_000, "1.25"))
    assert captured.total(names.METRIC_SAVINGS, llmcost__savings__kind="cache") == expected
    assert captured.total(names.METRIC_SAVINGS, llmcost__savings__kind="batch") == 0


def test_histograms_sum_and_count(captured: Any) -> None:
    spans = _run_calls(captured)
    usage_points = captured.points(names.METRIC_TOKEN_USAGE)
    by_type = {dict(p.attributes)[names.GEN_AI_TOKEN_TYPE]: p for p in usage_points}
    assert set(by_type) == {"input", "output"}  # the semconv histogram knows only these two
    assert by_type["input"].sum == sum(s[names.GEN_AI_USAGE_INPUT_TOKENS] for s in spans)
    assert by_type["output"].sum == sum(s[names.GEN_AI_USAGE_OUTPUT_TOKENS] for s in spans)
    assert by_type["input"].count == by_type["output"].count == len(CALLS)
    assert list(by_type["input"].explicit_bounds) == [float(b) for b in names.TOKEN_USAGE_BUCKETS]

    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == len(CALLS)
    assert duration.sum > 0
    assert list(duration.explicit_bounds) == list(names.DURATION_BUCKETS)

    (request_cost,) = captured.points(names.METRIC_REQUEST_COST)
    assert request_cost.count == len(CALLS)
    assert request_cost.sum == _sum([s[names.GEN_AI_USAGE_COST] for s in spans])
    assert list(request_cost.explicit_bounds) == list(names.REQUEST_COST_BUCKETS)
    # Each call lands in the bucket of its own cost.
    assert sum(request_cost.bucket_counts) == len(CALLS)
    assert captured.points(names.METRIC_TIME_TO_FIRST_CHUNK) == []  # not a stream


def test_metric_units_and_attributes(captured: Any) -> None:
    _run_calls(captured)
    units = {
        names.METRIC_COST: "USD",
        names.METRIC_TOKENS: "{token}",
        names.METRIC_SAVINGS: "USD",
        names.METRIC_REQUEST_COST: "USD",
        names.METRIC_TOKEN_USAGE: "{token}",
        names.METRIC_OPERATION_DURATION: "s",
    }
    for name, unit in units.items():
        assert _metric(captured, name).unit == unit, name
    cost_points = captured.points(names.METRIC_COST)
    assert {dict(p.attributes)[names.LLMCOST_COST_COMPONENT] for p in cost_points} == {
        "input", "output", "cache_read", "cache_write",
    }  # fmt: skip
    point = next(p for p in cost_points if dict(p.attributes)[names.LLMCOST_COST_COMPONENT] == "output")
    assert dict(point.attributes) == {
        names.GEN_AI_PROVIDER_NAME: "openai",
        names.GEN_AI_OPERATION_NAME: "chat",
        names.GEN_AI_REQUEST_MODEL: "gpt-4o",
        names.GEN_AI_RESPONSE_MODEL: "gpt-4o",
        names.SERVER_ADDRESS: "api.openai.com",
        names.LLMCOST_COST_COMPONENT: "output",
    }
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    attrs = dict(duration.attributes)
    assert attrs[names.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[names.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    # Nothing per call (ids) ever becomes a label.
    for name in (names.METRIC_COST, names.METRIC_TOKENS, names.METRIC_OPERATION_DURATION, names.METRIC_REQUEST_COST):
        for p in captured.points(name):
            assert names.GEN_AI_RESPONSE_ID not in dict(p.attributes)


def test_stream_records_time_to_first_chunk(captured: Any) -> None:
    client = FakeOpenAI().client()
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        del chunk
    (ttfc,) = captured.points(names.METRIC_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert 0 <= ttfc.sum <= duration.sum


def test_new_series_first_reported_at_zero(captured: Any) -> None:
    # Prometheus' increase() ignores a new series' first sample: it is reported at 0, then with its sum.
    FakeOpenAI(tokens=Tokens(prompt=1_000, completion=1_000)).client().chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )

    def cost(data: Any) -> float:
        return sum(
            p.value
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == names.METRIC_COST
            for p in m.data.data_points
        )

    assert cost(captured.reader.get_metrics_data()) == 0
    assert cost(captured.reader.get_metrics_data()) == usd((1_000, "2.50"), (1_000, "10"))


def test_model_label_cardinality_cap_folds_to_other(instrument_with: Callable[..., Any]) -> None:
    captured = instrument_with(max_models=2)
    api = FakeOpenAI(tokens=Tokens(prompt=1_000, completion=1_000))
    client = api.client()
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "gpt-4o", "o4-mini"):
        client.chat.completions.create(model=model, messages=MESSAGES)
    spans = captured.client_spans()
    # Spans keep the real model names ...
    assert [attributes(s)[names.GEN_AI_REQUEST_MODEL] for s in spans] == [
        "gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "gpt-4o", "o4-mini",
    ]  # fmt: skip
    # ... metric labels hold at most two models, the rest is "other", and no dollar is lost.
    for name in (names.METRIC_COST, names.METRIC_TOKENS, names.METRIC_OPERATION_DURATION):
        models = {dict(p.attributes)[names.GEN_AI_REQUEST_MODEL] for p in captured.points(name)}
        assert models == {"gpt-4o", "gpt-4o-mini", names.OVERFLOW_VALUE}, name
        if name != names.METRIC_OPERATION_DURATION:  # the response model is on the counters only
            responses = {dict(p.attributes)[names.GEN_AI_RESPONSE_MODEL] for p in captured.points(name)}
            assert responses == {"gpt-4o", "gpt-4o-mini", names.OVERFLOW_VALUE}, name
    other = [attributes(s)[names.GEN_AI_USAGE_COST] for s in spans[2:4]] + [
        attributes(spans[5])[names.GEN_AI_USAGE_COST]
    ]
    assert abs(captured.total(names.METRIC_COST, gen_ai__request__model=names.OVERFLOW_VALUE) - sum(other)) < 1e-15
    every_call = sum(attributes(s)[names.GEN_AI_USAGE_COST] for s in spans)
    assert abs(captured.total(names.METRIC_COST) - every_call) < 1e-15
    (other_duration,) = [
        p
        for p in captured.points(names.METRIC_OPERATION_DURATION)
        if dict(p.attributes)[names.GEN_AI_REQUEST_MODEL] == names.OVERFLOW_VALUE
    ]
    assert other_duration.count == 3


def test_prometheus_names() -> None:
    assert names.prometheus_name(names.METRIC_COST, names.UNIT_USD, "counter") == "llmcost_cost_USD_total"
    assert names.prometheus_name(names.METRIC_TOKENS, names.UNIT_TOKEN, "counter") == "llmcost_tokens_total"
    assert names.prometheus_name(names.METRIC_REQUEST_COST, names.UNIT_USD, "histogram") == "llmcost_request_cost_USD"
    assert (
        names.prometheus_name(names.METRIC_OPERATION_DURATION, names.UNIT_SECONDS, "histogram")
        == "gen_ai_client_operation_duration_seconds"
    )
