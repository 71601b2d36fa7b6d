"""Beside the other Anthropic instrumentations: OpenTelemetry's own on util-genai
(opentelemetry-instrumentation-genai-anthropic) and OpenLLMetry's (opentelemetry-instrumentation-anthropic) wrap
the same ``messages`` methods we do, with wrapt, in whichever order they load; Logfire's
(``logfire.instrument_anthropic`` / ``instrument_openai``) wraps the client's ``request`` below them.

With them active, in either order relative to ours: the app gets exactly what it gets with ours alone (return
values, stream events, the stream helpers), each call has exactly one ``gen_ai.usage.cost`` (ours) and our metric
sums equal those of ours alone; ``uninstrument()`` of ours takes out our layer only. What the user sees beside that
is in the README ("Running beside other instrumentations").
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from anthropic_payloads import MESSAGES, FakeAnthropic
from coexistence_support import costed, installed, money
from conftest import Captured, make_captured
from otel_llmcost import names, patching

pytestmark = pytest.mark.skipif(
    not installed("opentelemetry.instrumentation.genai.anthropic")
    or not installed("opentelemetry.instrumentation.anthropic"),
    reason="the other Anthropic instrumentations are not installed (pip install -e '.[test,test-coexist]')",
)

SCOPE_OTEL = "opentelemetry.instrumentation.genai.anthropic"
SCOPE_OPENLLMETRY = "opentelemetry.instrumentation.anthropic"
MODEL = "claude-sonnet-4-5"


def _classes(package: str) -> list[type]:
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(module.name)
    return [value for name, module in list(sys.modules.items()) if name.startswith(package + ".")
            for value in vars(module).values() if isinstance(value, type) and value.__module__ == name]


@pytest.fixture(autouse=True)
def pristine_sdks() -> Iterator[None]:
    """Each test leaves the SDK classes (and the current context) as it found them: the others' uninstrument()
    is not clean when they were stacked (see test_hardening_coexistence.py), and Logfire has none per client
    class we could call between tests."""
    import anthropic
    import openai

    classes = _classes("anthropic.resources") + _classes("openai.resources") + [
        anthropic.Anthropic, anthropic.AsyncAnthropic, openai.OpenAI, openai.AsyncOpenAI,
        *anthropic.Anthropic.__mro__[1:3], *anthropic.AsyncAnthropic.__mro__[1:3],
        *openai.OpenAI.__mro__[1:3], *openai.AsyncOpenAI.__mro__[1:3],
    ]
    saved = {cls: dict(vars(cls)) for cls in classes}
    current = otel_context.get_current()
    yield
    otel_context.attach(current)
    for cls, attributes in saved.items():
        for key, value in attributes.items():
            if vars(cls).get(key) is not value:
                setattr(cls, key, value)
        for key in set(vars(cls)) - set(attributes):
            delattr(cls, key)


def others() -> list[Any]:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as OpenLLMetry
    from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor as OpenTelemetry

    return [OpenTelemetry(), OpenLLMetry()]


def run_app(api: FakeAnthropic) -> list[Any]:
    """A small app: a message, a raw event stream, the stream() helper, an async message. Returns what it got."""
    client, aclient = api.client(), api.async_client()
    got: list[Any] = [
        client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES).model_dump(),
        [e.model_dump() for e in client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True)],
    ]
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        got.append((text, stream.get_final_message().model_dump()))

    async def message() -> Any:
        return (await aclient.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)).model_dump()

    got.append(asyncio.run(message()))
    return got


@pytest.fixture
def alone() -> tuple[list[Any], list[tuple[str, float]], dict[str, float]]:
    captured = make_captured()
    try:
        got = run_app(FakeAnthropic())
        return got, costed(captured), money(captured)
    finally:
        captured.instrumentor.uninstrument()


def stacked(order: str, cleanup: list[Any]) -> Captured:
    """Ours and the others on one set of providers; ``theirs-first``: ours loads last (its layer outermost)."""
    captured = make_captured()
    cleanup.append(captured.instrumentor)
    providers = {"tracer_provider": captured.tracer_provider, "meter_provider": captured.meter_provider}
    if order == "theirs-first":
        captured.instrumentor.uninstrument()
    for instrumentor in others():
        instrumentor.instrument(**providers)
        cleanup.append(instrumentor)
    if order == "theirs-first":
        captured.instrumentor.instrument(**providers)
    return captured


@pytest.mark.parametrize("order", ["theirs-first", "ours-first"])
def test_one_cost_per_call_beside_otel_and_openllmetry(
    alone: tuple[list[Any], list[tuple[str, float]], dict[str, float]], cleanup: list[Any], order: str
) -> None:
    got_alone, cost_alone, money_alone = alone
    captured = stacked(order, cleanup)
    got = run_app(FakeAnthropic())
    assert got == got_alone  # the app gets exactly what it gets without them (streams and helpers included)
    assert costed(captured) == cost_alone  # one cost record per call, ours
    assert {scope for scope, _ in costed(captured)} == {names.INSTRUMENTATION_SCOPE}
    assert money(captured) == money_alone  # nothing counted twice
    spans = [s for s in captured.spans() if s.kind is SpanKind.CLIENT]
    scopes = {s.instrumentation_scope.name for s in spans if s.instrumentation_scope}
    assert {names.INSTRUMENTATION_SCOPE, SCOPE_OTEL, SCOPE_OPENLLMETRY} <= scopes  # each its own span
    seen = sorted((s.instrumentation_scope.name if s.instrumentation_scope else "", s.name) for s in spans)
    print(f"\n{order}: {len(spans)} CLIENT spans for 4 calls: {seen}")


def test_uninstrumenting_ours_leaves_theirs_working(cleanup: list[Any]) -> None:
    import anthropic.resources.messages as messages

    captured = make_captured()
    cleanup.append(captured.instrumentor)
    for instrumentor in others():  # loaded after ours: their layers sit on top of ours
        instrumentor.instrument(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider)
        cleanup.append(instrumentor)
    captured.instrumentor.uninstrument()
    assert not patching.wrapped_by_us(messages.Messages, "create")
    captured.exporter.clear()
    api = FakeAnthropic()
    api.client().messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    scopes = {s.instrumentation_scope.name for s in captured.spans() if s.instrumentation_scope}
    assert {SCOPE_OTEL, SCOPE_OPENLLMETRY} <= scopes  # theirs still there
    assert names.INSTRUMENTATION_SCOPE not in scopes  # ours gone
    captured.instrumentor.instrument(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider)
    captured.exporter.clear()
    api.client().messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert [scope for scope, _ in costed(captured)] == [names.INSTRUMENTATION_SCOPE]  # and ours back, once


# --- Logfire ------------------------------------------------------------------------------------------------
@pytest.fixture
def logfire_on(cleanup: list[Any]) -> Iterator[Captured]:
    """Logfire configured locally (nothing sent, nothing printed), its spans also into our exporter; ours on the
    same exporter. Logfire installs its tracer provider globally: put back afterwards."""
    logfire = pytest.importorskip("logfire")
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    captured = make_captured()
    cleanup.append(captured.instrumentor)
    before = trace._TRACER_PROVIDER
    logfire.configure(send_to_logfire=False, console=False, metrics=False,
                      additional_span_processors=[SimpleSpanProcessor(captured.exporter)])
    try:
        yield captured
    finally:
        trace._TRACER_PROVIDER = before


def test_beside_logfire_anthropic_and_openai(
    alone: tuple[list[Any], list[tuple[str, float]], dict[str, float]], logfire_on: Captured
) -> None:
    import logfire

    from openai_payloads import MESSAGES as OPENAI_MESSAGES
    from openai_payloads import FakeOpenAI

    got_alone, cost_alone, money_alone = alone
    captured = logfire_on
    logfire.instrument_anthropic()
    logfire.instrument_openai()
    assert run_app(FakeAnthropic()) == got_alone
    # Logfire made its tracer provider global, so anthropic (1.14+) traces itself: our span takes the SDK's
    # place (its scope and name, see "What is instrumented (Anthropic)"); still one cost per call, counted once.
    ours = costed(captured)
    assert {scope for scope, _ in ours} <= {names.INSTRUMENTATION_SCOPE, "com.anthropic.sdk.python"}
    assert [c for _, c in ours] == [c for _, c in cost_alone] and money(captured) == money_alone
    theirs = costed(captured, "operation.cost")  # Logfire prices with genai-prices too: its own attribute
    assert len(theirs) == len(ours) and [c for _, c in theirs] == pytest.approx([c for _, c in ours])
    captured.exporter.clear()
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=OPENAI_MESSAGES)
    assert [scope for scope, _ in costed(captured)] == [names.INSTRUMENTATION_SCOPE]
    print(f"\nlogfire: {sorted((s.instrumentation_scope.name, s.name, s.kind.name) for s in captured.spans())}")


# --- under the launcher ---------------------------------------------------------------------------------------
ANTHROPIC_APP = """
from otel_llmcost.fakes.anthropic_api import FakeAnthropic

client = FakeAnthropic().client()
for _ in range(3):
    client.messages.create(model="MODEL", max_tokens=100, messages=[{"role": "user", "content": "Hi"}])
with client.messages.stream(model="MODEL", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]) as s:
    "".join(s.text_stream)
""".replace("MODEL", MODEL)


def test_launcher_with_all_anthropic_instrumentations(tmp_path: Any) -> None:
    """``opentelemetry-instrument`` loads ours, genai-anthropic and OpenLLMetry's (entry points, its own order) and
    sets a global tracer provider, so anthropic (1.14+) traces itself too: still one cost per call."""
    import os
    import subprocess
    import textwrap
    from importlib.metadata import entry_points

    from test_openai_launcher import LAUNCHER, _json_documents, _metric_points

    if not LAUNCHER.exists() or not entry_points(group="opentelemetry_configurator"):
        pytest.skip("opentelemetry-instrument or an OpenTelemetry distro is not installed")
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(ANTHROPIC_APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_", "TRACELOOP_"))}
    env.update(OTEL_METRIC_EXPORT_INTERVAL="600000", OTEL_LOGS_EXPORTER="none", OTEL_SERVICE_NAME="all")
    result = subprocess.run(
        [str(LAUNCHER), "--traces_exporter", "console", "--metrics_exporter", "console", sys.executable, str(app)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    documents = _json_documents(result.stdout)
    spans = [d for d in documents if "context" in d and "kind" in d]
    costs = [s["attributes"][names.GEN_AI_USAGE_COST] for s in spans if names.GEN_AI_USAGE_COST in s["attributes"]]
    assert len(costs) == 4 and len(set(costs)) == 1  # exactly one cost record per call
    assert len(spans) > 4  # theirs are there too
    total = sum(p["value"] for p in _metric_points(documents, names.METRIC_COST))
    assert total == pytest.approx(4 * costs[0])  # our cost counter: not doubled
    print(f"\nlauncher, anthropic: {sorted(s['name'] for s in spans)}")
