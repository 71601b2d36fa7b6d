"""``otel-llmcost advise``: where the money could be saved, from the ledger, in USD per month.

Reads a window of the ledger (``--from sqlite:PATH`` or ``--from postgresql://...``), prints the opportunities
ranked by estimated USD per month as a table, JSON or Markdown, each with its evidence, arithmetic and the change to
make. ``--serve PORT`` keeps running and exposes the estimates by opportunity kind as the gauge
``llmcost.savings.potential`` on ``/metrics`` (Prometheus text), recomputed at each scrape, for the dashboard row
"where the money could be saved".
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import click

from .. import names
from .params import DURATION, LEDGER_HELP, LEDGER_METAVAR, MOMENT, describe, ledger_url

_FORMATS = ("table", "json", "markdown")
NOTE = (f"Repeats (prompt cache, response cache, conversations) are found across processes only when every "
        f"process sets the same {names.ENV_FINGERPRINT_KEY}; estimates are what-ifs priced from the recorded usage.")


def _shown(url: str) -> str:
    """The ledger as the title names it: a PostgreSQL URL without its password."""
    if url.startswith("sqlite:"):
        return url
    from ..ledgers.postgres import safe_url

    return safe_url(url)


def _ladders(values: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], ...]] | None:
    if not values:
        return None
    from ..advisor import data

    ladders: dict[str, tuple[tuple[str, ...], ...]] = {k: tuple(v) for k, v in data.LADDERS.items()}
    for value in values:
        provider, sep, rungs = value.partition(":")
        models = tuple(m.strip() for m in rungs.split(">") if m.strip())
        if not sep or not provider.strip() or len(models) < 2:
            raise click.BadParameter(
                f"{value!r} is not PROVIDER:MODEL>CHEAPER[>CHEAPER...], e.g. openai:gpt-4.1>gpt-4.1-mini",
                param_hint="--ladder",
            )
        ladders[provider.strip()] = (models,)
    return ladders


def _advice(path: str, since: float, end: float, offline: frozenset[str], ladders: Any) -> Any:
    from .. import ledger
    from ..advisor import advise as run

    try:
        return run(path, since, end, offline_features=offline, ladders=ladders)
    except ledger.LedgerError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None


def _usd(value: Decimal) -> str:
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.6f}"


def _markdown(advice: Any, title: str) -> str:
    lines = [f"# {title}", "", f"{advice.calls} priced calls, {_usd(advice.spend)} spent in the window "
             f"({advice.window_days} d).", ""]
    if not advice.findings:
        return "\n".join([*lines, "No opportunity found.", "", NOTE])
    lines += ["| # | opportunity | where | USD / month | evidence |", "|---|---|---|---:|---|"]
    for n, f in enumerate(advice.findings, 1):
        where = f"{f.provider} {f.model}" + (f" ({f.feature})" if f.feature else "")
        evidence = ", ".join(f"{k}={v}" for k, v in f.evidence.items() if not isinstance(v, dict))
        lines.append(f"| {n} | {f.title} | {where} | {_usd(f.monthly_usd)} | {evidence} |")
    for n, f in enumerate(advice.findings, 1):
        lines += ["", f"## {n}. {f.title}: {_usd(f.monthly_usd)} per month", "", *(f"- {a}" for a in f.arithmetic),
                  f"- **Change**: {f.change}"]
    return "\n".join([*lines, "", NOTE])


def _table(advice: Any, title: str) -> None:
    from rich.table import Table

    from . import output

    out = output.console()
    out.print(title)
    out.print(f"{advice.calls} priced calls, {_usd(advice.spend)} spent in the window ({advice.window_days} d).")
    if not advice.findings:
        out.print("No opportunity found.")
        return
    grid = Table(show_lines=True)
    for header in ("#", "opportunity", "where", "USD / month", "arithmetic and change"):
        grid.add_column(header, justify="right" if header in ("#", "USD / month") else "left")
    for n, f in enumerate(advice.findings, 1):
        where = f"{f.provider} {f.model}" + (f"\nfeature {f.feature}" if f.feature else "")
        grid.add_row(str(n), f.title, where, _usd(f.monthly_usd), "\n".join([*f.arithmetic, "→ " + f.change]))
    out.print(grid)
    out.print(NOTE, style="dim")


def exposition(totals: dict[str, Decimal]) -> str:
    """The gauge in Prometheus text format, one series per opportunity kind."""
    metric = names.prometheus_name(names.METRIC_SAVINGS_POTENTIAL, names.UNIT_USD, "gauge")
    label = names.LLMCOST_OPPORTUNITY.replace(".", "_")
    lines = [f"# HELP {metric} Estimated USD per month that otel-llmcost advise finds could be saved.",
             f"# TYPE {metric} gauge"]
    lines += [f'{metric}{{{label}="{kind}"}} {float(value)!r}' for kind, value in sorted(totals.items())]
    return "\n".join(lines) + "\n"


def metrics_server(port: int, host: str, compute: Any) -> Any:
    """An HTTP server (not yet serving) whose /metrics is the gauge, re-read from the ledger at each scrape."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = exposition(compute().totals()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)


def serve(port: int, host: str, compute: Any) -> None:
    """Serve /metrics until interrupted."""
    try:
        server = metrics_server(port, host, compute)
    except OSError as exc:
        message = f"cannot serve on {host}:{port}: {exc.strerror or exc}."
        raise click.BadParameter(message, param_hint="--serve") from None
    click.echo(f"serving {names.METRIC_SAVINGS_POTENTIAL} on http://{host}:{server.server_port}/metrics", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.command()
@click.option("--from", "source", metavar=LEDGER_METAVAR, required=True, help=LEDGER_HELP)
@click.option("--since", type=DURATION, default="14d", show_default=True, metavar="DURATION",
              help="Window length: 14d, 30d, 12h, …")
@click.option("--until", "until", type=MOMENT, metavar="TIME",
              help="Window end (unix seconds or ISO 8601); default now.")
@click.option("--offline-feature", "offline", multiple=True, metavar="FEATURE",
              help="A feature whose calls need no interactive answer (batch candidates); repeatable.")
@click.option("--ladder", "ladder", multiple=True, metavar="PROVIDER:MODEL>CHEAPER",
              help="Replace a provider's model ladder, e.g. openai:gpt-4.1>gpt-4.1-mini; repeatable.")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True)
@click.option("--serve", "port", type=click.IntRange(0, 65535), metavar="PORT",
              help=f"Keep running; expose {names.METRIC_SAVINGS_POTENTIAL} on http://HOST:PORT/metrics.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address --serve listens on.")
def advise(source: str, since: float, until: float | None, offline: tuple[str, ...], ladder: tuple[str, ...],
           fmt: str, port: int | None, host: str) -> None:
    """Where the money could be saved: opportunities in the ledger, ranked by estimated USD per month.

    \b
    otel-llmcost advise --from sqlite:llmcost.db --since 14d
    otel-llmcost advise --from sqlite:llmcost.db --format markdown --offline-feature nightly-report
    """
    url = ledger_url(source)
    offline_features = frozenset(offline)
    ladders = _ladders(ladder)
    if port is not None:
        serve(port, host, lambda: _advice(url, since, time.time() if until is None else until, offline_features,
                                          ladders))
        return
    end = time.time() if until is None else until
    advice = _advice(url, since, end, offline_features, ladders)
    title = f"Where the money could be saved, last {describe(since)}, from {_shown(url)}"
    if fmt == "json":
        click.echo(json.dumps({**advice.as_dict(), "note": NOTE}, indent=2))
    elif fmt == "markdown":
        click.echo(_markdown(advice, title))
    else:
        _table(advice, title)
