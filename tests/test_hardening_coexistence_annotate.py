"""``OTEL_LLMCOST_SPAN=annotate`` beside OpenTelemetry's own GenAI instrumentations (opentelemetry-instrumentation-
genai-openai and -anthropic, on util-genai): one span per call, whichever loads first.

- theirs wraps ours (ours instrumented first): their span carries the call; our cost, cache counts, ``llmcost.*`` and
  attribution go onto it through util-genai's context mark; we make no span, no content and no ``gen_ai.client.*``
  points (theirs has them), only our ``llmcost.*`` metrics.
- ours wraps theirs: ours is the outer span; our mark makes theirs publish into it instead of making a span.

Either way: the app gets what it gets alone, each call has one span and one cost (the value ours alone gives), our
money metrics equal ours alone, the conventions' duration histogram counts each call once. Without util-genai
(OpenLLMetry only) the mode falls back to our own span. ``uninstrument()`` takes out only our layer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from anthropic_payloads import FakeAnthropic
from coexistence_support import costed, installed, money
from conftest import Captured, make_captured
from openai_payloads import MESSAGES, FakeOpenAI
from otel_llmcost import attributes, names
from test_hardening_coexistence import pristine_openai, run_app  # noqa: F401  (pristine_openai: autouse fixture)
from test_hardening_coexistence_anthropic import MODEL, pristine_sdks  # noqa: F401
from test_hardening_coexistence_anthropic import run_app as run_anthropic_app

pytestmark = pytest.mark.skipif(
    not installed("opentelemetry.instrumentation.genai.openai")
    or not installed("opentelemetry.instrumentation.genai.anthropic"),
    reason="OpenTelemetry's GenAI instrumentations are not installed (pip install -e '.[test,test-coexist]')",
)

SCOPE_OPENAI = "opentelemetry.instrumentation.genai.openai"
SCOPE_ANTHROPIC = "opentelemetry.instrumentation.genai.anthropic"
ANNOTATE = {"span": names.SPAN_ANNOTATE}


def otel_openai() -> Any:
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    return OpenAIInstrumentor()


def otel_anthropic() -> Any:
    from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor

    return AnthropicInstrumentor()


def stacked(theirs: Any, order: str, cleanup: list[Any], **options: Any) -> Captured:
    """Ours (with ``options``) and ``theirs`` on one set of providers. ``theirs-outer``: ours instrumented first,
    so their layer wraps ours; ``ours-outer``: ours instrumented last."""
    captured = make_captured(**options)
    cleanup.append(captured.instrumentor)
    providers = {"tracer_provider": captured.tracer_provider, "meter_provider": captured.meter_provider}
    if order == "ours-outer":
        captured.instrumentor.uninstrument()
    theirs.instrument(**providers)
    cleanup.append(theirs)
    if order == "ours-outer":
        captured.instrumentor.instrument(**providers, **options)
    return captured


def client_spans(captured: Captured) -> list[tuple[str, str]]:
    return [(s.instrumentation_scope.name if s.instrumentation_scope else "", s.name)
            for s in captured.spans() if s.kind is SpanKind.CLIENT]


def points(captured: Captured, metric: str) -> dict[str, int]:
    """How many calls each scope recorded in the histogram ``metric``."""
    counts: dict[str, int] = {}
    for rm in captured.metrics().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == metric:
                    counts[sm.scope.name] = counts.get(sm.scope.name, 0) + sum(p.count for p in m.data.data_points)
    return counts


def alone(app: Any, api: Any) -> tuple[list[Any], list[float], dict[str, float]]:
    captured = make_captured()
    try:
        got = app(api)
        return got, [cost for _, cost in costed(captured)], money(captured)
    finally:
        captured.instrumentor.uninstrument()


CASES = {
    "openai": (otel_openai, run_app, FakeOpenAI, SCOPE_OPENAI, 5),
    "anthropic": (otel_anthropic, run_anthropic_app, FakeAnthropic, SCOPE_ANTHROPIC, 4),
}


@pytest.mark.parametrize("order", ["theirs-outer", "ours-outer"])
@pytest.mark.parametrize("sdk", list(CASES))
def test_one_span_per_call(sdk: str, order: str, cleanup: list[Any]) -> None:
    make_theirs, app, api, scope, calls = CASES[sdk]
    got_alone, cost_alone, money_alone = alone(app, api())
    captured = stacked(make_theirs(), order, cleanup, **ANNOTATE)
    assert app(api()) == got_alone  # the app gets exactly what it gets alone
    spans = client_spans(captured)
    assert len(spans) == calls  # one span per call: the outer layer's
    owners = [s for s, _ in spans]
    if order == "theirs-outer":
        assert set(owners) == {scope}
    else:  # genai-anthropic starts a stream() helper's span when the caller enters it: outside ours, so outer
        assert owners.count(names.INSTRUMENTATION_SCOPE) >= calls - 1
        assert set(owners) <= {scope, names.INSTRUMENTATION_SCOPE}
    records = costed(captured)
    assert [cost for _, cost in records] == cost_alone and [s for s, _ in records] == owners  # one cost on each
    assert money(captured) == money_alone  # counted once
    assert sum(points(captured, names.METRIC_OPERATION_DURATION).values()) == calls  # the conventions' too
    print(f"\n{sdk}, {order}: {spans}")


def test_their_span_gets_our_cost_cache_and_attribution(cleanup: list[Any]) -> None:
    captured = stacked(otel_openai(), "theirs-outer", cleanup, **ANNOTATE)
    client = FakeOpenAI().client()
    with attributes(feature="summarize", team="search"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = [s for s in captured.spans() if s.kind is SpanKind.CLIENT]
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == SCOPE_OPENAI
    attrs = dict(span.attributes or {})
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(0.00045)  # 100 x $2.50/M + 20 x $10/M
    assert attrs[names.LLMCOST_COST_INPUT] == pytest.approx(0.00025)
    assert attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0
    assert attrs["llmcost.feature"] == "summarize" and attrs["llmcost.team"] == "search"
    assert attrs[names.LLMCOST_REQUEST_ORIGIN] == "none"  # their span is the root: the call has no parent of the app
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 100  # theirs
    # Theirs records the conventions' points; ours only llmcost.*
    assert points(captured, names.METRIC_OPERATION_DURATION) == {SCOPE_OPENAI: 1}
    assert points(captured, names.METRIC_TOKEN_USAGE) == {SCOPE_OPENAI: 2}


def test_our_span_gets_what_theirs_published(cleanup: list[Any]) -> None:
    """Ours outer: theirs (suppressed) publishes its extra attributes into our mark; our span keeps them where it
    has none of its own."""
    captured = stacked(otel_openai(), "ours-outer", cleanup, **ANNOTATE)
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = [s for s in captured.spans() if s.kind is SpanKind.CLIENT]
    attrs = dict(span.attributes or {})
    assert attrs[names.GEN_AI_USAGE_COST] == pytest.approx(0.00045)
    assert attrs[names.OPENAI_RESPONSE_SERVICE_TIER] == "default"
    assert points(captured, names.METRIC_OPERATION_DURATION) == {names.INSTRUMENTATION_SCOPE: 1}


@pytest.mark.parametrize("capture", ["SPAN_AND_EVENT", "EVENT_ONLY"])
def test_content_is_theirs_to_write(monkeypatch: pytest.MonkeyPatch, cleanup: list[Any], capture: str) -> None:
    """With content capture on, their span and event carry the content; ours adds none (no second event)."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", capture)
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    captured = make_captured(**ANNOTATE, logger_provider=logger_provider)
    cleanup.append(captured.instrumentor)
    theirs = otel_openai()
    theirs.instrument(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider,
                      logger_provider=logger_provider)
    cleanup.append(theirs)
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    events = [r.log_record for r in logs.get_finished_logs()]
    assert [getattr(e, "event_name", None) for e in events] == [names.GEN_AI_INFERENCE_DETAILS_EVENT]
    (span,) = [s for s in captured.spans() if s.kind is SpanKind.CLIENT]
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == SCOPE_OPENAI
    assert names.GEN_AI_USAGE_COST_AMOUNT in (span.attributes or {})  # ours, in the mode's names


@pytest.mark.skipif(not installed("opentelemetry.instrumentation.openai"), reason="OpenLLMetry is not installed")
def test_without_util_genai_the_call_gets_our_span(cleanup: list[Any]) -> None:
    """OpenLLMetry sets no mark: annotate falls back to our own span, as OTEL_LLMCOST_SPAN=own."""
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetry

    _, cost_alone, money_alone = alone(run_app, FakeOpenAI())
    captured = stacked(OpenLLMetry(), "theirs-outer", cleanup, **ANNOTATE)
    run_app(FakeOpenAI())
    records = costed(captured)
    assert [cost for _, cost in records] == cost_alone and {s for s, _ in records} == {names.INSTRUMENTATION_SCOPE}
    assert money(captured) == money_alone


def test_uninstrument_takes_out_only_ours(cleanup: list[Any]) -> None:
    captured = stacked(otel_openai(), "theirs-outer", cleanup, **ANNOTATE)
    captured.instrumentor.uninstrument()
    captured.exporter.clear()
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert client_spans(captured) == [(SCOPE_OPENAI, "chat gpt-4o")]  # theirs still works
    assert costed(captured) == []  # and carries no cost of ours


def test_async_and_streams_end_before_theirs(cleanup: list[Any]) -> None:
    """An inner call ends first, however it is read: every span of theirs gets its cost (async, stream, with)."""
    captured = stacked(otel_anthropic(), "theirs-outer", cleanup, **ANNOTATE)
    api = FakeAnthropic()

    async def read() -> None:
        stream = await api.async_client().messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Hi"}], stream=True)
        async with stream:
            async for _ in stream:
                pass

    asyncio.run(read())
    with api.client().messages.stream(model=MODEL, max_tokens=100,
                                      messages=[{"role": "user", "content": "Hi"}]) as stream:
        stream.get_final_message()
    records = costed(captured)
    assert len(records) == 2 and {s for s, _ in records} == {SCOPE_ANTHROPIC}
    assert len(client_spans(captured)) == 2


def test_launcher_annotate_with_all_three(tmp_path: Any) -> None:
    """``opentelemetry-instrument`` loads ours, genai-openai and OpenLLMetry's in its own (entry-point) order: with
    OTEL_LLMCOST_SPAN=annotate, ours and OpenTelemetry's share one span per call (OpenLLMetry, which sets no mark,
    keeps its own), that span carries the one cost, and our cost counter counts each call once."""
    import os
    import subprocess
    import sys
    import textwrap
    from importlib.metadata import entry_points

    from test_openai_launcher import APP, CALLS, COST, LAUNCHER, _json_documents, _metric_points

    if not LAUNCHER.exists() or not entry_points(group="opentelemetry_configurator"):
        pytest.skip("opentelemetry-instrument or an OpenTelemetry distro is not installed")
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACELOOP_"))}
    env.update(OTEL_METRIC_EXPORT_INTERVAL="600000", OTEL_LOGS_EXPORTER="none", OTEL_SERVICE_NAME="annotate",
               OTEL_LLMCOST_SPAN="annotate")
    result = subprocess.run(
        [str(LAUNCHER), "--traces_exporter", "console", "--metrics_exporter", "console", sys.executable, str(app)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    documents = _json_documents(result.stdout)
    spans = [d for d in documents if "context" in d and "kind" in d]
    costs = [s for s in spans if names.GEN_AI_USAGE_COST in s["attributes"]]
    assert len(costs) == CALLS and all(s["attributes"][names.GEN_AI_USAGE_COST] == COST for s in costs)
    # One "chat gpt-4o" span per call (ours or OpenTelemetry's, whichever is outer), plus OpenLLMetry's own.
    assert sorted(s["name"] for s in spans if s["kind"] == "SpanKind.CLIENT" and s["name"].startswith("chat ")) == [
        "chat gpt-4o"] * CALLS
    total = sum(p["value"] for p in _metric_points(documents, names.METRIC_COST))
    assert abs(total - CALLS * COST) < 1e-12
    print(f"\nlauncher, annotate: {sorted(s['name'] for s in spans)}")
