"""Start-up: ``instrument()`` imports no SDK; each SDK is patched when the app imports it, in either order.

Each case runs in a fresh interpreter (this test process has long imported every SDK), which prints what it
saw as one JSON line. No timing is asserted here: ``benchmarks/startup.py`` measures the cost.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from otel_llmcost import names
from otel_llmcost.config import ENV_PREFIX, OPTIONS

TESTS = Path(__file__).parent

PRELUDE = """
import json, sys
sys.path.insert(0, TESTS)
import wrapt
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_llmcost import LLMCostInstrumentor, names

exporter = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
instrumentor = LLMCostInstrumentor()

def instrument():
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

def wrapped(owner, attribute):
    return isinstance(vars(owner)[attribute], wrapt.FunctionWrapper)

def costs():
    return {s.name: s.attributes.get(names.GEN_AI_USAGE_COST) for s in exporter.get_finished_spans()}

SDK_MODULES = ("openai", "anthropic", "google.genai", "ollama", "anthropic.lib.bedrock", "anthropic.lib.vertex",
               "genai_prices")
report = {}
"""


def run(body: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run PRELUDE + body in a fresh interpreter (environment ``env``, default this one's); the dict it leaves
    in ``report``."""
    script = PRELUDE.replace("TESTS", repr(str(TESTS))) + textwrap.dedent(body) + "\nprint(json.dumps(report))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_instrument_imports_no_sdk_and_an_sdk_imported_later_is_patched_before_its_first_call() -> None:
    report = run("""
        instrument()
        report["imported"] = sorted(m for m in SDK_MODULES if m in sys.modules)
        report["adapters"] = sorted(m for m in sys.modules if m.startswith("otel_llmcost.providers"))
        from openai.resources.chat.completions import Completions
        report["patched"] = wrapped(Completions, "create")
        report["after_openai"] = sorted(m for m in SDK_MODULES if m in sys.modules)
        from openai_payloads import MESSAGES, FakeOpenAI
        FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        report["costs"] = costs()
    """)
    assert report["imported"] == []
    assert report["adapters"] == []
    assert report["patched"] is True
    assert list(report["costs"]) == ["chat gpt-4o"] and report["costs"]["chat gpt-4o"] > 0
    assert report["after_openai"] == ["openai"]  # patching openai imported no other SDK, nor the price data


def _unconfigured() -> dict[str, str]:
    """This environment without any variable of otel-llmcost: a process configured by defaults alone."""
    ours = {option.env for option in OPTIONS.values() if option.env}
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(ENV_PREFIX) and k not in ours}


def test_instrument_with_nothing_to_validate_does_not_import_pydantic() -> None:
    """pydantic (~70 ms with the settings model) is imported only when an argument or a variable gives a value:
    a process that never calls an LLM and sets nothing does not pay for it."""
    report = run("""
        instrument()
        report["pydantic"] = "pydantic" in sys.modules
        report["max_models"] = instrumentor.runtime.settings.max_models
    """, env=_unconfigured())
    assert report == {"pydantic": False, "max_models": 100}


def test_a_variable_to_validate_still_raises_the_same_error() -> None:
    report = run("""
        from otel_llmcost import ConfigError
        try:
            instrument()
        except ConfigError as error:
            report["error"] = str(error)
    """, env={**_unconfigured(), names.ENV_MAX_MODELS: "abc"})
    assert report == {
        "error": f"{names.ENV_MAX_MODELS}='abc' is not a whole number. "
        f"Fix: e.g. {names.ENV_MAX_MODELS}=100 or instrument(max_models=100)."
    }


def test_sdk_imported_before_instrument_is_patched_too() -> None:
    report = run("""
        import anthropic, openai
        from openai_payloads import MESSAGES, FakeOpenAI
        from anthropic_payloads import FakeAnthropic
        oai = FakeOpenAI().client()  # clients made before instrument() are covered: the classes are patched
        ant = FakeAnthropic().client()
        instrument()
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        ant.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=MESSAGES)
        report["costs"] = costs()
    """)
    assert sorted(report["costs"]) == ["chat claude-sonnet-4-5", "chat gpt-4o"]
    assert all(cost > 0 for cost in report["costs"].values())


def test_with_raw_response_is_recorded_when_the_sdk_is_imported_after_instrument() -> None:
    report = run("""
        instrument()
        from openai_payloads import MESSAGES, FakeOpenAI
        from anthropic_payloads import FakeAnthropic
        raw = FakeOpenAI().client().chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        report["openai_text"] = raw.parse().choices[0].message.content
        ant = FakeAnthropic().client()
        with ant.messages.with_streaming_response.create(
            model="claude-sonnet-4-5", max_tokens=100, messages=MESSAGES
        ) as response:
            report["anthropic_type"] = response.parse().type
        report["costs"] = costs()
    """)
    assert report["openai_text"] and report["anthropic_type"] == "message"
    assert sorted(report["costs"]) == ["chat claude-sonnet-4-5", "chat gpt-4o"]
    assert all(cost > 0 for cost in report["costs"].values())


def test_uninstrument_restores_everything_and_disarms_the_hooks_still_waiting() -> None:
    report = run("""
        import openai
        from openai.resources.chat.completions import Completions
        original = vars(Completions)["create"]
        instrument()
        report["patched"] = wrapped(Completions, "create")
        instrumentor.uninstrument()
        report["restored"] = vars(Completions)["create"] is original
        import anthropic  # imported after uninstrument(): its hooks were registered, but must do nothing
        from anthropic.resources.messages.messages import Messages
        from anthropic.lib.bedrock._beta_messages import Messages as BedrockMessages
        report["anthropic_patched"] = wrapped(Messages, "create") or wrapped(BedrockMessages, "create")
        from openai_payloads import MESSAGES, FakeOpenAI
        from anthropic_payloads import FakeAnthropic
        FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        FakeAnthropic().client().messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=MESSAGES)
        report["costs"] = costs()
        instrument()  # and again: the SDKs already imported are patched at once
        report["again"] = wrapped(Completions, "create") and wrapped(Messages, "create")
    """)
    assert report["patched"] is True
    assert report["restored"] is True
    assert report["anthropic_patched"] is False
    assert report["costs"] == {}
    assert report["again"] is True


def test_bedrock_copies_of_the_first_party_methods_get_their_own_wrapper() -> None:
    """anthropic's Bedrock (and Vertex) Messages copy the first-party methods when imported (anthropic 2.x with
    the package, older releases on first use, after the first-party ones were patched): either way each class
    ends up with a wrapper of its own, and uninstrument() restores both."""
    report = run("""
        instrument()
        import anthropic
        from anthropic.resources.beta.messages.messages import Messages
        from anthropic.lib.bedrock._beta_messages import Messages as BedrockMessages
        first, copy = vars(Messages)["create"], vars(BedrockMessages)["create"]
        report["both_patched"] = wrapped(Messages, "create") and wrapped(BedrockMessages, "create")
        report["distinct"] = first is not copy
        report["same_original"] = first.__wrapped__ is copy.__wrapped__
        original = first.__wrapped__
        instrumentor.uninstrument()
        report["restored"] = vars(Messages)["create"] is original and vars(BedrockMessages)["create"] is original
    """)
    assert report == {"both_patched": True, "distinct": True, "same_original": True, "restored": True}


def test_check_in_a_fresh_process_still_lists_every_patched_method() -> None:
    """``otel-llmcost check`` imports nothing itself: it asks the instrumentor to import what it would patch."""
    command = Path(sys.executable).with_name("otel-llmcost")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([str(command), "check"], capture_output=True, text=True, env=env, timeout=180, check=False)
    counts = dict(re.findall(r"^. (openai|anthropic) +\S+: (\d+) methods will be patched", done.stdout, re.M))
    assert int(counts["openai"]) >= 12 and int(counts["anthropic"]) >= 12, done.stdout
