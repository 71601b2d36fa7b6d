"""Switches: OTEL_SDK_DISABLED, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS and suppress_instrumentation() make us a no-op.

No span, no metric point, no listener (budgets subscribe there) and the overhead of an uninstrumented call: with
either environment switch nothing is patched at all (the SDK methods stay the SDK's own), from code and under
``opentelemetry-instrument``; inside ``suppress_instrumentation()`` every entry point passes straight through.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

import anthropic_payloads as ap
from conftest import Captured, make_captured
from openai_payloads import MESSAGES, FakeOpenAI, chat_helpers
from otel_llmcost import names, patching
from otel_llmcost.instrumentor import switched_off
from test_openai_launcher import LAUNCHER, _json_documents

ANTHROPIC_KW: dict[str, Any] = {"model": "claude-opus-4-7", "max_tokens": 100, "messages": ap.MESSAGES}
OURS = {names.METRIC_COST, names.METRIC_TOKENS, names.METRIC_REQUEST_COST, names.METRIC_UNPRICED,
        names.METRIC_TOKEN_USAGE, names.METRIC_OPERATION_DURATION, names.METRIC_TIME_TO_FIRST_CHUNK,
        names.METRIC_SAVINGS}


def our_points(captured: Captured) -> dict[str, int]:
    """Data points of our call metrics (the process-wide self-metric of internal errors aside)."""
    captured.reader.collect()
    data = captured.reader.get_metrics_data()
    found: dict[str, int] = {}
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name in OURS and metric.data.data_points:
                    found[metric.name] = len(metric.data.data_points)
    return found


def every_entry_point(oai: openai.OpenAI, aoai: openai.AsyncOpenAI, ant: Any, aant: Any) -> list[Any]:
    """One call through each kind of entry point; returns what each gave the caller."""
    results: list[Any] = [
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES),
        list(oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                         stream_options={"include_usage": True})),
        chat_helpers(oai).parse(model="gpt-4o", messages=MESSAGES),
        oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES).parse(),
        oai.responses.create(model="gpt-4o", input="hi"),
        oai.embeddings.create(model="text-embedding-3-small", input="hi"),
        ant.messages.create(**ANTHROPIC_KW),
        list(ant.messages.create(stream=True, **ANTHROPIC_KW)),
        ant.messages.count_tokens(model="claude-opus-4-7", messages=ap.MESSAGES),
    ]
    with ant.messages.stream(**ANTHROPIC_KW) as stream:
        results.append(stream.get_final_message())

    async def more() -> list[Any]:
        found = [await aoai.chat.completions.create(model="gpt-4o", messages=MESSAGES),
                 await aant.messages.create(**ANTHROPIC_KW)]
        async with aant.messages.stream(**ANTHROPIC_KW) as stream:
            found.append(await stream.get_final_message())
        return found

    return results + asyncio.run(more())


@pytest.fixture
def clients() -> tuple[Any, Any, Any, Any]:
    oai, ant = FakeOpenAI(), ap.FakeAnthropic()
    return oai.client(), oai.async_client(), ant.client(**ap.OFF), ant.async_client(**ap.OFF)


def _ours_on_sdk() -> bool:
    import anthropic.resources.messages.messages as messages
    import openai.resources.chat.completions as completions

    return patching.wrapped_by_us(completions.Completions, "create") or patching.wrapped_by_us(
        messages.Messages, "create"
    )


# --- the environment switches -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "off"),
    [
        ({"OTEL_SDK_DISABLED": "true"}, True),
        ({"OTEL_SDK_DISABLED": " TRUE "}, True),
        ({"OTEL_SDK_DISABLED": "false"}, False),
        ({"OTEL_SDK_DISABLED": "1"}, False),  # the SDK itself only takes "true"
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "llmcost"}, True),
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests, llmcost ,openai"}, True),
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*"}, True),
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,llmcostx"}, False),
        ({}, False),
    ],
)
def test_switched_off_reads_the_environment_as_opentelemetry_does(env: dict[str, str], off: bool) -> None:
    assert (switched_off(env) is not None) is off


@pytest.mark.parametrize(
    "env", [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,llmcost"}]
)
def test_environment_switch_patches_nothing(
    monkeypatch: pytest.MonkeyPatch, clients: tuple[Any, ...], env: dict[str, str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    captured = make_captured()
    try:
        assert captured.instrumentor.runtime is None
        assert not _ours_on_sdk()  # the SDK's own methods: an uninstrumented call's overhead, exactly
        every_entry_point(*clients)
        assert captured.spans() == []
        assert our_points(captured) == {}
    finally:
        captured.instrumentor.uninstrument()
    monkeypatch.delenv(next(iter(env)))
    captured = make_captured()  # and without the switch, the same process instruments as usual
    try:
        assert _ours_on_sdk()
        # New clients: an SDK client binds with_raw_response's methods on first use, to what was there then.
        oai, ant = FakeOpenAI(), ap.FakeAnthropic()
        every_entry_point(oai.client(), oai.async_client(), ant.client(**ap.OFF), ant.async_client(**ap.OFF))
        assert len(captured.client_spans()) == 13
    finally:
        captured.instrumentor.uninstrument()


APP = """
import HTTP_LIB as http_lib
import openai

def handler(request):
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050}}
    return http_lib.Response(200, json=body)

client = openai.OpenAI(api_key="sk-test", http_client=http_lib.Client(transport=http_lib.MockTransport(handler)))
for _ in range(3):
    assert client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]).usage
import otel_llmcost.instrumentor as ours
print("OURS_RUNTIME", ours.LLMCostInstrumentor().runtime)
"""


@pytest.mark.skipif(not LAUNCHER.exists(), reason="opentelemetry-instrument is not installed next to this Python")
@pytest.mark.skipif(not entry_points(group="opentelemetry_configurator"), reason="no OpenTelemetry distro installed")
@pytest.mark.parametrize(
    "switch",
    [{"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,llmcost"}, {"OTEL_SDK_DISABLED": "true"}],
    ids=["disabled-instrumentations", "sdk-disabled"],
)
def test_launcher_switches(tmp_path: Path, switch: dict[str, str]) -> None:
    from openai_payloads import http

    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP).replace("HTTP_LIB", http.__name__))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
    env.update(OTEL_METRIC_EXPORT_INTERVAL="600000", OTEL_LOGS_EXPORTER="none", **switch)
    if "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" not in switch:
        env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "openai"  # the other OpenAI instrumentations: not ours
    result = subprocess.run(
        [str(LAUNCHER), "--traces_exporter", "console", "--metrics_exporter", "console", sys.executable, str(app)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OURS_RUNTIME None" in result.stdout  # never instrumented
    documents = _json_documents(result.stdout)
    assert [d for d in documents if "kind" in d and "context" in d] == []  # no span
    exported = {m["name"] for d in documents for rm in d.get("resource_metrics", []) for sm in rm["scope_metrics"]
                if sm["scope"]["name"] == names.INSTRUMENTATION_SCOPE for m in sm["metrics"]}
    assert exported <= {names.METRIC_INSTRUMENTATION_ERRORS}  # none of the call metrics


# --- suppress_instrumentation() -----------------------------------------------------------------------
def test_suppressed_calls_are_untouched_everywhere(captured: Captured, clients: tuple[Any, ...]) -> None:
    runtime = captured.instrumentor.runtime
    assert runtime is not None
    heard: list[Any] = []
    runtime.listeners.append(lambda request, outcome, span: heard.append(request))  # where budgets listen
    with suppress_instrumentation():
        suppressed = every_entry_point(*clients)
    assert captured.spans() == []
    assert our_points(captured) == {}
    assert heard == []
    plain = every_entry_point(*clients)  # the same calls, not suppressed
    assert len(captured.client_spans()) == 13
    assert len(heard) == 13
    strip = [r.model_dump() if hasattr(r, "model_dump") else [c.model_dump() for c in r] for r in suppressed]
    assert strip == [r.model_dump() if hasattr(r, "model_dump") else [c.model_dump() for c in r] for r in plain]


def _per_call(fn: Callable[[], object], calls: int) -> float:
    """CPU time of this thread per call: what the call costs, not what other processes on the machine take."""
    start = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - start) / calls


@pytest.mark.benchmark
def test_suppressed_call_costs_what_an_uninstrumented_call_costs() -> None:
    """Blocks of calls alternate between instrumentation off, on but suppressed, and on; the suppressed calls'
    fastest block stays within a few percent of the uninstrumented one (bound generous for a busy 2-core machine;
    the figures are printed)."""
    from openai_payloads import chat_completion, http

    body = json.dumps(chat_completion()).encode()
    client = openai.OpenAI(api_key="sk-test", http_client=http.Client(transport=http.MockTransport(
        lambda request: http.Response(200, headers={"content-type": "application/json"}, content=body))))

    def call() -> object:
        return client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    captured = make_captured()
    instrumentor = captured.instrumentor
    times: dict[str, list[float]] = {"bare": [], "suppressed": [], "on": []}
    try:
        for _ in range(30):
            call()  # warm-up
        for block in range(16):
            for mode in ("bare", "suppressed", "on") if block % 2 else ("on", "suppressed", "bare"):
                if mode == "bare":
                    instrumentor.uninstrument()
                    times[mode].append(_per_call(call, 60))
                    instrumentor.instrument(tracer_provider=captured.tracer_provider,
                                            meter_provider=captured.meter_provider)
                elif mode == "suppressed":
                    with suppress_instrumentation():
                        times[mode].append(_per_call(call, 60))
                else:
                    times[mode].append(_per_call(call, 60))
                    captured.exporter.clear()
    finally:
        instrumentor.uninstrument()
    # The fastest block of each: noise from other processes only ever adds time.
    base, suppressed, on = (min(times[m]) for m in ("bare", "suppressed", "on"))
    print(f"\nCPU per call: uninstrumented {base * 1e6:.0f} µs; suppressed {suppressed * 1e6:.0f} µs "
          f"(x{suppressed / base:.3f}); instrumented {on * 1e6:.0f} µs (x{on / base:.3f})")
    assert suppressed / base < 1.15


@pytest.fixture(autouse=True)
def _no_leftover_instrumentation() -> Iterator[None]:
    yield
    assert not _ours_on_sdk()
