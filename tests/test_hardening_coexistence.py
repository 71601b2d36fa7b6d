"""Other instrumentations present: OpenTelemetry's own (opentelemetry-instrumentation-genai-openai) and OpenLLMetry's
(opentelemetry-instrumentation-openai) wrap the same OpenAI methods, with wrapt too, in whichever order they load.

With both active, in either order relative to ours, and under ``opentelemetry-instrument`` (which loads all three):
the app gets exactly what it gets with ours alone, each call still gets exactly one cost record (one span with
``gen_ai.usage.cost``, ours), and our metric sums equal those of ours alone (no money counted twice). What the user
sees beside that, documented in the README ("Running beside other instrumentations"): each instrumentation's own
span for the call (ours ``chat gpt-4o``, OpenTelemetry's ``chat gpt-4o`` without cost, OpenLLMetry's
``openai.chat``), nested in loading order; their metrics under their own scopes, none of them in USD.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from coexistence_support import costed, installed, money
from conftest import Captured, make_captured
from openai_payloads import MESSAGES, FakeOpenAI
from otel_llmcost import names, patching
from test_openai_launcher import APP, CALLS, COST, LAUNCHER, _json_documents, _metric_points

pytestmark = pytest.mark.skipif(
    not installed("opentelemetry.instrumentation.genai.openai")
    or not installed("opentelemetry.instrumentation.openai"),
    reason="the other OpenAI instrumentations are not installed (pip install -e '.[test,test-coexist]')",
)

SCOPES_V2 = {"opentelemetry.instrumentation.genai.openai"}  # opentelemetry-instrumentation-genai-openai (util-genai)
SCOPE_OPENLLMETRY = "opentelemetry.instrumentation.openai.v1"


@pytest.fixture(autouse=True)
def pristine_openai() -> Iterator[None]:
    """Each test leaves the OpenAI classes (and the current context) as it found them. Needed because the
    others' uninstrument() is not clean: OpenTelemetry's unwrap() takes ``getattr(cls, name).__wrapped__``, which
    with wrapt 2 is a bound wrapper of the layer below, so a layer of theirs stays active when they were stacked."""
    import openai.resources

    for module in pkgutil.walk_packages(openai.resources.__path__, "openai.resources."):
        importlib.import_module(module.name)
    classes = [value for name, module in list(sys.modules.items()) if name.startswith("openai.resources.")
               for value in vars(module).values() if isinstance(value, type) and value.__module__ == name]
    saved = {cls: dict(vars(cls)) for cls in classes}
    current = otel_context.get_current()
    yield
    # The two of them together leave OpenLLMetry's span current after a chat stream (without us too).
    otel_context.attach(current)
    for cls, attributes in saved.items():
        for key, value in attributes.items():
            if vars(cls).get(key) is not value:
                setattr(cls, key, value)


def others() -> list[Any]:
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor as OpenTelemetryGenAI
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetry

    return [OpenTelemetryGenAI(), OpenLLMetry()]


def run_app(api: FakeOpenAI) -> list[Any]:
    """A small app: chat, a chat stream with usage, Responses, embeddings, async chat. Returns what it got."""
    client, aclient = api.client(), api.async_client()
    got: list[Any] = [
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES).model_dump(),
        [c.model_dump() for c in client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True})],
        client.responses.create(model="gpt-4o", input="hi").model_dump(),
        client.embeddings.create(model="text-embedding-3-small", input="hi").model_dump(),
    ]

    async def chat() -> Any:
        return (await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)).model_dump()

    got.append(asyncio.run(chat()))
    return got


def usd_metrics_by_scope(captured: Captured) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rm in captured.metrics().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.unit == names.UNIT_USD:
                    found.setdefault(sm.scope.name, []).append(metric.name)
    return found


@pytest.fixture
def alone() -> tuple[list[Any], list[tuple[str, float]], dict[str, float]]:
    """The app with ours alone: what it gets, the cost records, the metric sums."""
    captured = make_captured()
    try:
        got = run_app(FakeOpenAI())
        return got, costed(captured), money(captured)
    finally:
        captured.instrumentor.uninstrument()


@pytest.mark.parametrize("order", ["theirs-first", "ours-first"])
def test_one_cost_record_per_call_beside_both(
    alone: tuple[list[Any], list[tuple[str, float]], dict[str, float]], cleanup: list[Any], order: str
) -> None:
    got_alone, cost_alone, money_alone = alone
    captured = make_captured()  # one set of providers for all three
    cleanup.append(captured.instrumentor)
    providers = {"tracer_provider": captured.tracer_provider, "meter_provider": captured.meter_provider}
    if order == "theirs-first":  # ours loads last: its layer is the outermost
        captured.instrumentor.uninstrument()
    for instrumentor in others():
        instrumentor.instrument(**providers)
        cleanup.append(instrumentor)
    if order == "theirs-first":
        captured.instrumentor.instrument(**providers)

    got = run_app(FakeOpenAI())
    assert got == got_alone  # the app works, and gets exactly what it gets without them
    assert costed(captured) == cost_alone  # one cost record per call, ours
    assert {scope for scope, _ in costed(captured)} == {names.INSTRUMENTATION_SCOPE}
    assert money(captured) == money_alone  # nothing counted twice
    assert usd_metrics_by_scope(captured).keys() == {names.INSTRUMENTATION_SCOPE}  # nobody else reports money
    spans = [s for s in captured.spans() if s.kind is SpanKind.CLIENT]
    scopes = {s.instrumentation_scope.name for s in spans if s.instrumentation_scope}
    assert {names.INSTRUMENTATION_SCOPE, SCOPE_OPENLLMETRY} <= scopes and scopes & SCOPES_V2  # each its own span
    seen = sorted((s.instrumentation_scope.name if s.instrumentation_scope else "", s.name) for s in spans)
    print(f"\n{order}: {len(spans)} CLIENT spans for 5 calls: {seen}")


def test_uninstrumenting_ours_leaves_theirs_working(cleanup: list[Any]) -> None:
    import openai.resources.chat.completions as completions

    captured = make_captured()
    cleanup.append(captured.instrumentor)
    for instrumentor in others():  # loaded after ours: their layers sit on top of ours
        instrumentor.instrument(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider)
        cleanup.append(instrumentor)
    captured.instrumentor.uninstrument()  # ours is at the bottom of the chain: spliced out, theirs kept
    assert not patching.wrapped_by_us(completions.Completions, "create")
    captured.exporter.clear()
    api = FakeOpenAI()
    api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    scopes = {s.instrumentation_scope.name for s in captured.spans() if s.instrumentation_scope}
    assert SCOPE_OPENLLMETRY in scopes and scopes & SCOPES_V2  # theirs still there
    assert names.INSTRUMENTATION_SCOPE not in scopes  # ours gone
    captured.instrumentor.instrument(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider)
    captured.exporter.clear()
    api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert [scope for scope, _ in costed(captured)] == [names.INSTRUMENTATION_SCOPE]  # and ours back, once


def test_uninstrumenting_theirs_leaves_ours_working(cleanup: list[Any]) -> None:
    """Their unwrap() leaves our layer in the class as a bound wrapper: still ours, still counted once, and our
    uninstrument() still takes it out."""
    import openai.resources.chat.completions as completions

    captured = make_captured()
    cleanup.append(captured.instrumentor)
    theirs = others()
    for instrumentor in theirs:
        instrumentor.instrument(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider)
    for instrumentor in theirs:
        instrumentor.uninstrument()
    assert patching.wrapped_by_us(completions.Completions, "create")
    captured.exporter.clear()
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert [scope for scope, _ in costed(captured)] == [names.INSTRUMENTATION_SCOPE]
    captured.instrumentor.uninstrument()
    assert not patching.wrapped_by_us(completions.Completions, "create")
    captured.exporter.clear()
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert costed(captured) == []


@pytest.mark.skipif(not LAUNCHER.exists(), reason="opentelemetry-instrument is not installed next to this Python")
@pytest.mark.skipif(not entry_points(group="opentelemetry_configurator"), reason="no OpenTelemetry distro installed")
def test_launcher_with_all_three(tmp_path: Path) -> None:
    from openai_payloads import http

    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACELOOP_"))}
    env.update(OTEL_METRIC_EXPORT_INTERVAL="600000", OTEL_LOGS_EXPORTER="none", OTEL_SERVICE_NAME="three")
    result = subprocess.run(
        [str(LAUNCHER), "--traces_exporter", "console", "--metrics_exporter", "console", sys.executable, str(app)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert http.__name__ in app.read_text()
    documents = _json_documents(result.stdout)
    spans = [d for d in documents if "context" in d and "kind" in d]
    costs = [s for s in spans if names.GEN_AI_USAGE_COST in s["attributes"]]
    assert len(costs) == CALLS  # exactly one cost record per call
    assert all(s["attributes"][names.GEN_AI_USAGE_COST] == COST for s in costs)
    assert len(spans) > CALLS  # theirs are there too
    by_component = sum(p["value"] for p in _metric_points(documents, names.METRIC_COST))
    assert abs(by_component - CALLS * COST) < 1e-12  # our cost counter: not doubled
    (request_cost,) = _metric_points(documents, names.METRIC_REQUEST_COST)
    assert request_cost["count"] == CALLS
    print(f"\nlauncher, all three: {sorted(s['name'] for s in spans)}")

