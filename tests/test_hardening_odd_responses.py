"""Odd responses: for every reply the SDKs accept, the caller gets exactly what the SDK alone gives.

Hypothesis draws OpenAI (chat, chat streams, Responses, Responses streams) and Anthropic (messages, message streams)
replies that stress an instrumentation (see odd_payloads.py). Each one is answered to the real client twice: with
the instrumentation off (``uninstrument()``: the SDK's own methods, nothing of ours on the path) and on. The two
outcomes must be equal (same type and ``model_dump()`` of every object returned or streamed, or the same exception
type and message); the instrumented call must leave exactly one ended CLIENT span that OTLP can encode; every
failure inside our code must be counted by ``llmcost.instrumentation.errors`` and logged once at debug level.
Calls are sync and async, plain, ``with_raw_response`` and the ``stream()`` helpers, content capture off and on,
Anthropic's own tracing on and off. Derandomized: the same examples on every run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.trace import SpanKind

import odd_payloads as odd
from anthropic_payloads import otel_global
from conftest import Captured, make_captured
from otel_llmcost import names
from otel_llmcost.metrics import INSTRUMENTATION_ERRORS
from transport import for_sdk

# The SDKs' own model dumps warn about the mistyped values these replies carry, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

OPENAI_HTTP: Any = for_sdk("openai")
ANTHROPIC_HTTP: Any = for_sdk("anthropic")
MESSAGES: list[Any] = [{"role": "user", "content": "Say hello"}]
ANTHROPIC_KW: dict[str, Any] = {"model": "claude-opus-4-7", "max_tokens": 100, "messages": MESSAGES}
OPENAI_KW: dict[str, Any] = {"model": "gpt-4o", "messages": MESSAGES}

Outcome = tuple[Any, ...]


# --- the harness ---------------------------------------------------------------------------------------
class _Errors(logging.Handler):
    """Counts the debug records of internal failures (guard.internal_error)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.samples: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("otel-llmcost: internal failure"):
            self.count += 1
            if record.exc_info and record.exc_info[1] is not None:
                import traceback

                error = record.exc_info[1]
                where = traceback.extract_tb(error.__traceback__)[-1]
                self.samples.setdefault(f"{type(error).__name__}: {error} at {where.filename}:{where.lineno}",
                                        record.getMessage())


def errors_counted() -> float:
    """Sum of llmcost.instrumentation.errors so far (the in-process table the observable counter reports)."""
    return sum(INSTRUMENTATION_ERRORS._sums.values())


@dataclass
class Harness:
    captured: Captured
    loop: asyncio.AbstractEventLoop
    reply: odd.Reply = field(default_factory=lambda: odd.Reply(b"{}", "application/json"))
    errors: _Errors = field(default_factory=_Errors)
    failures: dict[str, int] = field(default_factory=dict)

    def handler(self, http: Any) -> Callable[[Any], Any]:
        def answer(request: Any) -> Any:
            return http.Response(200, headers={"content-type": self.reply.content_type}, content=self.reply.body)

        return answer

    def openai(self) -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
        http = OPENAI_HTTP
        common: dict[str, Any] = {"api_key": "sk-test", "base_url": "https://api.openai.com/v1", "max_retries": 0}
        return (
            openai.OpenAI(http_client=http.Client(transport=http.MockTransport(self.handler(http))), **common),
            openai.AsyncOpenAI(
                http_client=http.AsyncClient(transport=http.MockTransport(self.handler(http))), **common
            ),
        )

    def anthropic(self) -> tuple[anthropic.Anthropic, anthropic.AsyncAnthropic]:
        http = ANTHROPIC_HTTP
        common: dict[str, Any] = {"api_key": "sk-ant-test", "base_url": "https://api.anthropic.com", "max_retries": 0}
        return (
            anthropic.Anthropic(http_client=http.Client(transport=http.MockTransport(self.handler(http))), **common),
            anthropic.AsyncAnthropic(
                http_client=http.AsyncClient(transport=http.MockTransport(self.handler(http))), **common
            ),
        )

    def both(self, reply: odd.Reply, call: Callable[[], Outcome], capture: bool, sdk_tracing: bool = False) -> None:
        """The call without us, then with us: same outcome, one ended exportable span, failures counted."""
        cap = self.captured
        self.reply = reply
        with otel_global(cap.tracer_provider if sdk_tracing else None):
            cap.instrumentor.uninstrument()
            bare = call()
            cap.instrumentor.instrument(
                tracer_provider=cap.tracer_provider, meter_provider=cap.meter_provider,
                capture_content=capture, content_max_length=64,
            )
            cap.exporter.clear()
            errors, logged = errors_counted(), self.errors.count
            ours = call()
        assert ours == bare
        assert errors_counted() - errors == self.errors.count - logged  # each failure counted and logged once
        if self.errors.count > logged:
            for key, value in INSTRUMENTATION_ERRORS._sums.items():
                self.failures[str(dict(key)[names.LLMCOST_STAGE])] = int(value)
        spans = [s for s in cap.exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert len(spans) == 1, [s.name for s in spans]
        assert spans[0].end_time is not None
        assert_exportable(spans)


INT64 = range(-(2**63), 2**63)


def assert_exportable(spans: Any) -> None:
    """What we put on spans is exportable: OTLP encodes it, and no integer is out of int64 (the encoder would
    log an error and drop the attribute)."""
    encode_spans(spans)
    for span in spans:
        for key, value in (span.attributes or {}).items():
            for item in value if isinstance(value, tuple) else (value,):
                assert not isinstance(item, int) or item in INT64, (key, value)


@pytest.fixture
def harness() -> Iterator[Harness]:
    yield from open_harness()


def open_harness() -> Iterator[Harness]:
    """The harness of one test (also test_hardening_odd_streams.py's): instrumented, debug logs counted."""
    logger = logging.getLogger("otel_llmcost")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    cap = make_captured()
    loop = asyncio.new_event_loop()
    found = Harness(cap, loop)
    logger.addHandler(found.errors)
    try:
        yield found
    finally:
        print(f"\ninternal failures by stage (counted and logged): {found.failures}")
        for sample, message in found.errors.samples.items():
            print(f"  {message}: {sample}")
        logger.removeHandler(found.errors)
        logger.setLevel(level)
        cap.instrumentor.uninstrument()
        cap.meter_provider.shutdown()
        cap.tracer_provider.shutdown()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# --- what the caller sees, as comparable values -------------------------------------------------------
def dump(obj: Any) -> Outcome:
    if hasattr(obj, "model_dump"):
        return (type(obj), obj.model_dump(warnings=False))
    return (type(obj), obj)


def failed(error: BaseException) -> Outcome:
    return ("raised", type(error), str(error))


def outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return ("returned", *dump(call()))
    except Exception as error:
        return failed(error)


def consumed(open_stream: Callable[[], Any]) -> Outcome:
    items: list[Outcome] = []
    try:
        stream = open_stream()
        items.append((stream.__class__,))  # a proxy's type() is its own; isinstance and __class__ are the SDK's
        for item in stream:
            items.append(dump(item))
    except Exception as error:
        return ("stream", items, failed(error))
    return ("stream", items, None)


async def aoutcome(call: Callable[[], Any]) -> Outcome:
    try:
        return ("returned", *dump(await call()))
    except Exception as error:
        return failed(error)


async def aconsumed(open_stream: Callable[[], Any]) -> Outcome:
    items: list[Outcome] = []
    try:
        stream = await open_stream()
        items.append((stream.__class__,))
        async for item in stream:
            items.append(dump(item))
    except Exception as error:
        return ("stream", items, failed(error))
    return ("stream", items, None)


def helper_outcome(manager: Callable[[], Any], final: str) -> Outcome:
    """A ``stream()`` helper: every event, then the final object (or what was raised, where)."""
    events: list[Outcome] = []
    try:
        with manager() as stream:
            for event in stream:
                events.append(dump(event))
            result = dump(getattr(stream, final)())
    except Exception as error:
        return ("helper", events, failed(error))
    return ("helper", events, result)


async def ahelper_outcome(manager: Callable[[], Any], final: str) -> Outcome:
    events: list[Outcome] = []
    try:
        async with manager() as stream:
            async for event in stream:
                events.append(dump(event))
            result = dump(await getattr(stream, final)())
    except Exception as error:
        return ("helper", events, failed(error))
    return ("helper", events, result)


def odd_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def run(harness: Harness, examples: int, strategy: st.SearchStrategy[Any], check: Callable[..., None]) -> int:
    """Run ``check`` on ``examples`` drawn examples; returns how many ran. Then: no failure inside our code at
    all (each would have cost a call its telemetry), and every metric is still exportable (OTLP)."""
    ran = 0
    before = errors_counted()

    @odd_settings(examples)
    @given(case=strategy)
    def prop(case: Any) -> None:
        nonlocal ran
        ran += 1
        check(*case)

    prop()
    assert errors_counted() == before, harness.errors.samples
    harness.captured.reader.collect()
    encode_metrics(harness.captured.reader.get_metrics_data())  # e.g. no counter pushed past int64
    return ran


# --- OpenAI ----------------------------------------------------------------------------------------------
def test_openai_chat(harness: Harness) -> None:
    client, aclient = harness.openai()
    completions, acompletions = client.chat.completions, aclient.chat.completions
    calls: dict[str, Callable[[], Outcome]] = {
        "create": lambda: outcome(lambda: completions.create(**OPENAI_KW)),
        # A fresh client: the SDK binds with_raw_response's methods when first accessed (patches made later are
        # not seen through an earlier binding).
        "raw": lambda: outcome(
            lambda: harness.openai()[0].chat.completions.with_raw_response.create(**OPENAI_KW).parse()
        ),
        "async": lambda: harness.loop.run_until_complete(aoutcome(lambda: acompletions.create(**OPENAI_KW))),
    }

    def check(reply: odd.Reply, mode: str, capture: bool) -> None:
        harness.both(reply, calls[mode], capture)

    ran = run(harness, 220, st.tuples(odd.openai_chat(), st.sampled_from(sorted(calls)), st.booleans()), check)
    assert ran >= 220


def test_openai_chat_stream(harness: Harness) -> None:
    client, aclient = harness.openai()
    completions, acompletions = client.chat.completions, aclient.chat.completions

    def calls(usage: bool) -> dict[str, Callable[[], Outcome]]:
        kw = {**OPENAI_KW, "stream_options": {"include_usage": usage}}
        return {
            "create": lambda: consumed(lambda: completions.create(stream=True, **kw)),
            "helper": lambda: helper_outcome(lambda: completions.stream(**kw), "get_final_completion"),
            "async": lambda: harness.loop.run_until_complete(
                aconsumed(lambda: acompletions.create(stream=True, **kw))
            ),
            "async-helper": lambda: harness.loop.run_until_complete(
                ahelper_outcome(lambda: acompletions.stream(**kw), "get_final_completion")
            ),
        }

    def check(reply: odd.Reply, mode: str, usage: bool, capture: bool) -> None:
        harness.both(reply, calls(usage)[mode], capture)

    modes = st.sampled_from(("create", "helper", "async", "async-helper"))
    ran = run(harness, 220, st.tuples(odd.openai_chat_stream(), modes, st.booleans(), st.booleans()), check)
    assert ran >= 220


def test_openai_responses(harness: Harness) -> None:
    client, aclient = harness.openai()
    kw = {"model": "gpt-4o", "input": "Say hello"}
    calls: dict[str, Callable[[], Outcome]] = {
        "create": lambda: outcome(lambda: client.responses.create(**kw)),
        "stream": lambda: consumed(lambda: client.responses.create(stream=True, **kw)),
        "helper": lambda: helper_outcome(lambda: client.responses.stream(**kw), "get_final_response"),
        "async-stream": lambda: harness.loop.run_until_complete(
            aconsumed(lambda: aclient.responses.create(stream=True, **kw))
        ),
    }

    def check(plain: odd.Reply, streamed: odd.Reply, mode: str, capture: bool) -> None:
        harness.both(plain if mode == "create" else streamed, calls[mode], capture)

    cases = st.tuples(odd.openai_responses(), odd.openai_responses_stream(), st.sampled_from(sorted(calls)),
                      st.booleans())
    ran = run(harness, 200, cases, check)
    assert ran >= 200


# --- Anthropic -------------------------------------------------------------------------------------------
# The SDK's own tracing on and off: one pair of clients each (a client keeps the tracer it first resolved, and
# the test switches OpenTelemetry's global provider, which an app never unsets).
def anthropic_calls(harness: Harness) -> dict[bool, dict[str, Callable[[], Outcome]]]:
    found = {}
    for tracing in (False, True):
        client, aclient = harness.anthropic()
        found[tracing] = {
            "create": lambda c=client: outcome(lambda: c.messages.create(**ANTHROPIC_KW)),
            # A fresh client: the SDK binds with_raw_response's methods when first accessed.
            "raw": lambda: outcome(
                lambda: harness.anthropic()[0].messages.with_raw_response.create(**ANTHROPIC_KW).parse()
            ),
            "async": lambda a=aclient: harness.loop.run_until_complete(
                aoutcome(lambda: a.messages.create(**ANTHROPIC_KW))
            ),
            "stream": lambda c=client: consumed(lambda: c.messages.create(stream=True, **ANTHROPIC_KW)),
            "helper": lambda c=client: helper_outcome(lambda: c.messages.stream(**ANTHROPIC_KW), "get_final_message"),
            "async-stream": lambda a=aclient: harness.loop.run_until_complete(
                aconsumed(lambda: a.messages.create(stream=True, **ANTHROPIC_KW))
            ),
            "async-helper": lambda a=aclient: harness.loop.run_until_complete(
                ahelper_outcome(lambda: a.messages.stream(**ANTHROPIC_KW), "get_final_message")
            ),
        }
    return found


def test_anthropic_messages(harness: Harness) -> None:
    calls = anthropic_calls(harness)

    def check(reply: odd.Reply, mode: str, capture: bool, sdk_tracing: bool) -> None:
        harness.both(reply, calls[sdk_tracing][mode], capture, sdk_tracing)

    modes = st.sampled_from(("create", "raw", "async"))
    cases = st.tuples(odd.anthropic_message(), modes, st.booleans(), st.booleans())
    ran = run(harness, 200, cases, check)
    assert ran >= 200


def test_anthropic_streams(harness: Harness) -> None:
    calls = anthropic_calls(harness)

    def check(reply: odd.Reply, mode: str, capture: bool, sdk_tracing: bool) -> None:
        harness.both(reply, calls[sdk_tracing][mode], capture, sdk_tracing)

    modes = st.sampled_from(("stream", "helper", "async-stream", "async-helper"))
    ran = run(harness, 220, st.tuples(odd.anthropic_stream(), modes, st.booleans(), st.booleans()), check)
    assert ran >= 220


# --- what the property test found, as plain regression tests ---------------------------------------------
def _reply_client(sdk: str, body: Any) -> Any:
    http = OPENAI_HTTP if sdk == "openai" else ANTHROPIC_HTTP
    content = json.dumps(body).encode()

    def answer(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "application/json"}, content=content)

    client = http.Client(transport=http.MockTransport(answer))
    if sdk == "openai":
        return openai.OpenAI(api_key="sk-test", max_retries=0, http_client=client)
    return anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, http_client=client, open_telemetry=False)


USAGE_OPENAI = {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050}


@pytest.mark.parametrize("choices", [5, True, "x", {"0": 1}])
def test_chat_with_mistyped_choices_keeps_its_usage(instrument_with: Callable[..., Captured], choices: Any) -> None:
    captured = instrument_with(capture_content=True)
    before = errors_counted()
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o", "choices": choices,
            "usage": USAGE_OPENAI}
    result = _reply_client("openai", body).chat.completions.create(**OPENAI_KW)
    assert result.choices == choices  # the SDK hands it over as it came
    (span,) = captured.client_spans()
    attrs = dict(span.attributes or {})
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert attrs[names.GEN_AI_USAGE_COST] > 0
    assert errors_counted() == before


@pytest.mark.parametrize("output", [None, 5, [None], [{"type": "message", "content": None}]])
def test_responses_with_odd_output_keep_their_usage_when_capturing(
    instrument_with: Callable[..., Captured], output: Any
) -> None:
    """``Response.output_text`` raises on these: the captured text is dropped, never the usage."""
    captured = instrument_with(capture_content=True)
    before = errors_counted()
    body = {"id": "r1", "object": "response", "created_at": 1, "model": "gpt-4o", "status": "completed",
            "output": output, "usage": {"input_tokens": 1000, "output_tokens": 50, "total_tokens": 1050}}
    _reply_client("openai", body).responses.create(model="gpt-4o", input="hi")
    (span,) = captured.client_spans()
    attrs = dict(span.attributes or {})
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 50
    assert attrs[names.GEN_AI_USAGE_COST] > 0
    assert errors_counted() == before


def test_absurd_token_counts_never_reach_telemetry(captured: Captured) -> None:
    """A count past any real call (here int64's maximum, as a broken gateway may send) is not a count: one such
    value summed into a cumulative counter would fail every later OTLP metrics export."""
    huge = 2**63 - 1
    body = {"id": "m1", "type": "message", "role": "assistant", "model": "claude-opus-4-7", "content": [],
            "stop_reason": "end_turn", "usage": {"input_tokens": huge, "output_tokens": 20,
                                                 "cache_read_input_tokens": huge, "cache_creation_input_tokens": 0}}
    _reply_client("anthropic", body).messages.create(**{**ANTHROPIC_KW, "model": "claude-opus-4-7"})
    (span,) = captured.client_spans()
    attrs = dict(span.attributes or {})
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 0
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 20
    assert_exportable([span])
    encode_metrics(captured.metrics())
    assert captured.total(names.METRIC_TOKENS, gen_ai__token__type="output") == 20


def test_an_internal_failure_is_counted_and_logged_once(
    captured: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    """The guard's contract, on a real failure inside the call's end (a listener that raises): the caller's
    result is untouched, the span and metrics are still written, the failure is counted by stage and logged
    once at debug level."""
    runtime = captured.instrumentor.runtime
    assert runtime is not None

    def broken(request: Any, outcome: Any, span: Any) -> None:
        raise RuntimeError("listener bug")

    runtime.listeners.append(broken)
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o", "choices": [],
            "usage": USAGE_OPENAI}
    before = captured.total(names.METRIC_INSTRUMENTATION_ERRORS, llmcost__stage="listener")
    with caplog.at_level(logging.DEBUG, logger="otel_llmcost"):
        result = _reply_client("openai", body).chat.completions.create(**OPENAI_KW)
    assert result.usage is not None and result.usage.prompt_tokens == 1000
    (span,) = captured.client_spans()
    assert dict(span.attributes or {})[names.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert captured.total(names.METRIC_INSTRUMENTATION_ERRORS, llmcost__stage="listener") == before + 1
    logged = [r for r in caplog.records if r.getMessage().startswith("otel-llmcost: internal failure")]
    assert len(logged) == 1
    assert logged[0].levelno == logging.DEBUG
    assert logged[0].exc_info is not None and "listener bug" in str(logged[0].exc_info[1])
