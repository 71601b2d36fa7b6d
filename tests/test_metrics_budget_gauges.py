"""The budget gauges: remaining is computed in Decimal and converted to float once, so it reads what a person
would write (0.02975), not float subtraction's 0.029750000000000002; and the HELP text of every counter says
why a first scrape shows it at 0."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from budget_support import COST, REQUEST, TOKENS, Clock
from openai_payloads import FakeOpenAI
from otel_llmcost import Budget, names
from otel_llmcost.metrics import BORN_AT_ZERO, instruments_for


def _gauges(cap: Any) -> dict[str, dict[str, float]]:
    return {
        name: {dict(p.attributes)[names.LLMCOST_BUDGET_NAME]: p.value for p in cap.points(name)}
        for name in (names.METRIC_BUDGET_SPEND, names.METRIC_BUDGET_LIMIT, names.METRIC_BUDGET_REMAINING)
    }


def test_remaining_is_the_decimal_difference_of_limit_and_spend(instrument_with: Any) -> None:
    cap = instrument_with(budgets=[Budget("daily", limit="0.05"), Budget("tight", limit="0.1")],
                          budget_clock=Clock(1_800_000_000.0))
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    client.chat.completions.create(**REQUEST)  # $0.02025
    gauges = _gauges(cap)
    assert gauges[names.METRIC_BUDGET_SPEND] == {"daily": float(COST), "tight": float(COST)}
    assert 0.05 - 0.02025 == 0.029750000000000002  # what subtracting floats would have exported
    assert gauges[names.METRIC_BUDGET_REMAINING] == {"daily": 0.02975, "tight": 0.07975}
    assert gauges[names.METRIC_BUDGET_REMAINING]["daily"] == float(Decimal("0.05") - COST)


def test_remaining_from_float_sources_too_and_never_below_zero() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        gauges = instruments_for(provider.get_meter("test"), [1.0]).budget_gauges
        gauges.source = lambda: [("a", Decimal("0.036"), Decimal("0.05")), ("b", 0.036, 0.05), ("c", 2.5, 1)]
        data = reader.get_metrics_data()
        assert data is not None
        remaining = {
            dict(p.attributes)[names.LLMCOST_BUDGET_NAME]: p.value
            for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == names.METRIC_BUDGET_REMAINING for p in m.data.data_points
        }
        assert 0.05 - 0.036 == 0.014000000000000005
        assert remaining == {"a": 0.014, "b": 0.014, "c": 0.0}
    finally:
        provider.shutdown()


def test_every_counter_says_why_its_first_export_reads_zero(captured: Any) -> None:
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    client.chat.completions.create(**REQUEST)
    first = captured.reader.get_metrics_data()  # the first collection: every new counter series at 0
    counters = {
        m.name: m for rm in first.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        if m.name in (names.METRIC_COST, names.METRIC_TOKENS, names.METRIC_REQUESTS)
    }
    assert set(counters) == {names.METRIC_COST, names.METRIC_TOKENS, names.METRIC_REQUESTS}
    for metric in counters.values():
        assert all(p.value == 0 for p in metric.data.data_points), metric.name
        assert metric.description.endswith(BORN_AT_ZERO) and "increase()" in metric.description
    assert captured.total(names.METRIC_COST) == float(COST)  # the next collection has the sum
