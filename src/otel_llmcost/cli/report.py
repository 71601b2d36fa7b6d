"""``otel-llmcost report``: spend tables by model, provider, feature, team or user, from the ledger or Prometheus.

``--from sqlite:PATH`` or ``--from postgresql://...`` reads a ledger (exact decimal sums, call counts, the same
for both: ``ledgers.reader``); ``--prometheus URL`` asks a Prometheus server for ``increase()`` of the cost,
request and token counters, the numbers the dashboards show.
Calls refused by a budget are counted apart from failed ones (they cost nothing); a group whose calls are all
unpriced shows "unpriced" (null in CSV/JSON), never $0. CSV and JSON name the group column after ``--by``
and give the share as a percentage to 4 decimal places.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import click

from .. import ledger
from ..errors import ConfigError
from ..reporting import DIMENSIONS, NONE, SpendRow, prometheus_api, prometheus_label, share
from . import output
from .params import DURATION, MOMENT, describe, http_url, ledger_url

ATTRIBUTION = ("feature", "team", "user")
# After the group-by column (named after the dimension: "model", "feature", ...). Columns no source row
# knows (None everywhere) are left out; cost and share are always shown.
COLUMNS = (
    output.Column("calls", "calls", "int"),
    output.Column("errors", "errors", "int"),
    output.Column("refused", "refused", "int"),
    output.Column("unpriced", "unpriced", "int"),
    output.Column("input_tokens", "input tokens", "int"),
    output.Column("output_tokens", "output tokens", "int"),
    output.Column("cache_read_tokens", "cache read", "int"),
    output.Column("cache_write_tokens", "cache write", "int"),
    output.Column("cost", "cost (USD)", "usd", missing="unpriced"),
    output.Column("share_pct", "share", "pct"),
)
ALWAYS = ("cost", "share_pct")


def _ledger_url(value: str | None) -> str | None:
    if value is None:
        return None
    return ledger_url(value)


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _rows(rows: list[SpendRow], by: str, total: Decimal) -> list[dict[str, Any]]:
    """Table rows: the group under the dimension's name, a cost only when known, the share of the total."""
    return [
        {by: row.key, **{c.key: getattr(row, c.key, None) for c in COLUMNS}, "cost": row.known_cost,
         "share_pct": share(row, total)}
        for row in rows
    ]


def _sum(rows: list[SpendRow], field: str) -> int | None:
    values = [getattr(r, field) for r in rows]
    return None if any(v is None for v in values) else sum(values)


@click.command()
@click.option("--since", type=DURATION, default="1d", show_default=True, metavar="DURATION",
              help="Window length: 1d, 7d, 30d, 12h, …")
@click.option("--until", "until", type=MOMENT, metavar="TIME",
              help="Window end: unix seconds or ISO 8601 (UTC unless a zone is given); default now.")
@click.option("--by", "by", type=click.Choice([*DIMENSIONS, "conversation"]), default="model", show_default=True,
              help="conversation: per gen_ai.conversation.id, with input growth per turn (SQLite ledger only).")
@click.option("--from", "source", metavar="LEDGER",
              help="The ledger: sqlite:PATH (the SQLite budget store's file) or postgresql://USER@HOST:PORT/DB.")
@click.option("--prometheus", metavar="URL", help="A Prometheus server's base URL, e.g. http://localhost:9090.")
@click.option("--format", "fmt", type=click.Choice(output.FORMATS), default="table", show_default=True)
def report(since: float, until: float | None, by: str, source: str | None, prometheus: str | None, fmt: str) -> None:
    """Spend by model, provider, feature, team or user over a window.

    \b
    otel-llmcost report --since 7d --by feature --from sqlite:llmcost.db
    otel-llmcost report --since 1d --by team --from postgresql://llmcost@db/llmcost
    otel-llmcost report --since 30d --by model --prometheus http://localhost:9090 --format csv
    """
    url = _ledger_url(source)
    if (url is None) == (prometheus is None):
        raise click.UsageError(
            "say where the spend is recorded: --from sqlite:PATH, --from postgresql://... or --prometheus URL (one)."
        )
    if prometheus is not None:
        http_url(prometheus, "--prometheus", "http://localhost:9090")
    end = time.time() if until is None else until
    if by == "conversation":
        path = url.partition(":")[2] if url is not None and url.lower().startswith("sqlite:") else None
        if path is None:
            raise click.UsageError(
                "--by conversation reads a SQLite ledger (--from sqlite:PATH): a conversation id is never a metric "
                "label."
            )
        _conversations(path, since, end, fmt)
        return
    if url is not None:
        from ..ledgers.reader import open_reader

        try:
            with open_reader(url) as reader:
                origin = reader.url  # a PostgreSQL URL without its password
                rows = reader.spend(by, end - since, end)
        except ledger.LedgerError as exc:
            raise click.BadParameter(str(exc), param_hint="--from") from None
        except ConfigError as exc:  # psycopg not installed
            raise click.ClickException(str(exc)) from None
    else:
        assert prometheus is not None
        origin = prometheus
        try:
            rows = prometheus_api.spend(prometheus, by, since, until)
        except prometheus_api.PrometheusError as exc:
            raise click.ClickException(str(exc)) from None
    total_cost = sum((r.cost for r in rows), Decimal(0))
    table_rows = _rows(rows, by, total_cost)
    columns = [output.Column(by, by)] + [
        c for c in COLUMNS if c.key in ALWAYS or any(r.get(c.key) is not None for r in table_rows)
    ]
    total: dict[str, Any] = {by: "total", "cost": total_cost}
    for column in columns[1:]:
        if column.kind == "int":
            total[column.key] = _sum(rows, column.key)
    title = f"Spend by {by}, last {describe(since)} ({_when(end - since)} to {_when(end)}), from {origin}"
    meta = {"by": by, "since": describe(since), "start": end - since, "end": end, "source": origin}
    out = output.console()
    if not rows and fmt == "table":
        out.print(f"{title}\nNo calls recorded in this window.")
        return
    output.render(out, fmt, title, columns, table_rows, total, meta)
    if fmt == "table" and prometheus is not None and by in ATTRIBUTION and all(r.key == NONE for r in rows):
        label = prometheus_label(DIMENSIONS[by])
        out.print(f"No series carries the {label} label: attribution reaches metrics only for the keys allowed on "
                  "them (see the README); the ledger (--from sqlite:PATH or postgresql://...) has every call's.",
                  style="dim")


CONVERSATION_COLUMNS = (
    output.Column("conversation", "conversation"),
    output.Column("calls", "turns", "int"),
    output.Column("unpriced", "unpriced", "int"),
    output.Column("input_tokens", "input tokens", "int"),
    output.Column("output_tokens", "output tokens", "int"),
    output.Column("first_input_tokens", "first input", "int"),
    output.Column("last_input_tokens", "last input", "int"),
    output.Column("input_growth_per_turn", "input growth/turn", "int"),
    output.Column("cost_per_turn", "cost/turn (USD)", "usd", missing="unpriced"),
    output.Column("cost", "cost (USD)", "usd", missing="unpriced"),
)


def _conversations(path: str, since: float, end: float, fmt: str) -> None:
    """Cost, turns and input growth per conversation, from the ledger."""
    try:
        rows = ledger.conversations(path, end - since, end)
    except ledger.LedgerError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None
    origin = f"sqlite:{path}"
    title = f"Spend by conversation, last {describe(since)} ({_when(end - since)} to {_when(end)}), from {origin}"
    out = output.console()
    if not rows and fmt == "table":
        out.print(f"{title}\nNo calls recorded in this window.")
        return
    total = {
        "conversation": "total",
        "calls": sum(r["calls"] for r in rows),
        "cost": sum((r["cost"] for r in rows if r["cost"] is not None), Decimal(0)),
    }
    meta = {"by": "conversation", "since": describe(since), "start": end - since, "end": end, "source": origin}
    output.render(out, fmt, title, CONVERSATION_COLUMNS, rows, total, meta)
