"""``otel-llmcost reconcile``: computed spend against the providers' own bills, per closed day and model, explained.

Reads the bills with the providers' admin keys (``OPENAI_ADMIN_KEY``, ``ANTHROPIC_ADMIN_KEY``) through their SDKs,
the computed spend from the ledger (``--from sqlite:PATH`` or ``postgresql://...``) or Prometheus (``--prometheus
URL``), and prints one line per provider and UTC day (then per model) with the difference and its explanations;
table, CSV or JSON, money as exact decimals. ``--serve`` keeps polling and serves the comparison as Prometheus
gauges instead. Every failure (no key, a refused key, an unreachable API, a refused window) is one line and exit
code 2.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ..errors import ConfigError
from ..reconcile import PROVIDERS, ReconcileError
from ..reconcile.compare import ALL_MODELS, DIFFERS, EXPLAINED, MATCH, OPEN, Line
from . import output
from .params import DURATION, LEDGER_HELP, LEDGER_METAVAR, MOMENT, describe, http_url, ledger_url

COLUMNS = (
    output.Column("provider", "provider"),
    output.Column("day", "day"),
    output.Column("model", "model"),
    output.Column("status", "status"),
    output.Column("billed", "billed (USD)", "usd"),
    output.Column("computed", "computed (USD)", "usd"),
    output.Column("difference", "difference", "usd"),
    output.Column("difference_pct", "diff %", "pct"),
    output.Column("billed_input_tokens", "billed in", "int"),
    output.Column("computed_input_tokens", "computed in", "int"),
    output.Column("billed_output_tokens", "billed out", "int"),
    output.Column("computed_output_tokens", "computed out", "int"),
    output.Column("explanation", "explanation"),
)
_STYLE = {MATCH: "green", EXPLAINED: "yellow", DIFFERS: "bold red", OPEN: "dim"}


class ReconcileFailed(click.ClickException):
    """A reconciliation that could not run: one line on stderr, exit code 2."""

    exit_code = 2


def _row(line: Line) -> dict[str, Any]:
    return {
        "provider": line.provider, "day": line.day, "model": line.model, "status": line.status,
        "closed": line.closed, "billed": line.billed, "computed": line.computed, "difference": line.difference,
        "difference_pct": line.difference_pct, "billed_input_tokens": line.billed_input_tokens,
        "computed_input_tokens": line.computed_input_tokens, "billed_output_tokens": line.billed_output_tokens,
        "computed_output_tokens": line.computed_output_tokens, "calls": line.calls, "unexplained": line.unexplained,
        "explanation": "; ".join(f"{e.cause} {output.usd(e.amount)}" for e in line.explanations),
    }


def _source(source: str | None, prometheus: str | None) -> str:
    if (source is None) == (prometheus is None):
        raise click.UsageError("say where the spend is recorded: --from sqlite:PATH, --from postgresql://... or "
                               "--prometheus URL (one).")
    if prometheus is not None:
        http_url(prometheus, "--prometheus", "http://localhost:9090")
        return f"prometheus:{prometheus}"
    assert source is not None
    return ledger_url(source)


@click.command()
@click.option("--since", type=DURATION, default="7d", show_default=True, metavar="DURATION",
              help="Window length, in whole UTC days: 7d, 30d …")
@click.option("--until", "until", type=MOMENT, metavar="TIME", help="Window end (default now).")
@click.option("--from", "source", metavar=LEDGER_METAVAR, help=LEDGER_HELP)
@click.option("--prometheus", metavar="URL", help="A Prometheus server's base URL, e.g. http://localhost:9090.")
@click.option("--provider", "wanted", type=click.Choice(PROVIDERS), multiple=True,
              help="Only this provider (repeatable); default: every provider with an admin key set.")
@click.option("--tolerance", metavar="SHARE", help="Unexplained share of a bill that still matches (default 0.01).")
@click.option("--settle", type=DURATION, metavar="DURATION",
              help="How long after a UTC day ends its bill counts as closed (default 1d).")
@click.option("--format", "fmt", type=click.Choice(output.FORMATS), default="table", show_default=True)
@click.option("--days-only", is_flag=True, help="Only each provider's day totals, not the per-model lines.")
@click.option("--serve", is_flag=True, help="Keep polling and serve the comparison on /metrics (Prometheus).")
@click.option("--interval", type=DURATION, metavar="DURATION", help="--serve: time between polls (default 1h).")
@click.option("--host", default="0.0.0.0", show_default=True, help="--serve: address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=9466, show_default=True, help="--serve: port.")
@click.option("--openai-url", metavar="URL", help="OpenAI API base URL (default: the SDK's, or OPENAI_BASE_URL).")
@click.option("--anthropic-url", metavar="URL", help="Anthropic API base URL (default: the SDK's).")
def reconcile(since: float, until: float | None, source: str | None, prometheus: str | None,
              wanted: tuple[str, ...], tolerance: str | None, settle: float | None, fmt: str, days_only: bool,
              serve: bool, interval: float | None, host: str, port: int, openai_url: str | None,
              anthropic_url: str | None) -> None:
    """Does it match the bill? Computed spend against the providers' cost reports, per closed day and model.

    \b
    OPENAI_ADMIN_KEY=... ANTHROPIC_ADMIN_KEY=... \\
      otel-llmcost reconcile --since 7d --from sqlite:/var/lib/app/llmcost.db
    otel-llmcost reconcile --since 30d --prometheus http://prom:9090 --format csv
    otel-llmcost reconcile --prometheus http://prom:9090 --serve --port 9466
    """
    from ..config import ReconcileSettings
    from ..reconcile import service
    from ..reconcile.billing import day_of

    origin = _source(source, prometheus)
    for url, option in ((openai_url, "--openai-url"), (anthropic_url, "--anthropic-url")):
        if url is not None:
            http_url(url, option, "https://api.openai.com/v1")
    try:
        settings = ReconcileSettings.load({"tolerance": tolerance, "settle": settle, "interval": interval})
    except ConfigError as exc:
        raise ReconcileFailed(str(exc)) from None
    urls = {"openai": openai_url, "anthropic": anthropic_url}
    if serve:
        import importlib.util

        from ..reconcile import exporter

        if importlib.util.find_spec("prometheus_client") is None:
            raise ReconcileFailed("--serve needs prometheus-client: pip install 'otel-llmcost[reconcile]'")

        try:
            exporter.serve(exporter.Exporter(settings, origin, since, wanted, urls), host, port)
        except ReconcileError as exc:
            raise ReconcileFailed(str(exc)) from None
        return
    now = time.time()
    try:
        result = service.run(settings, origin, since, now if until is None else until, now, wanted, urls)
    except ReconcileError as exc:
        raise ReconcileFailed(str(exc)) from None
    lines = [line for line in result.lines if not days_only or line.model == ALL_MODELS]
    rows = [_row(line) for line in lines]
    title = (f"Billed against computed spend, last {describe(since)} (UTC days "
             f"{day_of(result.start)} to {day_of(result.end - 1)}), "
             f"{', '.join(result.providers)} against {origin}")
    meta = {"since": describe(since), "start": result.start, "end": result.end, "source": origin,
            "providers": list(result.providers), "tolerance": format(settings.tolerance, "f")}
    out = output.console()
    if fmt == "json":
        document = dict(meta)
        document["lines"] = [
            {**{k: output._raw(v) for k, v in row.items() if k != "explanation"},
             "explanations": [{"cause": e.cause, "amount": format(e.amount, "f"), "text": e.text}
                              for e in line.explanations]}
            for row, line in zip(rows, lines, strict=True)
        ]
        click.echo(json.dumps(document, indent=2))
        return
    if fmt == "csv":
        output.render(out, fmt, title, COLUMNS, rows)
        return
    if not rows:
        out.print(f"{title}\nNothing billed or recorded in this window.")
        return
    output.render(out, fmt, title, COLUMNS, rows)
    _why(out, [line for line in lines if line.explanations and line.model != ALL_MODELS])


def show(out: Any, title: str, lines: list[Line]) -> None:
    """A comparison as a table with its explanations in words (the demo prints one too)."""
    output.show(out, output.table(title, COLUMNS, [_row(line) for line in lines]))
    _why(out, [line for line in lines if line.explanations and line.model != ALL_MODELS])


def _why(out: Any, lines: list[Line]) -> None:
    """Below the table: every explanation in words, model by model."""
    if not lines:
        return
    out.print("\nWhy they differ:", style="bold")
    for line in lines:
        for e in line.explanations:
            style = _STYLE.get(line.status, "")
            out.print(f"  {line.provider} {line.day} {line.model}: {e.cause} {output.usd(e.amount)} - {e.text}",
                      style=style, highlight=False, soft_wrap=True)
