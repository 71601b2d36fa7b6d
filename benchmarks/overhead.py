"""Overhead of otel-llmcost against the uninstrumented SDK, as a ratio measured in one run.

The real SDK clients talk to ``httpx2.MockTransport`` serving canned responses; blocks of calls
alternate between instrumentation off and on (spans + metrics + cost, exported to no-op exporters),
and the ratio of the medians is reported. Run: ``python benchmarks/overhead.py [--blocks 15 --calls 400]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

from otel_llmcost import LLMCostInstrumentor
from otel_llmcost.pricing import PriceBook
from otel_llmcost.records import Usage


class NoopSpanExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class NoopMetricExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__(preferred_temporality={}, preferred_aggregation={})

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


_ = AggregationTemporality  # keep the import for readers looking for temporality settings

ANTHROPIC_MODEL = "claude-sonnet-4-6"

CHAT = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 10000,
        "completion_tokens": 20,
        "total_tokens": 10020,
        "prompt_tokens_details": {"cached_tokens": 8000},
    },
}


def chat_stream_body(chunks: int) -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06"}
    events = [{**base, "choices": [{"index": 0, "delta": {"content": "tok "}, "finish_reason": None}]}]
    events *= chunks - 1
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = {"prompt_tokens": 100, "completion_tokens": chunks, "total_tokens": 100 + chunks}
    events.append({**base, "choices": [], "usage": usage})
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def anthropic_bodies(chunks: int) -> tuple[bytes, bytes]:
    usage = {"input_tokens": 2000, "output_tokens": chunks, "cache_read_input_tokens": 8000,
             "cache_creation_input_tokens": 0}
    message = {"id": "msg_bench", "type": "message", "role": "assistant", "model": ANTHROPIC_MODEL,
               "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn", "stop_sequence": None,
               "usage": usage}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                                                 "usage": {**usage, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    ]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": "tok "}})] * chunks
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": chunks}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    stream = b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)
    return json.dumps(message).encode(), stream


def make_transport(stream_chunks: int) -> Any:
    import httpx2

    chat = json.dumps(CHAT).encode()
    chat_stream = chat_stream_body(stream_chunks)
    msg, msg_stream = anthropic_bodies(stream_chunks)

    def handler(request: Any) -> Any:
        streaming = b'"stream":true' in request.content or b'"stream": true' in request.content
        if request.url.path.endswith("/messages"):
            if streaming:
                return httpx2.Response(200, content=iter([msg_stream]), headers={"content-type": "text/event-stream"})
            return httpx2.Response(200, content=msg, headers={"content-type": "application/json"})
        if streaming:
            return httpx2.Response(200, content=iter([chat_stream]), headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, content=chat, headers={"content-type": "application/json"})

    return httpx2.MockTransport(handler)


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def measure(
    name: str, fn: Callable[[], object], on: Callable[[], None], off: Callable[[], None], blocks: int, calls: int
) -> dict[str, float]:
    plain: list[float] = []
    instrumented: list[float] = []
    for block in range(blocks):
        # Alternate the order so drift (CPU frequency, GC) hits both sides alike.
        order = (False, True) if block % 2 == 0 else (True, False)
        for enabled in order:
            (on if enabled else off)()
            for _ in range(max(10, calls // 20)):  # warm-up, not timed
                fn()
            (instrumented if enabled else plain).append(per_call_us(fn, calls))
    off()
    base, inst = statistics.median(plain), statistics.median(instrumented)
    result = {"uninstrumented_us": base, "instrumented_us": inst, "ratio": inst / base, "overhead_us": inst - base}
    print(f"{name:<44} off {base:8.1f} µs   on {inst:8.1f} µs   +{inst - base:6.1f} µs   ratio {inst / base:.3f}x")
    return result


Switch = Callable[[], None]


def floor_patch(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> tuple[Switch, Switch]:
    """The least any GenAI-semconv instrumentation with cost can do on the OpenTelemetry SDK, as a yardstick.

    One CLIENT span made current during the call, the attributes a priced call carries, and the four
    histogram points (duration, input and output tokens, request cost); no parsing, no pricing, no
    counters. Its ratio is the floor set by the SDK itself: no real instrumentation can come in below it.
    """
    import wrapt
    from opentelemetry import context

    tracer = tracer_provider.get_tracer("floor")
    meter = meter_provider.get_meter("floor")
    tokens = meter.create_histogram("floor.token.usage")
    duration = meter.create_histogram("floor.duration", unit="s")
    cost = meter.create_histogram("floor.cost", unit="USD")
    base = {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    token_in = {**base, "gen_ai.token.type": "input"}
    token_out = {**base, "gen_ai.token.type": "output"}

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        start = time.perf_counter()
        span = tracer.start_span(
            "chat gpt-4o", kind=trace.SpanKind.CLIENT, attributes={**base, "server.address": "api.openai.com"}
        )
        token = context.attach(trace.set_span_in_context(span))
        try:
            result = wrapped(*args, **kwargs)
        finally:
            context.detach(token)
        usage = result.usage
        span.set_attributes({
            "gen_ai.response.model": result.model, "gen_ai.response.id": result.id,
            "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens, "gen_ai.usage.cache_read.input_tokens": 8000,
            "gen_ai.usage.cost": 0.0123, "llmcost.cost.input": 0.005, "llmcost.cost.output": 0.0002,
            "llmcost.cost.cache_read": 0.01, "llmcost.price.source": "genai-prices", "llmcost.savings.cache": 0.01,
        })
        span.end()
        duration.record(time.perf_counter() - start, base)
        tokens.record(usage.prompt_tokens, token_in)
        tokens.record(usage.completion_tokens, token_out)
        cost.record(0.0123, base)
        return result

    import openai.resources.chat.completions.completions as module

    original = module.Completions.create

    def on() -> None:
        wrapt.wrap_function_wrapper(module, "Completions.create", wrapper)

    def off() -> None:
        module.Completions.create = original  # type: ignore[method-assign]

    return on, off


def cost_us(rounds: int = 200_000, units: bool = False) -> float:
    """µs per warm ``PriceBook.cost``: a text call on the fixed fast path, or (``units``) a Gemini call with
    per-modality tokens priced by the model's plan (image output, audio input, cached audio)."""
    book = PriceBook()
    book.warm_up()
    provider, model = "openai", "gpt-4o-2024-08-06"
    usage = Usage(input_tokens=10_000, output_tokens=500, cache_read_tokens=8_000, reasoning_tokens=100)
    if units:
        provider, model = "gcp.gemini", "gemini-2.5-flash"
        usage.units = {
            "input_text_tokens": 6_000,
            "input_audio_tokens": 4_000,
            "cache_audio_read_tokens": 2_000,
            "cache_text_read_tokens": 6_000,
            "output_text_tokens": 400,
        }
    book.cost(provider, model, usage)
    start = time.perf_counter()
    for _ in range(rounds):
        book.cost(provider, model, usage)
    return (time.perf_counter() - start) / rounds * 1e6


Scenario = tuple[str, Callable[[], object], Switch, Switch, int]


def scenarios(args: argparse.Namespace) -> tuple[dict[str, Scenario], Callable[[], None]]:
    """Every measured case by key: (label, one call, instrumentation on, off, calls per block)."""
    import httpx2
    import openai

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
    # Global, as an app configured by the launcher has it: anthropic >= 1.14 then traces itself.
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(NoopMetricExporter(), export_interval_millis=60_000)
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = LLMCostInstrumentor()

    def on() -> None:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    # A production app samples its traces (a parent-based 1-10% ratio is common): most calls' spans are not
    # recorded, and only the metrics path should cost anything.
    unsampled_provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    unsampled_provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))

    def on_unsampled() -> None:
        instrumentor.instrument(tracer_provider=unsampled_provider, meter_provider=meter_provider)

    def off() -> None:
        instrumentor.uninstrument()

    transport = make_transport(args.chunks)
    client = openai.OpenAI(api_key="bench", http_client=httpx2.Client(transport=transport))
    messages = [{"role": "user", "content": "Say hello"}]

    def chat() -> object:
        return client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]

    def chat_stream() -> object:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True}  # type: ignore[arg-type]
        )
        return sum(1 for _ in stream)

    aclient = openai.AsyncOpenAI(api_key="bench", http_client=httpx2.AsyncClient(transport=transport))
    loop = asyncio.new_event_loop()

    def achat() -> object:
        return loop.run_until_complete(aclient.chat.completions.create(model="gpt-4o", messages=messages))  # type: ignore[arg-type]

    app_tracer = tracer_provider.get_tracer("app")

    def chat_in_request() -> object:
        """One call inside a request of the app (a local root span): what roll-ups add to a call."""
        with app_tracer.start_as_current_span("POST /ask", attributes={"http.route": "/ask"}):
            return chat()

    def spans_without_llm() -> object:
        """A request of the app with no LLM call (a root and two children): what roll-ups add to it."""
        with (
            app_tracer.start_as_current_span("GET /health", attributes={"http.route": "/health"}),
            app_tracer.start_as_current_span("db"),
            app_tracer.start_as_current_span("cache"),
        ):
            return None

    calls, stream_calls = args.calls, max(50, args.calls // 4)
    floor_on, floor_off = floor_patch(tracer_provider, meter_provider)
    table: dict[str, Scenario] = {
        "openai.chat.floor": ("floor: bare span + 4 histograms (yardstick)", chat, floor_on, floor_off, calls),
        "openai.chat": ("openai chat.completions.create", chat, on, off, calls),
        "openai.chat.unsampled": ("openai chat.completions.create, span not sampled", chat, on_unsampled, off, calls),
        "openai.chat.stream": (f"openai chat stream ({args.chunks} chunks)", chat_stream, on, off, stream_calls),
        "openai.chat.async": ("openai async chat.completions.create", achat, on, off, calls),
        "openai.chat.in_request": ("openai chat inside an app request span", chat_in_request, on, off, calls),
        "app.spans.no_llm": ("app request span, 2 children, no LLM call", spans_without_llm, on, off, calls),
    }
    try:
        import anthropic
    except ImportError:
        anthropic = None  # type: ignore[assignment]
    if anthropic is not None:
        table.update(anthropic_scenarios(anthropic, transport, on, off, calls, stream_calls))

    def shutdown() -> None:
        off()
        tracer_provider.shutdown()
        unsampled_provider.shutdown()
        meter_provider.shutdown()

    return table, shutdown


def anthropic_scenarios(
    anthropic: Any, transport: Any, on: Switch, off: Switch, calls: int, stream_calls: int
) -> dict[str, Scenario]:
    """Anthropic plain and streaming calls, with the SDK's own tracing on (its default) and off."""
    import httpx2

    table: dict[str, Scenario] = {}
    messages = [{"role": "user", "content": "Say hello"}]
    for tracing in (True, False):
        client = anthropic.Anthropic(
            api_key="bench", base_url="https://api.anthropic.com", http_client=httpx2.Client(transport=transport),
            **({} if tracing else {"open_telemetry": False}),
        )

        def plain(client: Any = client) -> object:
            return client.messages.create(model=ANTHROPIC_MODEL, max_tokens=100, messages=messages)

        def stream(client: Any = client) -> object:
            with client.messages.stream(model=ANTHROPIC_MODEL, max_tokens=100, messages=messages) as s:
                return s.get_final_message()

        label, key = ("SDK tracing on", "sdk_on") if tracing else ("SDK tracing off", "sdk_off")
        table[f"anthropic.create.{key}"] = (f"anthropic messages.create ({label})", plain, on, off, calls)
        table[f"anthropic.stream.{key}"] = (f"anthropic messages.stream ({label})", stream, on, off, stream_calls)
    return table


def count_instructions(keys: Sequence[str], calls: int) -> dict[str, dict[str, float]]:
    """Instructions per call under callgrind, on and off: a ratio that other load on the machine cannot skew."""
    import re
    import subprocess
    import tempfile

    results: dict[str, dict[str, float]] = {}
    for key in keys:
        counts: dict[str, float] = {}
        for state in ("off", "on"):
            with tempfile.TemporaryDirectory() as tmp:
                run = subprocess.run(
                    ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=map_next",
                     f"--callgrind-out-file={tmp}/out", sys.executable, __file__,
                     "--child", key, "--state", state, "--calls", str(calls)],
                    capture_output=True, text=True, check=True,
                )
            found = re.search(r"Collected : (\d+)", run.stderr)
            assert found, run.stderr[-2000:]
            counts[state] = int(found.group(1)) / calls
        ratio = counts["on"] / counts["off"]
        results[key] = {"instructions_off": counts["off"], "instructions_on": counts["on"], "ratio": ratio}
        print(f"{key:<28} instructions per call: off {counts['off'] / 1e6:6.3f} M   on {counts['on'] / 1e6:6.3f} M"
              f"   ratio {ratio:.3f}x", flush=True)
    return results


def child(table: dict[str, Scenario], key: str, state: str, calls: int, warmup: int = 200) -> None:
    """Run one scenario's calls inside map(), the C function callgrind is told to count."""
    _, fn, on, off, _ = table[key]
    (on if state == "on" else off)()
    for _ in range(warmup):  # warm-up: caches, lazily built models, first-series work
        fn()
    list(map(lambda _: fn(), range(calls)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--only", action="append", help="scenario keys to run (default: all)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per call under valgrind/callgrind instead of timing")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--warmup", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)

    table, shutdown = scenarios(args)
    if args.child:
        child(table, args.child, args.state, args.calls, args.warmup)
        shutdown()
        return 0
    keys = args.only or list(table)
    results: dict[str, Any] = {}
    import openai

    print(f"python {sys.version.split()[0]}, openai {openai.__version__}; {args.blocks} blocks x {args.calls} calls")
    if args.instructions:
        results = count_instructions(keys, args.calls)
    else:
        for key in keys:
            label, fn, on, off, calls = table[key]
            results[key] = measure(label, fn, on, off, args.blocks, calls)
        results["cost_us"] = cost_us()
        print(f"{'cost computation (PriceBook.cost, warm)':<44} {results['cost_us']:.2f} µs per call")
        results["cost_units_us"] = cost_us(units=True)
        print(f"{'  with per-modality units (plan)':<44} {results['cost_units_us']:.2f} µs per call")
    if args.json:
        print(json.dumps(results, indent=2))
    shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
