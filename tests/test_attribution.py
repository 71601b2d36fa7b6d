"""Attribution: who a call is for, set by ``otel_llmcost.attributes`` or W3C baggage; on every span, and on metrics
only for allow-listed keys with a bounded number of values each, summing exactly to the per-call costs."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context

from conftest import Captured
from openai_payloads import MESSAGES, FakeOpenAI, Tokens, attributes
from otel_llmcost import attributes as attribution
from otel_llmcost import current_attributes, names
from otel_llmcost.records import Request, Response, Usage

FEATURE, TEAM, USER = names.LLMCOST_FEATURE, names.LLMCOST_TEAM, names.USER_ID


# --- the context API ------------------------------------------------------------------------------
def test_scopes_nest_and_restore() -> None:
    assert dict(current_attributes()) == {}
    with attribution(feature="summarize", team="search"):
        with attribution(user_id="u1", feature="translate", tenant="acme", ignored=None):
            assert dict(current_attributes()) == {
                FEATURE: "translate", TEAM: "search", USER: "u1", "llmcost.tenant": "acme"
            }  # fmt: skip
        assert dict(current_attributes()) == {FEATURE: "summarize", TEAM: "search"}
        with attribution({"app.region": "eu", "llmcost.team": "ads"}, feature=42):
            assert dict(current_attributes()) == {FEATURE: "42", TEAM: "ads", "app.region": "eu"}
    assert dict(current_attributes()) == {}


def test_decorator_sync_and_async() -> None:
    @attribution(feature="report")
    def sync() -> dict[str, str]:
        return dict(current_attributes())

    @attribution(team="billing")
    async def run_async() -> dict[str, str]:
        await asyncio.sleep(0)
        return dict(current_attributes())

    assert sync() == {FEATURE: "report"}
    with attribution(user_id="u2"):
        assert asyncio.run(run_async()) == {USER: "u2", TEAM: "billing"}
    assert sync.__name__ == "sync" and asyncio.iscoroutinefunction(run_async)


def test_tasks_and_threads_keep_their_own() -> None:
    inside: list[str] = []

    async def task(name: str, all_inside: asyncio.Event) -> dict[str, str]:
        with attribution(user_id=name):
            inside.append(name)
            if len(inside) == 3:
                all_inside.set()
            await all_inside.wait()  # every task is inside its scope at once
            return dict(current_attributes())

    async def main() -> list[dict[str, str]]:
        all_inside = asyncio.Event()
        return list(await asyncio.gather(*(task(n, all_inside) for n in ("a", "b", "c"))))

    assert asyncio.run(main()) == [{USER: "a"}, {USER: "b"}, {USER: "c"}]
    seen: list[dict[str, str]] = []
    with attribution(feature="outer"):
        thread = threading.Thread(target=lambda: seen.append(dict(current_attributes())))
        thread.start()
        thread.join()
    assert seen == [{}]  # a new thread starts with an empty context, as contextvars do


def test_baggage_is_read_and_explicit_values_win() -> None:
    ctx = baggage.set_baggage("user.id", "from-upstream")
    ctx = baggage.set_baggage("feature", "upstream-feature", ctx)
    ctx = baggage.set_baggage("unrelated", "x", ctx)
    token = otel_context.attach(ctx)
    try:
        assert dict(current_attributes()) == {USER: "from-upstream", FEATURE: "upstream-feature"}
        with attribution(feature="local"):
            assert dict(current_attributes()) == {USER: "from-upstream", FEATURE: "local"}
    finally:
        otel_context.detach(token)


def test_nothing_set_costs_nothing() -> None:
    assert current_attributes() is current_attributes()  # the same empty mapping: no allocation per call


# --- spans and metrics ----------------------------------------------------------------------------
def _call(client: Any, **extra: Any) -> None:
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **extra)


def test_every_key_reaches_the_span_and_only_allow_listed_ones_the_metrics(captured: Captured) -> None:
    client = FakeOpenAI(tokens=Tokens(prompt=1000, completion=100)).client()
    ctx = otel_context.attach(baggage.set_baggage("user.id", "u7"))
    try:
        with attribution(feature="summarize", team="search", tenant="acme"):
            _call(client)
    finally:
        otel_context.detach(ctx)
    (span,) = captured.client_spans()
    attrs = attributes(span)
    assert (attrs[FEATURE], attrs[TEAM], attrs[USER], attrs["llmcost.tenant"]) == ("summarize", "search", "u7", "acme")
    for metric in (names.METRIC_COST, names.METRIC_TOKENS):
        for point in captured.points(metric):
            labels = dict(point.attributes)
            assert (labels[FEATURE], labels[TEAM]) == ("summarize", "search")
            assert USER not in labels and "llmcost.tenant" not in labels
    for metric in (names.METRIC_REQUEST_COST, names.METRIC_OPERATION_DURATION):  # histograms stay per model
        assert all(FEATURE not in dict(p.attributes) for p in captured.points(metric))


def test_user_on_metrics_when_asked(instrument_with: Any) -> None:
    cap = instrument_with(metric_attributes=["feature", "user"])
    with attribution(user_id="u1", team="search"):
        _call(FakeOpenAI().client())
    labels = [dict(p.attributes) for p in cap.points(names.METRIC_COST)]
    assert labels and all(lab[USER] == "u1" and TEAM not in lab and FEATURE not in lab for lab in labels)


def test_spend_by_feature_team_user_equals_the_sum_of_call_costs(instrument_with: Any) -> None:
    cap = instrument_with(metric_attributes=["feature", "team", "user"])
    api = FakeOpenAI()
    client = api.client()
    plan = [
        ({"feature": "chat", "team": "a", "user_id": "u1"}, Tokens(prompt=1234, cached=1000, completion=77)),
        ({"feature": "chat", "team": "b", "user_id": "u2"}, Tokens(prompt=99_999, completion=3)),
        ({"feature": "search", "team": "a", "user_id": "u1"}, Tokens(prompt=7, completion=12_345, reasoning=100)),
        ({"feature": "chat", "team": "a"}, Tokens(prompt=3_333, cache_write=333, completion=1)),
        ({"team": "b", "user_id": "u3"}, Tokens(prompt=17, completion=19)),
    ] * 3
    for keys, tokens in plan:
        api.tokens = tokens
        with attribution(**keys):
            _call(client)
    spans = [attributes(s) for s in cap.client_spans()]
    components = {
        "input": names.LLMCOST_COST_INPUT,
        "output": names.LLMCOST_COST_OUTPUT,
        "cache_read": names.LLMCOST_COST_CACHE_READ,
        "cache_write": names.LLMCOST_COST_CACHE_WRITE,
    }
    # Each series (one feature/team/user combination, one component) is the float sum of its calls' span values,
    # in call order: equal to the last bit.
    expected: dict[tuple[Any, ...], float] = defaultdict(float)
    for span in spans:
        labels = tuple(span.get(key) for key in (FEATURE, TEAM, USER))
        for component, attr in components.items():
            if span.get(attr):
                expected[(*labels, component)] += span[attr]
    series = {}
    for point in cap.points(names.METRIC_COST):
        labels = dict(point.attributes)
        series[(*(labels.get(key) for key in (FEATURE, TEAM, USER)), labels[names.LLMCOST_COST_COMPONENT])] = (
            point.value
        )
    assert series == dict(expected)
    # Per feature, team or user across series: the exact decimal sum of the calls' costs, to the picodollar.
    for key in (FEATURE, TEAM, USER):
        by_value: dict[str, Decimal] = defaultdict(Decimal)
        for span in spans:
            if key in span:
                by_value[span[key]] += Decimal(repr(span[names.GEN_AI_USAGE_COST]))
        for value, total in by_value.items():
            points = [p.value for p in cap.points(names.METRIC_COST) if dict(p.attributes).get(key) == value]
            assert _pico(sum(Decimal(repr(v)) for v in points)) == _pico(total), (key, value)
    assert len(series) == 12


def _pico(usd: Decimal) -> Decimal:
    return usd.quantize(Decimal("1e-12"))


def test_values_past_the_cap_fold_into_other(instrument_with: Any) -> None:
    """10,000 calls, 10,000 distinct user ids: at most the cap of values per metric, the rest counted as folded.

    The calls run from ``Runtime.begin`` on (attribution read, span, price, metrics), as every adapter's do;
    the SDK's own ~1.5 ms a call would make this a 20-second test (the adapters are driven by the tests above).
    """
    cap_values = 50
    cap = instrument_with(metric_attributes=["feature", "user"], max_attribute_values=cap_values)
    runtime = cap.instrumentor.runtime
    calls = 10_000
    for i in range(calls):
        with attribution(user_id=f"user-{i}", feature="chat"):
            call = runtime.begin(Request("openai", "chat", "gpt-4o", "api.openai.com"))
            call.finish(Response(model="gpt-4o-2024-08-06"), Usage(input_tokens=10, output_tokens=10))
    for metric in (names.METRIC_COST, names.METRIC_TOKENS):
        points = cap.points(metric)
        users = {dict(p.attributes)[USER] for p in points}
        assert len(users) == cap_values and names.OVERFLOW_VALUE in users, metric  # 49 ids and "other"
        assert len(points) == cap_values * 2  # per user: input and output (cost components, token types)
        assert cap.total(metric, user__id=names.OVERFLOW_VALUE) > 0
    # 49 real ids, then every other call folded; the feature never was.
    assert cap.total(names.METRIC_ATTRIBUTION_FOLDED, llmcost__attribution__key=USER) == calls - (cap_values - 1)
    assert cap.total(names.METRIC_ATTRIBUTION_FOLDED, llmcost__attribution__key=FEATURE) == 0
    # The money is all there: folding moves spend to "other", never drops it ($2.50 / $10 per million).
    assert _pico(sum(Decimal(repr(p.value)) for p in cap.points(names.METRIC_COST))) == calls * Decimal("0.000125")
    assert {attributes(s)[USER] for s in cap.client_spans()} == {f"user-{i}" for i in range(calls)}  # spans: all


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_anthropic_sdk_span_carries_the_attribution(captured: Captured) -> None:
    from anthropic_payloads import SELF_TRACING, FakeAnthropic, client_spans, configured

    if not SELF_TRACING:
        pytest.skip("anthropic < 1.14 does not trace itself (our own span carries it: the OpenAI tests)")
    with configured("sdk_on") as setup, attribution(feature="assist", user_id="u5"):
        FakeAnthropic().client(**setup.options).messages.create(
            model="claude-sonnet-4-5", max_tokens=100, messages=MESSAGES
        )
    (span,) = client_spans(*setup.exporters)
    assert (attributes(span)[FEATURE], attributes(span)[USER]) == ("assist", "u5")
