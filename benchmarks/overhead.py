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

from otel_llmcost import LLMCostInstrumentor
from otel_llmcost.pricing import PriceBook
from otel_llmcost.usage import Usage


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
    message = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
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


def cost_us(rounds: int = 200_000) -> float:
    book = PriceBook()
    book.warm_up()
    usage = Usage(input_tokens=10_000, output_tokens=500, cache_read_tokens=8_000, reasoning_tokens=100)
    book.cost("openai", "gpt-4o-2024-08-06", usage)
    start = time.perf_counter()
    for _ in range(rounds):
        book.cost("openai", "gpt-4o-2024-08-06", usage)
    return (time.perf_counter() - start) / rounds * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args(argv)

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

    print(f"python {sys.version.split()[0]}, openai {openai.__version__}; {args.blocks} blocks x {args.calls} calls")
    results: dict[str, Any] = {}
    results["openai.chat"] = measure("openai chat.completions.create", chat, on, off, args.blocks, args.calls)
    results["openai.chat.stream"] = measure(
        f"openai chat stream ({args.chunks} chunks)", chat_stream, on, off, args.blocks, max(50, args.calls // 4)
    )
    results["openai.chat.async"] = measure(
        "openai async chat.completions.create", achat, on, off, args.blocks, args.calls
    )
    try:
        import anthropic
    except ImportError:
        anthropic = None  # type: ignore[assignment]
    if anthropic is not None:
        results.update(anthropic_runs(anthropic, transport, on, off, args))
    results["cost_us"] = cost_us()
    print(f"{'cost computation (PriceBook.cost, warm)':<44} {results['cost_us']:.2f} µs per call")
    if args.json:
        print(json.dumps(results, indent=2))
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return 0


def anthropic_runs(anthropic: Any, transport: Any, on: Any, off: Any, args: Any) -> dict[str, Any]:
    """Anthropic plain and streaming calls, with the SDK's own tracing on (its default) and off."""
    import httpx2

    results: dict[str, Any] = {}
    messages = [{"role": "user", "content": "Say hello"}]
    for tracing in (True, False):
        client = anthropic.Anthropic(
            api_key="bench", base_url="https://api.anthropic.com", http_client=httpx2.Client(transport=transport),
            **({} if tracing else {"open_telemetry": False}),
        )

        def plain(client: Any = client) -> object:
            return client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=messages)

        def stream(client: Any = client) -> object:
            with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=messages) as s:
                return s.get_final_message()

        label = "SDK tracing on" if tracing else "SDK tracing off"
        results[f"anthropic.create.{'sdk_on' if tracing else 'sdk_off'}"] = measure(
            f"anthropic messages.create ({label})", plain, on, off, args.blocks, args.calls
        )
        results[f"anthropic.stream.{'sdk_on' if tracing else 'sdk_off'}"] = measure(
            f"anthropic messages.stream ({label})", stream, on, off, args.blocks, max(50, args.calls // 4)
        )
    return results


if __name__ == "__main__":
    raise SystemExit(main())
