"""What roll-ups cost: instructions per span with no LLM call beneath, and per request of one LLM call.

Counted under valgrind's callgrind (instructions, which other load on the machine cannot skew), each variant
in a process of its own, only inside the measured loop (``map()``, as ``overhead.py --instructions`` does):

- ``spans``: a request of the app with no LLM call (a root span and two children), otel-llmcost instrumented,
  with the roll-up processor on the tracer provider against without it (``bare``).
  Reported per span: what the processor's ``on_start``/``on_end`` cost a span that has no LLM call.
- ``call``: one openai ``chat.completions.create`` (the real SDK over ``httpx2.MockTransport``) inside a root
  span, instrumented, with roll-ups against without them (``norecord``: with them, but the root's two
  histogram points left out, to show what those cost).

Run: ``PYTHONPATH=src python benchmarks/rollups.py [--calls 60] [--json]`` (needs ``valgrind``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from overhead import NoopMetricExporter, NoopSpanExporter, make_transport

VARIANTS = {"spans": ("bare", "rollups"), "call": ("no_rollups", "norecord", "rollups")}
SPANS_PER_REQUEST = 3


def _setup(scenario: str, variant: str) -> Callable[[], object]:
    """One request of the app for this scenario and variant (the instrumentation set up as the variant says)."""
    import httpx2
    import openai

    from otel_llmcost import LLMCostInstrumentor, rollups

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(NoopMetricExporter(), export_interval_millis=600_000)]
    )
    if variant in ("bare", "no_rollups"):
        rollups.attach = lambda *args, **kwargs: None  # the provider gets no roll-up processor
    if variant == "norecord":
        rollups.Rollups._record = lambda self, span, totals: None  # type: ignore[method-assign]
    LLMCostInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    app = tracer_provider.get_tracer("app")
    if scenario == "spans":

        def request() -> object:
            with (
                app.start_as_current_span("GET /health", attributes={"http.route": "/health"}),
                app.start_as_current_span("db"),
                app.start_as_current_span("cache"),
            ):
                return None

        return request
    client = openai.OpenAI(api_key="bench", http_client=httpx2.Client(transport=make_transport(10)))
    messages: Any = [{"role": "user", "content": "Say hello"}]

    def call() -> object:
        with app.start_as_current_span("POST /ask", attributes={"http.route": "/ask"}):
            return client.chat.completions.create(model="gpt-4o", messages=messages)

    return call


def child(scenario: str, variant: str, calls: int) -> None:
    request = _setup(scenario, variant)
    for _ in range(100):  # warm-up: caches, lazily built models, first-series work
        request()
    list(map(lambda _: request(), range(calls)))


def count(scenario: str, variant: str, calls: int) -> float:
    """Instructions per request of one variant, under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=map_next",
             f"--callgrind-out-file={tmp}/out", sys.executable, __file__,
             "--child", scenario, "--variant", variant, "--calls", str(calls)],
            capture_output=True, text=True, check=True,
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    assert found, run.stderr[-2000:]
    return int(found.group(1)) / calls


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=60, help="measured requests per variant (after 100 warm-up)")
    parser.add_argument("--only", choices=tuple(VARIANTS), action="append", help="scenarios to run (default: both)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    if args.child:
        child(args.child, args.variant, args.calls)
        return 0
    results: dict[str, dict[str, float]] = {}
    for scenario in args.only or list(VARIANTS):
        found = results[scenario] = {variant: count(scenario, variant, args.calls) for variant in VARIANTS[scenario]}
        if scenario == "spans":
            per_span = (found["rollups"] - found["bare"]) / SPANS_PER_REQUEST
            found["per_span"] = per_span
            print(f"request of {SPANS_PER_REQUEST} spans, no LLM call: {found['bare']:,.0f} instructions without the "
                  f"roll-up processor, {found['rollups']:,.0f} with it: {per_span:+,.0f} per span", flush=True)
        else:
            base = found["no_rollups"]
            found["added"] = found["rollups"] - base
            found["ratio"] = found["rollups"] / base
            print(f"request of 1 openai call: {base:,.0f} instructions without roll-ups, {found['rollups']:,.0f} with "
                  f"them ({found['added']:+,.0f}, {100 * (found['ratio'] - 1):+.2f}%); of which the root's histogram "
                  f"points {found['rollups'] - found['norecord']:+,.0f}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
