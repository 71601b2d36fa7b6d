"""Budgets in front of real SDK calls: block before sending, reserve the worst case, settle the real cost,
fire each threshold once, report state as gauges, and keep the ledger."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import socket
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from budget_support import COST, PROMPT, REQUEST, TOKENS, WORST, Clock
from conftest import Captured
from openai_payloads import FakeOpenAI, Tokens, attributes
from otel_llmcost import (
    Budget,
    BudgetExceededError,
    BudgetUnavailableError,
    ThresholdCrossing,
    ledger,
    names,
    on_budget_threshold,
    remove_budget_threshold_callback,
)
from otel_llmcost import attributes as attribution
from otel_llmcost.budgets.store import Line, to_pico, to_usd

START = "2025-06-15T12:00:00"


@pytest.fixture
def clock() -> Clock:
    found = Clock(0)
    found.at(START)
    return found


@pytest.fixture
def crossings() -> Iterator[list[ThresholdCrossing]]:
    seen: list[ThresholdCrossing] = []
    callback = on_budget_threshold(seen.append)
    yield seen
    remove_budget_threshold_callback(callback)


def _state(cap: Captured) -> dict[str, tuple[Decimal, Decimal]]:
    """Budget name -> (settled, held) now, read from the store."""
    enforcer = cap.instrumentor.runtime.budgets
    now = enforcer._clock()
    lines = [Line(b.name, to_pico(b.limit), b.period.window(now)) for b in enforcer.budgets]
    spend = enforcer.store.spend(lines, now)
    return {line.budget: (to_usd(s), to_usd(p)) for line, (s, p) in zip(lines, spend, strict=True)}


def _cost_of(span: Any) -> Decimal:
    return Decimal(repr(attributes(span)[names.GEN_AI_USAGE_COST]))


# --- block ----------------------------------------------------------------------------------------
def test_block_refuses_before_sending_and_says_why(instrument_with: Any, clock: Clock) -> None:
    cap = instrument_with(budgets=[Budget("daily", limit="0.05", action="block")], budget_clock=clock)
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    client.chat.completions.create(**REQUEST)
    client.chat.completions.create(**REQUEST)  # 0.02025 settled + 0.02026 worst case = 0.04051 <= 0.05
    with pytest.raises(BudgetExceededError) as raised:
        client.chat.completions.create(**REQUEST)  # 0.0405 + 0.02026 > 0.05
    assert len(api.requests) == 2  # nothing sent, nothing billed
    error = raised.value
    assert (error.budget, error.spend, error.limit, error.requested) == ("daily", 2 * COST, Decimal("0.05"), WORST)
    assert error.resets_at == datetime(2025, 6, 16, tzinfo=timezone.utc)
    assert str(error) == (
        "budget 'daily' has spent $0.0405 of its $0.05 limit; this call could cost up to $0.02026; "
        "the budget resets at 2025-06-16T00:00:00+00:00"
    )
    assert pickle.loads(pickle.dumps(error)).resets_at == error.resets_at
    assert error.rolling_hours is None
    spans = cap.client_spans()
    assert len(spans) == 3
    blocked = attributes(spans[-1])
    assert blocked[names.ERROR_TYPE] == "BudgetExceededError"
    assert blocked[names.LLMCOST_BUDGET_NAME] == "daily"
    assert spans[-1].status.status_code is StatusCode.ERROR
    assert names.GEN_AI_USAGE_COST not in blocked
    assert cap.total(names.METRIC_BUDGET_BLOCKED, llmcost__budget__name="daily") == 1
    assert _state(cap) == {"daily": (2 * COST, Decimal(0))}


def test_reservation_uses_max_tokens_or_the_default(instrument_with: Any, clock: Clock) -> None:
    budget = Budget("tiny", limit="0.01", action="block")
    instrument_with(budgets=[budget], budget_clock=clock, budget_default_max_tokens=1000)
    api = FakeOpenAI(tokens=Tokens(prompt=10, completion=10))
    client = api.client(max_retries=0)
    request = {"model": "gpt-4o", "messages": PROMPT}
    with pytest.raises(BudgetExceededError) as raised:
        client.chat.completions.create(**request)  # no max_tokens: 104 x $2.50 + 1,000 x $10 per million
    assert raised.value.requested == Decimal("0.01026") and raised.value.spend == 0
    client.chat.completions.create(**request, max_tokens=900)  # 0.00926: fits
    client.chat.completions.create(**request, max_completion_tokens=500)
    assert len(api.requests) == 2


def test_unknown_model_reserves_nothing_but_is_refused_once_spent(instrument_with: Any, clock: Clock) -> None:
    cap = instrument_with(budgets=[Budget("daily", limit="0.04", action="block")], budget_clock=clock)
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    client.chat.completions.create(**{**REQUEST, "model": "my-unpriced-model"})  # no price: $0 reserved, $0 spent
    client.chat.completions.create(**REQUEST)
    with pytest.raises(BudgetExceededError):
        client.chat.completions.create(**REQUEST)
    assert _state(cap) == {"daily": (COST, Decimal(0))}
    assert len(api.requests) == 2


def test_failed_and_cancelled_calls_release_their_reservation(instrument_with: Any, clock: Clock) -> None:
    cap = instrument_with(budgets=[Budget("daily", limit=1, action="block")], budget_clock=clock)
    failing = FakeOpenAI(fail=(400, "bad request"))
    with pytest.raises(openai.BadRequestError):
        failing.client(max_retries=0).chat.completions.create(**REQUEST)
    assert _state(cap) == {"daily": (Decimal(0), Decimal(0))}

    sent = asyncio.Event()

    async def hang(request: Any) -> Any:
        sent.set()
        await asyncio.Event().wait()  # never answers

    from transport import for_sdk

    http = for_sdk("openai")
    client = openai.AsyncOpenAI(api_key="sk", http_client=http.AsyncClient(transport=http.MockTransport(hang)))

    async def main() -> None:
        task = asyncio.ensure_future(client.chat.completions.create(**REQUEST))
        await sent.wait()
        assert _state(cap) == {"daily": (Decimal(0), WORST)}  # held while in flight
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _state(cap) == {"daily": (Decimal(0), Decimal(0))}


def test_streams_settle_when_they_end(instrument_with: Any, clock: Clock) -> None:
    cap = instrument_with(budgets=[Budget("daily", limit=1, action="block")], budget_clock=clock)
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    stream = client.chat.completions.create(**REQUEST, stream=True, stream_options={"include_usage": True})
    assert _state(cap) == {"daily": (Decimal(0), WORST)}
    for _ in stream:
        pass
    assert _state(cap) == {"daily": (COST, Decimal(0))}
    stream = client.chat.completions.create(**REQUEST, stream=True, stream_options={"include_usage": True})
    next(iter(stream))
    stream.close()  # closed early: no usage known, nothing settled, the hold released
    assert _state(cap) == {"daily": (COST, Decimal(0))}


def test_async_client_is_refused_too(instrument_with: Any, clock: Clock) -> None:
    instrument_with(budgets=[Budget("daily", limit="0.03", action="block")], budget_clock=clock)
    api = FakeOpenAI(tokens=TOKENS)
    client = api.async_client(max_retries=0)

    async def main() -> list[str]:
        async def one() -> str:
            try:
                await client.chat.completions.create(**REQUEST)
                return "answered"
            except BudgetExceededError:
                return "refused"

        return list(await asyncio.gather(*(one() for _ in range(10))))

    outcomes = asyncio.run(main())
    assert outcomes.count("answered") == 1 == len(api.requests)  # 2 x 0.02026 > 0.03: one at a time fits


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_anthropic_blocked_call_gets_a_span(instrument_with: Any, clock: Clock) -> None:
    from anthropic_payloads import MESSAGES, SELF_TRACING, FakeAnthropic, client_spans, configured
    from anthropic_payloads import Tokens as AnthropicTokens

    # claude-sonnet-4-5 ($3 / $15): 1,000 in + 500 out = $0.0105; worst case 9 x $3 + 1,024 x $15 per million.
    request = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": MESSAGES}
    for config in ("sdk_on", "option_off") if SELF_TRACING else ("default",):
        cap = instrument_with(budgets=[Budget(f"a-{config}", limit="0.02", action="block")], budget_clock=clock)
        fake = FakeAnthropic(tokens=AnthropicTokens(input=1000, output=500))
        with configured(config) as setup:
            client = fake.client(**setup.options)
            client.messages.create(**request)
            with pytest.raises(BudgetExceededError) as raised:
                client.messages.create(**request)  # 0.0105 + 0.015387 > 0.02
            with pytest.raises(BudgetExceededError), client.messages.stream(**request) as stream:
                stream.get_final_message()
            spans = client_spans(*setup.exporters, cap.exporter)
        assert raised.value.requested == Decimal("0.015387") and raised.value.spend == Decimal("0.0105")
        assert len(fake.requests) == 1
        assert [attributes(s).get(names.ERROR_TYPE) for s in spans] == [None] + ["BudgetExceededError"] * 2
        assert attributes(spans[0])[names.GEN_AI_USAGE_COST] == pytest.approx(0.0105)
        cap.instrumentor.uninstrument()


# --- where it runs --------------------------------------------------------------------------------
def test_reservation_on_a_data_residency_host_includes_its_multiplier(instrument_with: Any, clock: Clock) -> None:
    """eu.api.openai.com bills 1.1x (pricing/multipliers.json): what is reserved before the call is 1.1x too.
    At the global rate the second call would reserve 0.02026, fit (0.022275 + 0.02026 <= 0.043) and overspend."""
    cap = instrument_with(budgets=[Budget("daily", limit="0.043", action="block")], budget_clock=clock)
    api = FakeOpenAI(tokens=TOKENS)
    regional = api.client("https://eu.api.openai.com/v1", max_retries=0)
    regional.chat.completions.create(**REQUEST)  # reserves 0.022286, settles at 0.022275
    with pytest.raises(BudgetExceededError) as raised:
        regional.chat.completions.create(**REQUEST)  # 0.022275 + 0.022286 > 0.043
    assert raised.value.requested == WORST * Decimal("1.1") == Decimal("0.022286")
    assert raised.value.spend == COST * Decimal("1.1") == Decimal("0.022275")
    assert len(api.requests) == 1
    assert _state(cap) == {"daily": (COST * Decimal("1.1"), Decimal(0))}
    api.client(max_retries=0).chat.completions.create(**REQUEST)  # api.openai.com: 0.022275 + 0.02026 <= 0.043
    assert len(api.requests) == 2


@pytest.mark.parametrize("where", ["inference_geo", "vertex_region"])
def test_anthropic_reservation_includes_where_it_runs(instrument_with: Any, clock: Clock, where: str) -> None:
    """A region the request asks for (``inference_geo="us"``) or a Vertex AI regional endpoint bills 1.1x: the
    reservation before the call is priced so (the response's own report prices the call)."""
    from anthropic_payloads import MESSAGES, OFF, FakeAnthropic
    from anthropic_payloads import Tokens as AnthropicTokens

    # claude-sonnet-4-5 ($3 / $15): 1,000 in + 500 out = $0.0105, x 1.1 = $0.01155; worst case
    # (9 x $3 + 1,024 x $15 per million) x 1.1 = $0.0169257. At the global 0.015387 the second call would fit.
    instrument_with(budgets=[Budget("claude", limit="0.028", action="block")], budget_clock=clock)
    if where == "inference_geo":
        fake = FakeAnthropic(tokens=AnthropicTokens(input=1000, output=500, inference_geo="us"))
        client, extra = fake.client(**OFF), {"inference_geo": "us"}
    else:
        fake = FakeAnthropic(tokens=AnthropicTokens(input=1000, output=500))
        client, extra = fake.vertex(**OFF), {}
    request = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": MESSAGES, **extra}
    client.messages.create(**request)
    with pytest.raises(BudgetExceededError) as raised:
        client.messages.create(**request)  # 0.01155 + 0.0169257 > 0.028
    worst = (Decimal(9) * 3 + Decimal(1024) * 15) / 1_000_000 * Decimal("1.1")
    assert raised.value.requested == worst == Decimal("0.0169257")
    assert raised.value.spend == Decimal("0.0105") * Decimal("1.1")
    assert len(fake.requests) == 1


# --- warn, thresholds -----------------------------------------------------------------------------
def test_thresholds_fire_once_each_on_span_log_callback_and_metric(
    instrument_with: Any, clock: Clock, crossings: list[ThresholdCrossing], caplog: pytest.LogCaptureFixture
) -> None:
    cap = instrument_with(budgets=[Budget("team-x", limit="0.05", team="x")], budget_clock=clock)
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    caplog.set_level(logging.WARNING, logger="otel_llmcost.budgets")
    with attribution(team="x"):
        for _ in range(5):  # a warn budget never refuses: 0.10125 spent of 0.05
            client.chat.completions.create(**REQUEST)
    client.chat.completions.create(**REQUEST)  # another team: not this budget's spend
    assert len(api.requests) == 6
    events = [[(e.name, dict(e.attributes or {})) for e in span.events] for span in cap.client_spans()]
    threshold = names.LLMCOST_BUDGET_THRESHOLD_EVENT
    assert events[0] == [] and events[3] == [] and events[4] == [] and events[5] == []
    assert events[1] == [(threshold, {
        names.LLMCOST_BUDGET_NAME: "team-x", names.LLMCOST_BUDGET_THRESHOLD: 0.8,
        names.LLMCOST_BUDGET_SPEND_USD: 0.0405, names.LLMCOST_BUDGET_LIMIT_USD: 0.05,
    })]  # fmt: skip
    assert [a[names.LLMCOST_BUDGET_THRESHOLD] for _, a in events[2]] == [1.0]  # the limit itself
    assert [(c.budget, c.threshold, c.spend, c.limit, c.scope, c.action) for c in crossings] == [
        ("team-x", Decimal("0.8"), 2 * COST, Decimal("0.05"), "llmcost.team=x", "warn"),
        ("team-x", Decimal(1), 3 * COST, Decimal("0.05"), "llmcost.team=x", "warn"),
    ]
    assert crossings[0].resets_at == datetime(2025, 6, 16, tzinfo=timezone.utc)
    logged = [r for r in caplog.records if r.name == "otel_llmcost.budgets"]
    assert [r.getMessage().split(" reached ")[1].split(" ")[0] for r in logged] == ["80%", "100%"]
    assert logged[0].getMessage().endswith("; resets at 2025-06-16T00:00:00+00:00")  # a calendar day resets
    assert getattr(logged[0], names.LLMCOST_BUDGET_NAME) == "team-x"
    assert cap.total(names.METRIC_BUDGET_THRESHOLD_CROSSINGS, llmcost__budget__name="team-x") == 2
    by_threshold = {
        dict(p.attributes)[names.LLMCOST_BUDGET_THRESHOLD]: p.value
        for p in cap.points(names.METRIC_BUDGET_THRESHOLD_CROSSINGS)
    }
    assert by_threshold == {0.8: 1, 1.0: 1}


def test_callback_that_raises_never_reaches_the_call(instrument_with: Any, clock: Clock) -> None:
    def broken(crossing: ThresholdCrossing) -> None:
        raise RuntimeError("boom")

    cap = instrument_with(budgets=[Budget("b", limit="0.01")], budget_clock=clock)
    before = cap.total(names.METRIC_INSTRUMENTATION_ERRORS, llmcost__stage="budget_callback")
    on_budget_threshold(broken)
    try:
        FakeOpenAI(tokens=TOKENS).client(max_retries=0).chat.completions.create(**REQUEST)
    finally:
        remove_budget_threshold_callback(broken)
    assert cap.total(names.METRIC_INSTRUMENTATION_ERRORS, llmcost__stage="budget_callback") == before + 2


def test_scopes_and_gauges(instrument_with: Any, clock: Clock) -> None:
    budgets = [
        Budget("all", limit=10),
        Budget("chat", limit=1, feature="chat", action="block"),
        Budget("search", limit=2, team="search"),
        Budget("u1", limit=3, user="u1", period="month"),
        Budget("mini", limit=4, model="gpt-4o-mini", period="24h"),
    ]
    cap = instrument_with(budgets=budgets, budget_clock=clock)
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    with attribution(feature="chat", team="search"):
        client.chat.completions.create(**REQUEST)
        with attribution(user_id="u1"):
            client.chat.completions.create(**REQUEST)
    client.chat.completions.create(**{**REQUEST, "model": "gpt-4o-mini"})  # $0.15 / $0.60: 100 in, 2,000 out
    mini = Decimal("0.001215")
    assert _state(cap) == {
        "all": (2 * COST + mini, Decimal(0)),
        "chat": (2 * COST, Decimal(0)),
        "search": (2 * COST, Decimal(0)),
        "u1": (COST, Decimal(0)),
        "mini": (mini, Decimal(0)),
    }
    gauges = {
        name: {dict(p.attributes)[names.LLMCOST_BUDGET_NAME]: p.value for p in cap.points(name)}
        for name in (names.METRIC_BUDGET_SPEND, names.METRIC_BUDGET_LIMIT, names.METRIC_BUDGET_REMAINING)
    }
    assert gauges[names.METRIC_BUDGET_SPEND] == {"all": 0.041715, "chat": 0.0405, "search": 0.0405, "u1": 0.02025,
                                                 "mini": 0.001215}  # fmt: skip
    assert gauges[names.METRIC_BUDGET_LIMIT] == {"all": 10, "chat": 1, "search": 2, "u1": 3, "mini": 4}
    assert gauges[names.METRIC_BUDGET_REMAINING]["chat"] == pytest.approx(0.9595)


def test_no_budget_no_work(captured: Captured) -> None:
    assert captured.instrumentor.runtime.budgets is None
    assert captured.points(names.METRIC_BUDGET_SPEND) == []


# --- the ledger -----------------------------------------------------------------------------------
def test_sqlite_ledger_has_one_row_per_call(instrument_with: Any, tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "spend.db"
    cap = instrument_with(budget_store=f"sqlite:{path}", budget_clock=clock)  # no budget: the ledger alone
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    with attribution(feature="summarize", team="search", user_id="u1", tenant="acme"):
        client.chat.completions.create(**REQUEST)
    with attribution(feature="chat"):
        client.chat.completions.create(**{**REQUEST, "model": "gpt-4o-mini"})
        client.chat.completions.create(**{**REQUEST, "model": "unpriced-model"})
    with pytest.raises(openai.BadRequestError):
        FakeOpenAI(fail=(400, "no")).client(max_retries=0).chat.completions.create(**REQUEST)
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute(f"SELECT * FROM {ledger.TABLE} ORDER BY id")]
    assert len(rows) == 4
    first = rows[0]
    span = cap.client_spans()[0]
    assert first["ts"] == clock.now
    assert (first["provider"], first["operation"], first["model"], first["response_model"]) == (
        "openai", "chat", "gpt-4o", "gpt-4o"
    )
    assert (first["input_tokens"], first["output_tokens"], first["cache_read_tokens"]) == (100, 2000, 0)
    assert first["cost_usd"] == "0.02025" and first["price_source"].startswith("genai-prices")
    assert (first["feature"], first["team"], first["user_id"]) == ("summarize", "search", "u1")
    assert json.loads(first["attributes"]) == {
        "llmcost.feature": "summarize", "llmcost.team": "search", "user.id": "u1", "llmcost.tenant": "acme"
    }  # fmt: skip
    assert first["trace_id"] == format(span.context.trace_id, "032x")
    assert first["span_id"] == format(span.context.span_id, "016x")
    assert first["request_id"] == "chatcmpl-test123" and first["error_type"] is None
    assert rows[2]["cost_usd"] is None and rows[2]["price_source"] == names.PRICE_SOURCE_UNKNOWN
    assert rows[3]["error_type"] == "BadRequestError" and rows[3]["cost_usd"] is None
    # "What did we spend by feature?" without any metrics backend:
    spent: dict[str, Decimal] = {}
    for feature, cost in db.execute(f"SELECT feature, cost_usd FROM {ledger.TABLE} WHERE cost_usd IS NOT NULL"):
        spent[feature] = spent.get(feature, Decimal(0)) + Decimal(cost)  # decimal text: summed exactly
    assert spent == {"summarize": COST, "chat": Decimal("0.001215")}
    db.close()
    assert sum(_cost_of(s) for s in cap.client_spans() if names.GEN_AI_USAGE_COST in attributes(s)) == sum(
        spent.values()
    )


# --- an unreachable store -------------------------------------------------------------------------
@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A loopback port that accepts connections and never answers: every Redis command times out."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


@pytest.mark.parametrize("rule", ["open", "closed"])
def test_unreachable_store_follows_the_rule(
    instrument_with: Any, silent_redis: str, rule: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_llmcost.budgets")
    cap = instrument_with(
        budgets=[Budget("daily", limit=1, action="block")],
        budget_store=silent_redis,
        budget_store_timeout=0.2,
        budget_store_failure=rule,
    )
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    for _ in range(3):
        if rule == "open":
            client.chat.completions.create(**REQUEST)
        else:
            with pytest.raises(BudgetUnavailableError):
                client.chat.completions.create(**REQUEST)
    assert len(api.requests) == (3 if rule == "open" else 0)
    assert cap.total(names.METRIC_BUDGET_STORE_ERRORS) >= 3
    assert any("failed" in r.getMessage() for r in caplog.records)
    if rule == "closed":
        assert cap.total(names.METRIC_BUDGET_BLOCKED, llmcost__budget__name="daily") == 3
        assert attributes(cap.client_spans()[0])[names.ERROR_TYPE] == "BudgetUnavailableError"


def test_refused_connection_fails_fast(instrument_with: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    instrument_with(
        budgets=[Budget("daily", limit=1, action="block")],
        budget_store=f"redis://127.0.0.1:{port}/0",
        budget_store_timeout=0.5,
    )
    api = FakeOpenAI(tokens=TOKENS)
    api.client(max_retries=0).chat.completions.create(**REQUEST)  # fail open (the default)
    assert len(api.requests) == 1
