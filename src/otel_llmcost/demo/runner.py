"""The demo's wiring: OpenTelemetry providers and exporters, two loopback fakes, the instrumentation, real clients.

No API key and no network: one fake answers as OpenAI and one as Anthropic on 127.0.0.1, and the
instrumentation is told (``provider_hosts``) to price each address as the provider's API would be priced.
Finished spans are kept in memory so the report is read back from the telemetry itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import IO, Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from .. import names
from ..attribution import attributes
from ..fakes.server import MockLLMServer
from ..instrumentor import LLMCostInstrumentor
from ..reporting.spans import CallRecord
from .scenario import ANTHROPIC, OPENAI, Step

SERVICE_NAME = "otel-llmcost-demo"


@dataclass(frozen=True)
class Exporters:
    """Where the demo's telemetry goes besides the in-memory report."""

    otlp: str | None = None
    """OTLP/HTTP base URL (``http://localhost:4318``): spans and metrics every 5 s."""
    console: bool = False
    metrics_port: int | None = None
    """Serve Prometheus' /metrics on this port (needs opentelemetry-exporter-prometheus)."""
    metrics_addr: str = "0.0.0.0"
    spans_file: IO[str] | None = None
    """Write every finished span as one JSON line (the SDK's own span serialization)."""


class SpanCollector(SpanProcessor):
    """Keeps this package's finished spans: the report reads cost and attribution from what the spans say."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReadableSpan] = []

    @staticmethod
    def _ours(span: ReadableSpan) -> bool:
        scope = span.instrumentation_scope
        return scope is not None and scope.name == names.INSTRUMENTATION_SCOPE

    def on_end(self, span: ReadableSpan) -> None:
        if self._ours(span):
            with self._lock:
                self._spans.append(span)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._spans)

    def since(self, start: int) -> list[ReadableSpan]:
        with self._lock:
            return self._spans[start:]


def _json_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + os.linesep


class DemoRun:
    """Everything one ``otel-llmcost demo`` needs, set up on enter and flushed and torn down on exit."""

    def __init__(self, exporters: Exporters) -> None:
        self.exporters = exporters
        self.collector = SpanCollector()
        self._memory = InMemoryMetricReader()
        self._servers = {OPENAI: MockLLMServer(), ANTHROPIC: MockLLMServer()}
        self._clients: dict[str, Any] = {}
        self._sdk_errors: tuple[type[BaseException], ...] = ()
        self._started = False
        self._instrumentor = LLMCostInstrumentor()
        self._metrics_server: Any = None
        self._ledger_dir = tempfile.mkdtemp(prefix="otel-llmcost-demo-")
        self.ledger = os.path.join(self._ledger_dir, "ledger.db")
        """The calls' ledger (the SQLite store, no budget): what the closing ``advise`` reads."""
        self.tracer_provider, self.meter_provider = self._providers()
        self.metrics_url: str | None = None

    def _providers(self) -> tuple[TracerProvider, MeterProvider]:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

        ex = self.exporters
        resource = Resource.create({"service.name": SERVICE_NAME})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(self.collector)
        readers: list[MetricReader] = []
        if ex.spans_file is not None:
            tracer_provider.add_span_processor(
                SimpleSpanProcessor(ConsoleSpanExporter(out=ex.spans_file, formatter=_json_line))
            )
        if ex.console:
            from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

            tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=3_600_000))
        if ex.otlp:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            base = ex.otlp.rstrip("/")
            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
            metric_exporter = OTLPMetricExporter(endpoint=f"{base}/v1/metrics")
            readers.append(PeriodicExportingMetricReader(metric_exporter, export_interval_millis=5_000))
        if ex.metrics_port is not None:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader

            readers.append(PrometheusMetricReader())
        # The in-memory reader cross-checks the llmcost.cost metric only when no exporter reads the counters:
        # a counter series is reported at 0 on its first collection by any reader (metrics.CounterTable), so
        # a collection of ours would hide a new series' first dollars from the exporter's first sample.
        if not readers:
            readers.append(self._memory)
        return tracer_provider, MeterProvider(resource=resource, metric_readers=readers)

    # --- life cycle ------------------------------------------------------------------------------
    def __enter__(self) -> DemoRun:
        return self.start()

    def start(self) -> DemoRun:
        """Start the fakes (and /metrics), instrument, make the clients; on failure undo what was done."""
        if self._started:
            return self
        self._started = True
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        import importlib.util
        import inspect

        hosts: dict[str, str] = {}
        for provider, server in self._servers.items():
            server.start()
            hosts[server.url.split("//", 1)[1]] = provider
        if self.exporters.metrics_port is not None:
            from prometheus_client import start_http_server

            addr, port = self.exporters.metrics_addr, self.exporters.metrics_port
            self._metrics_server, _ = start_http_server(port, addr=addr)
            shown = "127.0.0.1" if addr in ("0.0.0.0", "") else addr
            self.metrics_url = f"http://{shown}:{self._metrics_server.server_port}/metrics"
        self._instrumentor.instrument(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, provider_hosts=hosts,
            budget_store=f"sqlite:{self.ledger}",
        )
        if importlib.util.find_spec("openai") is not None:
            import openai

            self._sdk_errors += (openai.APIError,)
            self._clients[OPENAI] = openai.OpenAI(
                api_key="demo-key-not-used", base_url=self._servers[OPENAI].openai_base_url, max_retries=0
            )
        if importlib.util.find_spec("anthropic") is not None:
            import anthropic

            self._sdk_errors += (anthropic.APIError,)
            options: dict[str, Any] = {}
            if "open_telemetry" in inspect.signature(anthropic.Anthropic).parameters:
                # anthropic 2.x traces itself on the *global* tracer provider; the demo's spans are its own.
                options["open_telemetry"] = False
            self._clients[ANTHROPIC] = anthropic.Anthropic(
                api_key="demo-key-not-used", base_url=self._servers[ANTHROPIC].anthropic_base_url, max_retries=0,
                **options,
            )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Undo the instrumentation, flush every exporter, stop the servers. Safe to call twice."""
        if self._instrumentor.is_instrumented_by_opentelemetry:
            self._instrumentor.uninstrument()
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
        for server in self._servers.values():
            server.stop()
        shutil.rmtree(self._ledger_dir, ignore_errors=True)

    # --- traffic ---------------------------------------------------------------------------------
    def available(self, step: Step) -> bool:
        """False when the step's SDK is not installed (the demo then skips it)."""
        return step.provider in self._clients

    def call(self, step: Step) -> list[CallRecord]:
        """Make the step's SDK call in its attribution scope; the records of the spans it produced."""
        before = self.collector.count
        # An SDK error is on the span (error.type); a method or parameter an older SDK lacks (AttributeError,
        # TypeError) leaves no span, which the demo reports as skipped. Either way the demo goes on.
        with attributes(**step.who), contextlib.suppress(AttributeError, TypeError, *self._sdk_errors):
            step.run(self._clients[step.provider])
        return [CallRecord.from_span(span) for span in self.collector.since(before)]

    def records(self) -> list[CallRecord]:
        return [CallRecord.from_span(span) for span in self.collector.since(0)]

    def metric_total(self) -> Decimal | None:
        """USD on the llmcost.cost counter, or None when an exporter reads the counters instead."""
        if self.exporters.otlp or self.exporters.console or self.exporters.metrics_port is not None:
            return None
        total = Decimal(0)
        for _ in range(2):  # a new counter series reports 0 on its first collection
            self._memory.collect()
        data = self._memory.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == names.METRIC_COST:
                        for point in metric.data.data_points:
                            total += Decimal(repr(float(getattr(point, "value", 0))))
        return total


def attribution_of(record: CallRecord) -> Mapping[str, str]:
    """The feature/team/user a call was made for, as its span says."""
    keys = (names.LLMCOST_FEATURE, names.LLMCOST_TEAM, names.USER_ID)
    return {k: str(record.attributes[k]) for k in keys if k in record.attributes}
