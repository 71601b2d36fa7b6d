"""``otel-llmcost demo``: real OpenAI and Anthropic SDK calls against loopback fakes, instrumented, with a spend report.

Without options it runs the scenario once (every call shown as it happens) and prints spend by provider,
model, feature and user, cache savings and the most expensive call, all read back from the spans. With
``--duration`` it keeps traffic going at ``--rate`` calls per second for dashboards (``--otlp`` to a
collector, ``--metrics-port`` for a Prometheus to scrape). Ctrl-C finishes the call in flight, flushes the
exporters, prints the report of what ran and exits 130; after the traffic, Ctrl-C ends ``/metrics`` serving
with exit code 0.
"""

from __future__ import annotations

import random
import signal
import socket
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from types import FrameType, TracebackType
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

from .. import names
from ..demo.runner import DemoRun, Exporters, attribution_of
from ..demo.scenario import Step, steps
from ..reporting import share
from ..reporting.spans import CallRecord, group, most_expensive, total_cost
from . import output
from .params import DURATION, describe, http_url

_LABELS = {names.LLMCOST_FEATURE: "feature", names.LLMCOST_TEAM: "team", names.USER_ID: "user"}
PLACES = output.PLACES
INTERRUPTED = 130
_STATUS_EVERY = 5.0  # seconds between plain-text progress lines in --duration mode


class Interrupt:
    """Ctrl-C and SIGTERM set an event instead of raising: the call in flight ends, then the demo stops cleanly.

    A second Ctrl-C raises KeyboardInterrupt as usual. Signal handlers exist only in the main thread;
    elsewhere (an embedding app's worker) the demo simply runs to its end.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()

    @property
    def stopped(self) -> bool:
        return self.event.is_set()


def _outcome(records: Sequence[CallRecord]) -> str:
    if not records:
        return "[yellow]skipped: not in this SDK version[/yellow]"
    record = records[-1]
    if record.error is not None:
        return f"[yellow]{record.error}[/yellow]"
    if record.unpriced:
        return "[red]unpriced[/red]"
    return output.usd(record.cost, PLACES)


def _run_scenario(run: DemoRun, out: Console, stop: Interrupt, plan: list[Step]) -> None:
    width = len(str(len(plan)))
    progress = None
    if out.is_terminal:
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            console=out, transient=True,
        )
        progress.start()
    task = progress.add_task("calling", total=len(plan)) if progress is not None else None
    spent = Decimal(0)
    try:
        for number, step in enumerate(plan, 1):
            if stop.stopped:
                break
            records = run.call(step)
            spent += total_cost(records)
            out.print(
                f"[{number:>{width}}/{len(plan)}] {step.provider:<9} {step.feature + '/' + step.user:<20} "
                f"{step.title}: {_outcome(records)}",
                highlight=False,
            )
            if progress is not None and task is not None:
                progress.update(task, advance=1, description=f"spent {output.usd(spent, PLACES)}")
    finally:
        if progress is not None:
            progress.stop()


def _run_continuous(
    run: DemoRun, out: Console, stop: Interrupt, plan: list[Step], duration: float, rate: float, seed: int
) -> None:
    chooser = random.Random(seed)
    weights = [s.weight for s in plan]
    interval = 1.0 / rate
    start = time.monotonic()
    deadline = start + duration
    next_call = start
    next_status = start
    calls = failed = 0
    spent = Decimal(0)
    progress = None
    if out.is_terminal:
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
            console=out, transient=True,
        )
        progress.start()
    task = progress.add_task("starting", total=duration) if progress is not None else None
    try:
        while not stop.stopped:
            now = time.monotonic()
            if now >= deadline:
                break
            if now < next_call:
                stop.event.wait(min(next_call, deadline) - now)  # pacing at --rate, woken early by Ctrl-C
                continue
            records = run.call(chooser.choices(plan, weights)[0])
            calls += 1
            failed += sum(1 for r in records if r.error is not None)
            spent += total_cost(records)
            next_call = max(next_call + interval, time.monotonic() - interval)
            status = f"{output.plural(calls, 'call')}, {output.usd(spent, PLACES)} spent, {failed:,} failed"
            if progress is not None and task is not None:
                progress.update(task, completed=time.monotonic() - start, description=status)
            elif time.monotonic() >= next_status:
                left = max(0.0, deadline - time.monotonic())
                out.print(f"  {status}, {left:.0f}s left", highlight=False)
                next_status = time.monotonic() + _STATUS_EVERY
    finally:
        if progress is not None:
            progress.stop()


_GROUP_COLUMNS = (
    output.Column("calls", "calls", "int"),
    output.Column("errors", "failed", "int"),
    output.Column("unpriced", "unpriced", "int"),
    output.Column("input_tokens", "input tokens", "int"),
    output.Column("cache_read_tokens", "from cache", "int"),
    output.Column("cache_write_tokens", "to cache", "int"),
    output.Column("output_tokens", "output tokens", "int"),
    output.Column("cost", "cost (USD)", "usd", missing="unpriced"),
    output.Column("share_pct", "share", "pct"),
)


def _spend_table(out: Console, records: list[CallRecord], dimension: str, title: str) -> None:
    rows = group(records, dimension)
    spent = total_cost(records)
    # A group of unpriced calls only has no known cost: "unpriced", never a made-up $0.
    table_rows = [{**vars(row), "cost": row.known_cost, "share_pct": share(row, spent)} for row in rows]
    total = {
        "key": "total",
        "cost": spent,
        **{c.key: sum(getattr(r, c.key) or 0 for r in rows) for c in _GROUP_COLUMNS if c.kind == "int"},
    }
    out.print()
    output.show(out, output.table(title, [output.Column("key", dimension), *_GROUP_COLUMNS], table_rows, total))


def _per_call_table(out: Console, records: list[CallRecord]) -> None:
    columns = [
        output.Column("name", "call"),
        output.Column("provider", "provider"),
        output.Column("feature", "feature"),
        output.Column("user", "user"),
        output.Column("input", "input", "int"),
        output.Column("cached", "from cache", "int"),
        output.Column("output", "output", "int"),
        output.Column("reasoning", "reasoning", "int"),
        output.Column("cost", "cost (USD)", "usd", PLACES),
        output.Column("note", ""),
    ]
    rows = [
        {
            "name": r.name,
            "provider": r.value("provider"),
            "feature": r.value("feature"),
            "user": r.value("user"),
            "input": r.input_tokens,
            "cached": r.cache_read_tokens,
            "output": r.output_tokens,
            "reasoning": r.reasoning_tokens,
            "cost": r.cost,
            "note": r.error if r.error is not None else ("unpriced" if r.unpriced else ""),
        }
        for r in records
    ]
    out.print()
    output.show(out, output.table("Every call, as its span reports it", columns, rows))


def report(out: Console, records: list[CallRecord], metric_total: Decimal | None, per_call: bool) -> None:
    """The demo's closing report, read from the spans only."""
    if per_call:
        _per_call_table(out, records)
    for dimension in ("provider", "model", "feature", "user"):
        _spend_table(out, records, dimension, f"Spend by {dimension}")
    out.print()
    cached = sum(r.cache_read_tokens for r in records)
    saved = sum((r.cache_savings for r in records), Decimal(0))
    if cached:
        out.print(f"Prompt cache: {output.plural(cached, 'input token')} read from the cache saved "
                  f"{output.usd(saved, PLACES)}.")
    top = most_expensive(records)
    if top is not None:
        who = ", ".join(f"{_LABELS[k]} {v}" for k, v in attribution_of(top).items())
        out.print(
            f"Most expensive call: {top.name} at {output.usd(top.cost, PLACES)}"
            f"{f' ({who})' if who else ''}, trace id {top.trace_id}.",
            highlight=False,
        )
    unpriced = sorted({str(r.attributes.get(names.GEN_AI_REQUEST_MODEL)) for r in records if r.unpriced})
    errors = sorted({r.error for r in records if r.error is not None})
    priced = sum(1 for r in records if r.cost is not None)
    failed = sum(1 for r in records if r.error is not None)
    parts = [f"{output.plural(len(records), 'call')}: {priced:,} priced"]
    if unpriced:
        parts.append(f"{sum(1 for r in records if r.unpriced):,} unpriced ({', '.join(unpriced)})")
    if failed:
        parts.append(f"{failed:,} failed ({', '.join(errors)})")
    out.print(", ".join(parts) + ".", highlight=False)
    spent = total_cost(records)
    out.print(
        f"[bold]Total spend: {output.usd(spent, PLACES)}[/bold] (the sum of {names.GEN_AI_USAGE_COST} on the spans)."
    )
    if metric_total is not None:
        verdict = "agrees" if output.usd(metric_total, PLACES) == output.usd(spent, PLACES) else "DISAGREES"
        out.print(f"The {names.METRIC_COST} metric {verdict}: {output.usd(metric_total, PLACES)}.")


def _reconciliation(out: Console, records: list[CallRecord]) -> None:
    """The demo's traffic against fake provider bills with a planted difference, as ``reconcile`` explains it."""
    from ..demo import reconcile_demo
    from ..reconcile import ReconcileError, billing
    from .reconcile import show

    out.print()
    reasons = [reason for reason in map(billing.unsupported, ("openai", "anthropic")) if reason]
    if reasons:
        out.print(f"Reconciliation against (fake) provider bills skipped: {'; '.join(reasons)}.", style="dim")
        return
    try:
        lines = reconcile_demo.reconcile(records, time.time())
    except ReconcileError as exc:
        out.print(f"Reconciliation against (fake) provider bills failed: {exc}", style="dim")
        return
    show(out, "Reconciliation: the demo's spend against (fake) provider bills, as `otel-llmcost reconcile` shows it",
         lines)


def advice_summary(out: Console, ledger_path: str) -> None:
    """What ``otel-llmcost advise`` finds in the demo's ledger: its own traffic plants a few opportunities (a
    1-hour cache write never read back, calls made by a script with no server span above them)."""
    import time

    from ..advisor import advise

    advice = advise(ledger_path, 86_400, time.time() + 1)
    out.print("\nWhere the money could be saved (otel-llmcost advise --from sqlite:LEDGER, the demo's calls "
              "counted as a day of traffic):")
    for finding in advice.findings[:5]:
        where = f"{finding.model}" + (f", {finding.feature}" if finding.feature else "")
        out.print(f"  {output.usd(finding.monthly_usd, 2):>10}/month  {finding.title} ({where})", highlight=False)
    if not advice.findings:
        out.print("  nothing found.")


def _exporters(
    otlp: str | None, console: bool, metrics_port: int | None, metrics_addr: str, spans_file: IO[str] | None
) -> Exporters:
    if otlp is not None:
        parts = http_url(otlp, "--otlp", "http://localhost:4318")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), 3).close()
        except OSError as exc:
            raise click.BadParameter(f"nothing answers at {otlp} ({exc.strerror or exc}); is the collector running?",
                                     param_hint="--otlp") from None
    if metrics_port is not None:
        try:
            import opentelemetry.exporter.prometheus  # noqa: F401
        except ImportError:
            raise click.UsageError(
                "--metrics-port needs the Prometheus exporter: pip install 'otel-llmcost[prometheus]'."
            ) from None
    return Exporters(otlp, console, metrics_port, metrics_addr, spans_file)


@click.command()
@click.option("--otlp", metavar="URL", help="Also export spans and metrics over OTLP/HTTP, e.g. http://localhost:4318.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve /metrics for Prometheus on this port (0: any free one); kept up until Ctrl-C.")
@click.option("--metrics-addr", default="0.0.0.0", show_default=True, metavar="ADDR",
              help="Address /metrics listens on.")
@click.option("--duration", type=DURATION, metavar="DURATION",
              help="Keep traffic going this long (30s, 10m, 1h) instead of one pass, for dashboard tryouts.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True, max=1000), metavar="N",
              help="Calls per second with --duration  [default: 2].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --duration traffic mix.")
# lazy=False: a path that cannot be written is a usage error now, not exporter tracebacks at every span.
@click.option("--spans-file", type=click.File("w", encoding="utf-8", lazy=False), metavar="PATH",
              help="Also write every span as one JSON line to PATH.")
@click.option("--console", is_flag=True, help="Also print every span and metric point (console exporters).")
@click.pass_context
def demo(
    ctx: click.Context,
    otlp: str | None,
    metrics_port: int | None,
    metrics_addr: str,
    duration: float | None,
    rate: float | None,
    seed: int,
    spans_file: IO[str] | None,
    console: bool,
) -> None:
    """Real OpenAI and Anthropic SDK calls against a local fake API, priced: no API key, no network.

    \b
    otel-llmcost demo
    otel-llmcost demo --otlp http://localhost:4318 --duration 10m --rate 5
    otel-llmcost demo --metrics-port 9464
    """
    if rate is not None and duration is None:
        raise click.UsageError("--rate needs --duration (how long to keep the traffic going).")
    exporters = _exporters(otlp, console, metrics_port, metrics_addr, spans_file)
    out = output.console()
    run = DemoRun(exporters)
    with Interrupt() as stop:
        try:
            run.start()
        except OSError as exc:
            raise click.BadParameter(f"cannot serve on port {metrics_port}: {exc.strerror or exc}.",
                                     param_hint="--metrics-port") from None
        with run:
            plan = [s for s in steps() if run.available(s)]
            if not plan:
                raise click.ClickException("neither the openai nor the anthropic SDK is installed: pip install openai.")
            sdks = " and ".join(sorted({"OpenAI" if s.provider == "openai" else "Anthropic" for s in plan}))
            if run.metrics_url:
                out.print(f"Prometheus can scrape {run.metrics_url}", highlight=False)
            if duration is None:
                out.print(f"otel-llmcost demo: {output.plural(len(plan), 'call')} through the real {sdks} SDKs, "
                          "against local fakes of their APIs (no key, no network).\n", highlight=False)
                _run_scenario(run, out, stop, plan)
            else:
                calls_per_second = rate if rate is not None else 2.0
                out.print(f"otel-llmcost demo: {calls_per_second:g} calls/s for {describe(duration)} through the "
                          f"real {sdks} SDKs (Ctrl-C stops and reports).", highlight=False)
                _run_continuous(run, out, stop, plan, duration, calls_per_second, seed)
            interrupted = stop.stopped
            if interrupted:
                out.print("\nInterrupted: reporting the calls made so far.")
            report(out, run.records(), run.metric_total(), per_call=duration is None)
            _reconciliation(out, run.records())
            if not interrupted:
                advice_summary(out, run.ledger)
            if run.metrics_url and not interrupted:
                out.print(f"\nServing {run.metrics_url} until Ctrl-C.", highlight=False)
                stop.event.wait()
    if interrupted:
        ctx.exit(INTERRUPTED)
