"""``otel-llmcost demo``: real SDK clients against a loopback fake API, instrumented, with a cost report.

No API key and no network: the fake answers on 127.0.0.1 and the instrumentation is told (through
the provider-hosts setting) to price that address as api.openai.com would be priced.
"""

from __future__ import annotations

from typing import Any

import click

from .. import names


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.6f}"


def _tokens(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


@click.command()
@click.option("--otlp", metavar="URL", help="Also export spans and metrics over OTLP/HTTP, e.g. http://localhost:4318.")
@click.option("--console", is_flag=True, help="Also print every span and metric point (console exporters).")
def demo(otlp: str | None, console: bool) -> None:
    """Run realistic LLM calls through the real OpenAI SDK and show what they cost."""
    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    from ..demo.mock_llm import MockLLMServer
    from ..demo.scenario import SpanCollector, openai_steps, rows
    from ..instrumentor import LLMCostInstrumentor

    resource = Resource.create({"service.name": "otel-llmcost-demo"})
    collector = SpanCollector()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(collector)
    readers: list[MetricReader] = [InMemoryMetricReader()]
    if console:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=3_600_000))
    if otlp:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = otlp.rstrip("/")
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
        readers.append(
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{base}/v1/metrics"), export_interval_millis=5_000
            )
        )
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    instrumentor = LLMCostInstrumentor()

    with MockLLMServer() as server:
        host = server.url.split("//", 1)[1]
        instrumentor.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, provider_hosts={host: "openai"}
        )
        try:
            client = openai.OpenAI(api_key="demo-key-not-used", base_url=server.openai_base_url, max_retries=0)
            steps = openai_steps()
            click.echo(f"otel-llmcost demo: {len(steps)} OpenAI SDK calls against a local fake API at {server.url}\n")
            for number, step in enumerate(steps, 1):
                try:
                    step.run(client)
                    outcome = click.style("ok", fg="green")
                except openai.APIError as exc:
                    outcome = click.style(type(exc).__name__, fg="yellow")
                click.echo(f"  [{number}/{len(steps)}] {step.title}: {outcome}")
        finally:
            instrumentor.uninstrument()
        metric_total = _metric_total(readers[0])
        tracer_provider.shutdown()
        meter_provider.shutdown()

    _report(list(rows(collector.spans)), metric_total)


def _metric_total(reader: Any) -> float:
    """USD on the llmcost.cost counter (collected twice: a new series reports 0 first)."""
    reader.collect()
    data = reader.get_metrics_data()
    total = 0.0
    for resource_metrics in data.resource_metrics if data else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                if metric.name == names.METRIC_COST:
                    total += sum(point.value for point in metric.data.data_points)
    return total


def _report(report_rows: list[Any], metric_total: float) -> None:
    header = f"{'call':<28} {'input':>9} {'cached':>8} {'output':>8} {'reasoning':>9} {'cost (USD)':>13}"
    click.echo("\n" + click.style(header, bold=True))
    for row in report_rows:
        cost = _money(row.cost) if row.error is None else click.style(f"error {row.error}", fg="yellow")
        if row.error is None and row.cost is None:
            cost = click.style("unpriced", fg="red")
        click.echo(
            f"{row.name[:28]:<28} {_tokens(row.input_tokens):>9} {_tokens(row.cached_tokens):>8} "
            f"{_tokens(row.output_tokens):>8} {_tokens(row.reasoning_tokens):>9} {cost:>13}"
        )
    priced = [r for r in report_rows if r.cost is not None]
    total = sum(r.cost for r in priced)
    click.echo("-" * len(header))
    click.echo(f"{'total (from spans)':<68} {_money(total):>13}")
    click.echo(f"{'total (from the llmcost.cost metric)':<68} {_money(metric_total):>13}")
    unpriced = sum(1 for r in report_rows if r.cost is None and r.error is None)
    errors = sum(1 for r in report_rows if r.error is not None)
    click.echo(f"\n{len(report_rows)} calls, {len(priced)} priced, {unpriced} unpriced, {errors} failed.")
    if priced:
        top = max(priced, key=lambda r: r.cost)
        click.echo(f"Most expensive call: {top.name} at {_money(top.cost)} (trace id {top.trace_id}).")
