"""The instrumentor: clean uninstrument, no double wrapping, suppression, bad config, never breaking the app."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import openai.resources.embeddings
import pytest
import wrapt
from openai.types.chat import ChatCompletion
from opentelemetry.instrumentation.utils import suppress_instrumentation

from conftest import make_captured
from openai_payloads import (
    HAS_RESPONSES,
    MESSAGES,
    FakeOpenAI,
    Tokens,
    attributes,
    batch,
    only_span,
    points_or_none,
    usd,
)
from otel_llmcost import ConfigError, LLMCostInstrumentor, names
from otel_llmcost.providers import openai as openai_adapter
from otel_llmcost.providers import stainless

COST = usd((1_000, "2.50"), (100, "10"))
TOKENS = Tokens(prompt=1_000, completion=100)
TESTS = Path(__file__).parent


def _targets() -> list[tuple[Any, str]]:
    """Every (owner, attribute) the OpenAI adapter may patch that exists in the installed SDK."""
    found: list[tuple[Any, str]] = []
    paths = [(m, p) for m, p, _, _ in openai_adapter.METHODS] + list(openai_adapter.BATCH_METHODS)
    for module, path in paths:
        try:
            owner: Any = importlib.import_module(module)
        except ImportError:
            continue  # not in this SDK version (the instrumentor skips it too)
        *parents, attribute = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent, None)
        if owner is not None and attribute in owner.__dict__:
            found.append((owner, attribute))
    found += [(cls, "parse") for cls in stainless.response_classes("openai")]
    return found


def _snapshot(targets: list[tuple[Any, str]]) -> dict[tuple[Any, str], Any]:
    return {(owner, attribute): owner.__dict__[attribute] for owner, attribute in targets}


def test_uninstrument_restores_every_original() -> None:
    targets = _targets()
    assert len(targets) >= 12  # chat/responses/embeddings sync+async, parse, batches, response wrappers
    before = _snapshot(targets)
    assert not any(isinstance(v, wrapt.FunctionWrapper) for v in before.values())
    captured = make_captured()
    try:
        during = _snapshot(targets)
        for key, value in during.items():
            assert isinstance(value, wrapt.FunctionWrapper), key
            assert value.__wrapped__ is before[key], key
        # Whatever else the instrumentor patched (other SDKs) is recorded for undoing too.
        originals = {(o, a): o.__dict__[a].__wrapped__ for o, a in captured.instrumentor._patched}
        assert set(before) <= set(originals)
    finally:
        captured.instrumentor.uninstrument()
    assert _snapshot(targets) == before
    for (owner, attribute), original in originals.items():
        assert owner.__dict__[attribute] is original, (owner, attribute)
    # After uninstrument, calls produce nothing.
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert captured.client_spans() == []
    captured.meter_provider.shutdown()
    captured.tracer_provider.shutdown()


def test_instrumenting_twice_wraps_once(captured: Any) -> None:
    LLMCostInstrumentor().instrument(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider)
    captured.instrumentor.instrument()
    create = openai.resources.chat.completions.Completions.__dict__["create"]
    assert isinstance(create, wrapt.FunctionWrapper)
    assert not isinstance(create.__wrapped__, wrapt.FunctionWrapper)
    FakeOpenAI(tokens=TOKENS).client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == COST
    assert captured.total(names.METRIC_COST) == COST


def test_reinstrument_after_uninstrument_counts_once(captured: Any) -> None:
    client = FakeOpenAI(tokens=TOKENS).client()
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    captured.instrumentor.uninstrument()
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # not seen
    captured.instrumentor.instrument(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(captured.client_spans()) == 2
    (duration,) = captured.points(names.METRIC_OPERATION_DURATION)
    assert duration.count == 2
    assert captured.total(names.METRIC_COST) == COST + COST


def test_suppress_instrumentation(captured: Any) -> None:
    api = FakeOpenAI(tokens=TOKENS, batches={"batch_s": batch("batch_s", "gpt-4o", TOKENS)})
    client = api.client()
    with suppress_instrumentation():
        assert type(client.chat.completions.create(model="gpt-4o", messages=MESSAGES)) is ChatCompletion
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
        assert type(chunks[0]).__name__ == "ChatCompletionChunk"
        if HAS_RESPONSES:
            client.responses.create(model="gpt-4o", input="hi")
        client.embeddings.create(model="text-embedding-3-small", input="hi")
        client.batches.retrieve("batch_s")
    assert captured.client_spans() == []
    assert points_or_none(captured, names.METRIC_OPERATION_DURATION) == []
    assert points_or_none(captured, names.METRIC_COST) == []
    # Outside the block the batch is seen (and priced) for the first time.
    client.batches.retrieve("batch_s")
    assert attributes(only_span(captured))[names.LLMCOST_BATCH_ID] == "batch_s"


def test_a_method_missing_from_the_sdk_disables_only_that_method(
    monkeypatch: pytest.MonkeyPatch, instrument_with: Callable[..., Any]
) -> None:
    monkeypatch.delattr(openai.resources.embeddings.AsyncEmbeddings, "create")
    captured = instrument_with()
    assert (openai.resources.embeddings.AsyncEmbeddings, "create") not in captured.instrumentor._patched
    assert (openai.resources.embeddings.Embeddings, "create") in captured.instrumentor._patched
    FakeOpenAI(tokens=TOKENS).client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == COST


# --- configuration errors -------------------------------------------------------------------------
def test_bad_price_file_raises_and_patches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "models:\n  - {model: ok-model, input: 1, output: 2}\n  - model: my-model\n    input: cheap\n    output: 1\n"
    )
    targets = _targets()
    before = _snapshot(targets)
    with pytest.raises(ConfigError) as info:
        make_captured(price_file=str(path))
    message = str(info.value)
    assert str(path) in message  # the file
    assert "models[1]" in message and "'my-model'" in message  # the entry
    assert "'input' must be a number" in message and "'cheap'" in message  # the problem
    assert _snapshot(targets) == before
    instrumentor = LLMCostInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry
    # Fixed, it instruments normally.
    path.write_text("models:\n  - model: my-model\n    input: 1\n    output: 1\n")
    captured = make_captured(price_file=str(path))
    try:
        FakeOpenAI(tokens=TOKENS).client().chat.completions.create(model="my-model", messages=MESSAGES)
        assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == usd((1_000, "1"), (100, "1"))
    finally:
        captured.instrumentor.uninstrument()


def test_bad_environment_raises_and_patches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(names.ENV_MAX_MODELS, "lots")
    before = _snapshot(_targets())
    with pytest.raises(ConfigError, match=names.ENV_MAX_MODELS):
        make_captured()
    assert _snapshot(_targets()) == before


# --- our failures never reach the caller ----------------------------------------------------------
def _errors(captured: Any, stage: str) -> float:
    """The process-wide count of our swallowed failures at one stage (read twice: new series start at 0)."""
    points_or_none(captured, names.METRIC_INSTRUMENTATION_ERRORS)
    points = points_or_none(captured, names.METRIC_INSTRUMENTATION_ERRORS)
    return float(sum(p.value for p in points if dict(p.attributes).get(names.LLMCOST_STAGE) == stage))


def test_odd_response_shape_never_reaches_the_caller(captured: Any) -> None:
    before = _errors(captured, "result")
    api = FakeOpenAI(tokens=TOKENS, chat_body=lambda body: {**body, "choices": 5})
    completion = api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert type(completion) is ChatCompletion
    assert completion.choices == 5  # exactly what the SDK made of it
    span = only_span(captured)
    assert span.end_time is not None
    # The odd choices are skipped; the usage beside them is still read (no failure of ours at all).
    assert attributes(span)[names.GEN_AI_USAGE_INPUT_TOKENS] == TOKENS.prompt
    assert _errors(captured, "result") == before


def test_odd_usage_types_are_unknown_usage_not_zero(captured: Any) -> None:
    odd = {"prompt_tokens": "1000", "completion_tokens": None, "prompt_tokens_details": "n/a", "total_tokens": []}
    api = FakeOpenAI(chat_body=lambda body: {**body, "usage": odd})
    completion = api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert type(completion) is ChatCompletion
    assert completion.usage is not None and completion.usage.prompt_tokens == "1000"
    attrs = attributes(only_span(captured))
    assert names.GEN_AI_USAGE_COST not in attrs
    assert names.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert attrs[names.LLMCOST_USAGE_AVAILABLE] is False
    assert attrs[names.LLMCOST_USAGE_UNAVAILABLE_REASON] == "response carried no usage"
    # Partly odd: the good counts are used, the odd ones count as 0 (never an exception).
    api.chat_body = lambda body: {**body, "usage": {**body["usage"], "completion_tokens_details": 7}}
    api.tokens = TOKENS
    api.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert attributes(captured.client_spans()[-1])[names.GEN_AI_USAGE_COST] == COST


def test_odd_stream_chunk_never_reaches_the_caller(captured: Any) -> None:
    before = _errors(captured, "stream_chunk")

    class OddChunks(FakeOpenAI):
        def _stream(self, request: Any, frames: list[bytes]) -> Any:
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": 5}
            odd = f"data: {json.dumps(chunk)}\n\n".encode()
            return super()._stream(request, [frames[0], odd, *frames[1:]])

    api = OddChunks(tokens=TOKENS)
    stream = api.client().chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert [c.choices for c in chunks].count(5) == 1  # delivered as the SDK made it
    assert len(chunks) == 8
    assert attributes(only_span(captured))[names.GEN_AI_USAGE_COST] == COST
    assert _errors(captured, "stream_chunk") == before  # skipped, not a failure of ours


# --- only one SDK installed -----------------------------------------------------------------------
ONE_SDK_SCRIPT = """
import json, sys
sys.modules[{blocked!r}] = None  # as if the package were not installed
sys.path.insert(0, {tests!r})
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from otel_llmcost import LLMCostInstrumentor

exporter = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
instrumentor = LLMCostInstrumentor()
deps = list(instrumentor.instrumentation_dependencies())
instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=MeterProvider())
spans = None
if {blocked!r} != "openai":
    from openai_payloads import MESSAGES, FakeOpenAI
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    spans = [s.name for s in exporter.get_finished_spans()]
instrumentor.uninstrument()
print(json.dumps({{"deps": deps, "instrumented": True, "spans": spans}}))
"""


@pytest.mark.parametrize("blocked", ["anthropic", "openai"])
def test_works_with_only_one_sdk(tmp_path: Path, blocked: str) -> None:
    script = tmp_path / "one_sdk.py"
    script.write_text(textwrap.dedent(ONE_SDK_SCRIPT.format(blocked=blocked, tests=str(TESTS))))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["deps"] == []
    assert report["instrumented"] is True
    if blocked == "anthropic":
        assert report["spans"] == ["chat gpt-4o"]
