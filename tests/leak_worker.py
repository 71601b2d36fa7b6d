"""Leak run for tests/test_hardening_leaks.py, in its own process: N calls through the real Anthropic client, then
figures as JSON on stdout.

``python leak_worker.py {sync,async} {stream,plain} CALLS``. A stream is abandoned after two chunks: never closed,
never read to the end, dropped. Every 10k calls: a garbage collection, then the live pymalloc blocks, the spans
started and ended, and whether sampled spans, OpenTelemetry contexts, stream proxies and SDK streams are still
referenced (weakrefs, one call in 1,000). Last, two windows of calls under tracemalloc: the memory the second one
left allocated is the growth per call as tracemalloc counts it (tracing every call would make the run 4x slower).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import sys
import time
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import anthropic
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from otel_llmcost import LLMCostInstrumentor, names
from transport import for_sdk

http: Any = for_sdk("anthropic")
CHECKPOINT = int(os.environ.get("LEAK_CHECKPOINT", "10000"))
"""Calls between checks: 10k in the full run (benchmarks), fewer in the suite's short run."""
SAMPLE = 1_000
WARM_UP = 1_000
TRACED = 500
KW: dict[str, Any] = {"model": "claude-opus-4-7", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


def bodies() -> tuple[bytes, bytes]:
    usage = {"input_tokens": 2000, "output_tokens": 5, "cache_read_input_tokens": 8000,
             "cache_creation_input_tokens": 0}
    message = {"id": "msg_leak", "type": "message", "role": "assistant", "model": "claude-opus-4-7",
               "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn", "stop_sequence": None,
               "usage": usage}
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events: list[tuple[str, Any]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        *[("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": "tok "}})] * 5,
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 5}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    stream = b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)
    return json.dumps(message).encode(), stream


class Counting(SpanProcessor):
    """Counts spans started and ended; keeps a weakref to one span in SAMPLE. Holds no span."""

    def __init__(self) -> None:
        self.started = 0
        self.ended = 0
        self.sampled: list[weakref.ref[Any]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started += 1
        if self.started % SAMPLE == 0:
            self.sampled.append(weakref.ref(span))

    def on_end(self, span: Any) -> None:
        self.ended += 1


class Run:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.calls = 0
        self.refs: list[weakref.ref[Any]] = []
        message, stream = bodies()
        headers = {"content-type": "text/event-stream" if mode == "stream" else "application/json"}
        body = stream if mode == "stream" else message

        def answer(request: Any) -> Any:
            if self.calls % SAMPLE == 0:  # the context our call made current while the SDK sends
                self.refs.append(weakref.ref(otel_context.get_current()))
            return http.Response(200, headers=headers, content=body)

        self.transport = http.MockTransport(answer)

    def sample(self, stream: Any) -> None:
        if self.calls % SAMPLE == 0:
            self.refs.append(weakref.ref(stream))  # our proxy: what the caller holds
            self.refs.append(weakref.ref(stream.__wrapped__))  # the SDK's stream

    def alive(self, processor: Counting) -> int:
        return sum(ref() is not None for ref in (*self.refs, *processor.sampled))


def steps(calls: int) -> list[int]:
    return [CHECKPOINT] * (calls // CHECKPOINT) + ([calls % CHECKPOINT] if calls % CHECKPOINT else [])


def traced_growth(before: tracemalloc.Snapshot, out: dict[str, Any]) -> None:
    """Memory the TRACED calls since ``before`` left allocated, as tracemalloc counts it; then stop tracing."""
    # Not counted: tracemalloc's own snapshot objects, and the stdlib's regex cache (bounded at 512 patterns,
    # oldest dropped first; something in the SDK stack compiles varying patterns, so entries made before tracing
    # started are replaced by traced ones, which looks like growth and is not).
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, re.__file__)]
    after = tracemalloc.take_snapshot().filter_traces(ignore)
    diff = after.compare_to(before.filter_traces(ignore), "lineno")
    out["traced_growth_bytes"] = sum(stat.size_diff for stat in diff)
    out["traced_calls"] = TRACED
    out["traced_top"] = [str(stat) for stat in diff[:5]]
    tracemalloc.stop()


def main(flavour: str, mode: str, calls: int, instrumented: bool = True) -> dict[str, Any]:
    processor = Counting()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = LLMCostInstrumentor()
    if instrumented:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    run = Run(mode)
    checkpoints: list[dict[str, Any]] = []
    out: dict[str, Any] = {"flavour": flavour, "mode": mode, "calls": calls, "checkpoints": checkpoints}

    def measure() -> None:
        checkpoints.append({"calls": run.calls, "blocks": sys.getallocatedblocks(), "started": processor.started,
                            "ended": processor.ended, "alive": run.alive(processor)})

    if flavour == "sync":
        client = anthropic.Anthropic(api_key="sk-ant-leak", max_retries=0, open_telemetry=False,
                                     http_client=http.Client(transport=run.transport))

        def many(n: int) -> None:
            for _ in range(n):
                run.calls += 1
                if mode == "plain":
                    client.messages.create(**KW)
                    continue
                stream = client.messages.create(stream=True, **KW)
                next(stream)
                next(stream)
                if instrumented:
                    run.sample(stream)
                # then dropped: never closed, never read to the end

        def checkpoint() -> None:
            gc.collect()
            measure()

        many(WARM_UP)
        gc.collect()
        gc.freeze()  # what exists now is long-lived: not rescanned by every collection
        checkpoint()
        start, cpu = time.perf_counter(), time.process_time()
        for step in steps(calls):
            many(step)
            checkpoint()
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu
        # Under tracemalloc: a first window fills what churns (caches evicting old entries), the second is measured.
        tracemalloc.start()
        many(TRACED)
        gc.collect()
        before = tracemalloc.take_snapshot()
        many(TRACED)
        gc.collect()
        traced_growth(before, out)
        checkpoint()
    else:
        aclient = anthropic.AsyncAnthropic(api_key="sk-ant-leak", max_retries=0, open_telemetry=False,
                                           http_client=http.AsyncClient(transport=run.transport))

        async def amany(n: int) -> None:
            for _ in range(n):
                run.calls += 1
                if mode == "plain":
                    await aclient.messages.create(**KW)
                    continue
                stream = await aclient.messages.create(stream=True, **KW)
                await stream.__anext__()
                await stream.__anext__()
                if instrumented:
                    run.sample(stream)

        async def settle() -> None:
            """Collect, then let the event loop run what collecting scheduled (closing the SDK's dropped async
            generators) until nothing is left; twice, as closing frees more."""
            for _ in range(2):
                gc.collect()
                quiet = 0
                for _ in range(10_000):
                    await asyncio.sleep(0)  # one turn of the loop: runs what is ready, never waits
                    quiet = quiet + 1 if len(asyncio.all_tasks()) <= 1 else 0
                    if quiet >= 3:
                        break

        async def body() -> None:
            await amany(WARM_UP)
            await settle()
            gc.freeze()
            await settle()
            measure()
            start, cpu = time.perf_counter(), time.process_time()
            for step in steps(calls):
                await amany(step)
                await settle()
            measure()
            out["seconds"], out["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu
            tracemalloc.start()
            await amany(TRACED)
            await settle()
            before = tracemalloc.take_snapshot()
            await amany(TRACED)
            await settle()
            traced_growth(before, out)
            await settle()
            measure()

        asyncio.run(body())

    reader.collect()
    data = reader.get_metrics_data()
    durations = 0
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == names.METRIC_OPERATION_DURATION:
                    durations += sum(p.count for p in metric.data.data_points)
    out["total_calls"] = run.calls
    out["duration_points"] = durations
    if instrumented:
        instrumentor.uninstrument()
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] != ["bare"])))
