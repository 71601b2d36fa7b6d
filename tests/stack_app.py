"""An app instrumented by otel-llmcost that Prometheus scrapes, for the stack's end-to-end test.

Run as ``python tests/stack_app.py --port N --price-file F --models gpt-4o``: the real OpenAI and Anthropic
clients call two loopback fakes (``MockLLMServer``), metrics are exposed in Prometheus format by the
OpenTelemetry SDK's Prometheus reader (the names the collector's prometheus exporter gives them). It
reads commands on stdin ("wave", "exit") and answers with one JSON line each, so the test decides
when calls happen relative to Prometheus' scrapes. The calls and prices live here as data, so the test
computes the expected spend from them without the plugin.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SERVICE = "e2e-llm-app"

# USD per million tokens; written to the price file, so the expected spend does not depend on bundled prices.
PRICES: dict[str, dict[str, Any]] = {
    "gpt-4o": {"provider": "openai", "input": 2.5, "output": 10, "cache_read": 1.25,
               "batch": {"input": 1.25, "output": 5, "cache_read": 0.625}},
    "gpt-4o-mini": {"provider": "openai", "input": 0.15, "output": 0.6, "cache_read": 0.075},
    "claude-haiku-4-5": {"provider": "anthropic", "input": 3, "output": 15, "cache_read": 0.3,
                          "cache_write": 3.75},
}
UNPRICED_MODEL = "mystery-model-x"


@dataclass(frozen=True)
class Call:
    """One SDK call and the usage the fake reports for it (OpenAI: prompt includes cached tokens)."""

    provider: str
    model: str
    input: int
    output: int
    cache_read: int = 0
    cache_write: int = 0
    stream: bool = False
    error: int | None = None
    batch: bool = False

    def cost(self) -> Decimal | None:
        """USD from PRICES; None for an unpriced model or a failed call."""
        if self.error is not None or self.model not in PRICES:
            return None
        p = PRICES[self.model]
        rates = {**p, **p.get("batch", {})} if self.batch else p
        m = Decimal(1_000_000)
        if self.provider == "openai":
            uncached = self.input - self.cache_read
            return (uncached * _d(rates["input"]) + self.cache_read * _d(rates["cache_read"])
                    + self.output * _d(rates["output"])) / m
        return (self.input * _d(rates["input"]) + self.cache_read * _d(rates["cache_read"])
                + self.cache_write * _d(rates["cache_write"]) + self.output * _d(rates["output"])) / m

    def batch_saving(self) -> Decimal:
        """Standard price minus batch price, for a batch call."""
        if not self.batch or self.error is not None:
            return Decimal(0)
        standard = Call(self.provider, self.model, self.input, self.output, self.cache_read, self.cache_write)
        cost, full = self.cost(), standard.cost()
        assert cost is not None and full is not None
        return full - cost

    def cache_saving(self) -> Decimal:
        if self.error is not None or self.model not in PRICES or not self.cache_read:
            return Decimal(0)
        p = PRICES[self.model]
        rates = {**p, **p.get("batch", {})} if self.batch else p
        return self.cache_read * (_d(rates["input"]) - _d(rates["cache_read"])) / Decimal(1_000_000)


def _d(value: object) -> Decimal:
    return Decimal(str(value))


def wave(openai_model: str, expensive: bool) -> list[Call]:
    """The calls of one wave: cache reads, streams on both SDKs, an error, an unpriced model, a batch."""
    calls = [
        Call("openai", openai_model, 120_000, 2_000, cache_read=40_000),
        Call("openai", openai_model, 30_000, 1_500, stream=True),
        Call("anthropic", "claude-haiku-4-5", 50_000, 4_000, cache_read=100_000, cache_write=20_000),
        Call("anthropic", "claude-haiku-4-5", 20_000, 1_000, stream=True),
        Call("openai", openai_model, 1_000, 10, error=429),
        Call("openai", UNPRICED_MODEL, 5_000, 500),
    ]
    if expensive:
        calls.append(Call("openai", openai_model, 400_000, 20_000))
        calls.append(Call("openai", "gpt-4o", 200_000, 10_000, cache_read=50_000, batch=True))
    return calls


def _headers(call: Call) -> dict[str, str]:
    if call.error is not None:
        return {"x-mock-error": str(call.error)}
    if call.provider == "openai":
        usage = {"prompt_tokens": call.input, "completion_tokens": call.output, "cached_tokens": call.cache_read}
    else:
        usage = {"input_tokens": call.input, "output_tokens": call.output,
                 "cache_read_input_tokens": call.cache_read, "cache_creation_input_tokens": call.cache_write}
    return {"x-mock-usage": json.dumps(usage)}


def budgets_available() -> bool:
    """Whether this build has budgets (the ``budgets`` branch): then the app configures some (see main)."""
    import importlib.util

    return importlib.util.find_spec("otel_llmcost.budgets") is not None


BUDGET_FILE = """\
budgets:
  - name: e2e-daily
    limit: 1000
    period: day
    scope: all
    thresholds: [0.000001]
    action: warn
  - name: e2e-blocked
    limit: 0.01
    period: day
    scope: {feature: over-budget}
    action: block
  - name: e2e-per-user
    limit: 1000
    period: day
    scope: {user: "*"}
    thresholds: [0.000001]
    action: warn
"""


def _run(call: Call, oa: Any, an: Any, user: str) -> None:
    from otel_llmcost import attributes

    with attributes(user_id=user, feature="chat", team="search"):
        _send(call, oa, an)


def _send(call: Call, oa: Any, an: Any) -> None:
    import anthropic
    import openai

    headers = _headers(call)
    messages = [{"role": "user", "content": "How much did we spend?"}]
    try:
        if call.batch:
            oa.batches.retrieve(f"batch_e2e_{call.model}", extra_headers={**headers, "x-mock-model": call.model})
        elif call.provider == "openai" and call.stream:
            for _ in oa.chat.completions.create(model=call.model, messages=messages, stream=True,
                                                stream_options={"include_usage": True}, extra_headers=headers):
                pass
        elif call.provider == "openai":
            oa.chat.completions.create(model=call.model, messages=messages, extra_headers=headers)
        elif call.stream:
            with an.messages.stream(model=call.model, max_tokens=1024, messages=messages,
                                    extra_headers=headers) as stream:
                for _ in stream.text_stream:
                    pass
        else:
            an.messages.create(model=call.model, max_tokens=1024, messages=messages, extra_headers=headers)
    except (openai.APIStatusError, anthropic.APIStatusError):
        if call.error is None:
            raise


def _block_one(oa: Any) -> None:
    """One call under the over-budget feature: refused by the block budget before it is sent."""
    from otel_llmcost import attributes

    with attributes(feature="over-budget"):
        try:
            oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        except Exception as exc:  # BudgetExceededError (its module differs between builds)
            if type(exc).__name__ != "BudgetExceededError":
                raise


def _expose_exemplars(reader: Any) -> None:
    """Put the SDK's exemplars (the trace of a point) on the histogram buckets the Prometheus reader exposes.

    Stands in for the collector's ``prometheus`` exporter with ``enable_open_metrics: true`` (what the rendered
    collector/config.yaml runs): the SDK's Prometheus reader drops exemplars, the collector keeps them as
    OpenMetrics exemplars labelled ``trace_id`` / ``span_id`` (32 and 16 hex digits). Prometheus asks for
    OpenMetrics first, so a scrape carries them to its exemplar storage.
    """
    from bisect import bisect_left

    from opentelemetry.exporter.prometheus._mapping import sanitize_attribute, sanitize_full_name
    from opentelemetry.sdk.metrics.export import Histogram, MetricsData
    from prometheus_client import REGISTRY
    from prometheus_client.samples import Exemplar

    inner = reader._collector  # the SDK reader's prometheus_client collector
    received: list[MetricsData] = []
    add = inner.add_metrics_data

    def keep(data: MetricsData) -> None:
        received.append(data)
        add(data)

    inner.add_metrics_data = keep

    class WithExemplars:
        def collect(self) -> list[Any]:
            received.clear()
            families = list(inner.collect())  # collects the SDK's metrics (received) and translates them
            found: dict[tuple[str, frozenset[tuple[str, str]], str], Exemplar] = {}
            for data in received:
                for rm in data.resource_metrics:
                    for sm in rm.scope_metrics:
                        for metric in sm.metrics:
                            if not isinstance(metric.data, Histogram):
                                continue
                            name = sanitize_full_name(metric.name)
                            for point in metric.data.data_points:
                                labels = frozenset((sanitize_attribute(k), str(v)) for k, v in point.attributes.items())
                                bounds = list(point.explicit_bounds)
                                for e in point.exemplars:
                                    if not e.trace_id:
                                        continue
                                    i = bisect_left(bounds, e.value)
                                    le = f"{bounds[i]}" if i < len(bounds) else "+Inf"
                                    found[(name, labels, le)] = Exemplar(
                                        {"trace_id": format(e.trace_id, "032x"), "span_id": format(e.span_id, "016x")},
                                        e.value, e.time_unix_nano / 1e9)
            if not found:
                return families
            for family in families:
                if family.type != "histogram":
                    continue
                for n, sample in enumerate(family.samples):
                    if not sample.name.endswith("_bucket"):
                        continue
                    labels = frozenset((k, v) for k, v in sample.labels.items()
                                       if k != "le" and not k.startswith("otel_scope_") and v != "")
                    exemplar = next((e for (name, want, le), e in found.items()
                                     if family.name.startswith(name) and want == labels and le == sample.labels["le"]),
                                    None)
                    if exemplar is not None:
                        family.samples[n] = sample._replace(exemplar=exemplar)
            return families

    REGISTRY.unregister(inner)
    REGISTRY.register(WithExemplars())  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--price-file", required=True)
    parser.add_argument("--openai-model", required=True)
    args = parser.parse_args()

    import anthropic
    import openai
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind
    from prometheus_client import start_http_server

    from otel_llmcost import LLMCostInstrumentor
    from otel_llmcost.fakes.server import MockLLMServer
    from otel_llmcost.guard import internal_error

    resource = Resource.create({"service.name": SERVICE})
    reader = PrometheusMetricReader()
    _expose_exemplars(reader)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    start_http_server(args.port, addr="127.0.0.1")
    options: dict[str, Any] = {}
    if budgets_available():
        # Budget metrics and attribution labels on metrics (options as named on the budgets branch).
        budget_file = args.price_file + ".budgets.yaml"
        with open(budget_file, "w", encoding="utf-8") as f:
            f.write(BUDGET_FILE)
        # Two values per attribution key on metrics: the third user is folded into "other" (and counted).
        options = {"budget_file": budget_file, "metric_attributes": ("llmcost.feature", "llmcost.team", "user.id"),
                   "max_attribute_values": 2}
    with MockLLMServer() as openai_api, MockLLMServer() as anthropic_api:
        hosts = {openai_api.url.split("//", 1)[1]: "openai", anthropic_api.url.split("//", 1)[1]: "anthropic"}
        tracer_provider = TracerProvider(resource=resource)
        spans = InMemorySpanExporter()  # the trace ids of the priced calls, told to the test (exemplars)
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        # Each call is one request of the app (a server span with a route): the per-route roll-up panels.
        tracer = tracer_provider.get_tracer("e2e-app")
        LLMCostInstrumentor().instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider,
            price_file=args.price_file, provider_hosts=hosts, **options,
        )
        oa = openai.OpenAI(api_key="e2e", base_url=openai_api.openai_base_url, max_retries=0)
        an = anthropic.Anthropic(api_key="e2e", base_url=anthropic_api.anthropic_base_url, max_retries=0)
        print(json.dumps({"event": "ready"}), flush=True)
        for waves, line in enumerate(sys.stdin, 1):
            if line.strip() == "exit":
                break
            for number, call in enumerate(wave(args.openai_model, expensive=waves == 1)):
                with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER,
                                                  attributes={"http.route": "/chat"}):
                    _run(call, oa, an, user=f"user-{number % 3}")
            if options:
                _block_one(oa)
            try:
                raise RuntimeError("e2e: exercise the internal-error counter")
            except RuntimeError:
                internal_error("e2e")
            # trace id (hex) -> cost of the priced call in it: what an exemplar of this wave may name.
            # (the cost's name depends on OTEL_SEMCONV_STABILITY_OPT_IN: the released one, or the latest)
            traces = {format(s.context.trace_id, "032x"): cost for s in spans.get_finished_spans()
                      if (cost := _cost_of(s.attributes or {})) is not None}
            spans.clear()
            print(json.dumps({"event": "done", "wave": waves, "traces": traces}), flush=True)
    print(json.dumps({"event": "bye"}), flush=True)


def _cost_of(attributes: Any) -> Any:
    """A span's cost under either name set (the default mode's, or gen_ai_latest_experimental's)."""
    from otel_llmcost import names

    for name in (names.GEN_AI_USAGE_COST, names.GEN_AI_USAGE_COST_AMOUNT):
        if name in attributes:
            return attributes[name]
    return None


if __name__ == "__main__":
    main()

