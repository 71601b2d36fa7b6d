"""Terminal output shared by the commands: one console, money and token formats, tables as table, CSV or JSON.

Colours only when stdout is a terminal (rich decides, and honours NO_COLOR); otherwise plain aligned text
wide enough not to wrap. Money is formatted from Decimal (or the float a span carries) and never rounded
before it is summed; CSV and JSON carry exact decimal text, tables a fixed number of places.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import click
from rich import box
from rich.console import Console
from rich.table import Table

Kind = Literal["text", "int", "usd", "pct", "price"]
FORMATS = ("table", "csv", "json")
_PLAIN_WIDTH = 160


def console(stderr: bool = False) -> Console:
    """A console for one command run: colours on a terminal only, a wide plain layout otherwise."""
    out = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not out.is_terminal:
        out.width = int(os.environ.get("COLUMNS", "0") or 0) or _PLAIN_WIDTH
    return out


def decimal(value: Decimal | float | int | str | None) -> Decimal | None:
    """A money value as Decimal; floats through their shortest repr (what a span or JSON shows)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def usd(value: Decimal | float | int | None, places: int = 4) -> str:
    """``$1,234.5678``; ``—`` for an unknown amount (never a made-up $0)."""
    amount = decimal(value)
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.{places}f}"


def per_million(value: Decimal) -> str:
    """A price per million tokens with at least two decimals and no trailing noise: $2.50, $0.075."""
    text = format(value.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"${int(whole):,}.{fraction.ljust(2, '0')}"


def tokens(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def percent(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{float(value):.1f}%"


@dataclass(frozen=True)
class Column:
    """One column: the key of a row's value, its heading, and how its values are shown."""

    key: str
    title: str
    kind: Kind = "text"
    places: int = 4


def _cell(value: Any, column: Column) -> str:
    if column.kind == "usd":
        return usd(value, column.places)
    if column.kind == "int":
        return tokens(value)
    if column.kind == "pct":
        return percent(value)
    if column.kind == "price":
        return "—" if value is None else per_million(value)
    return "—" if value is None else str(value)


def _raw(value: Any) -> Any:
    """A value for CSV/JSON: exact decimal text for money, numbers as numbers, None as null."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return value


def table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    total: Mapping[str, Any] | None = None,
) -> Table:
    """A rich table: text left, numbers right, an optional bold total line under a rule."""
    grid = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE,
        show_edge=False,
        pad_edge=False,
        show_footer=total is not None,
        footer_style="bold",
    )
    for column in columns:
        footer = _cell(total.get(column.key), column) if total is not None and column.key in total else ""
        grid.add_column(
            column.title, footer=footer, justify="left" if column.kind == "text" else "right", no_wrap=True
        )
    for row in rows:
        grid.add_row(*(_cell(row.get(c.key), c) for c in columns))
    return grid


def render(
    out: Console,
    fmt: str,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    total: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Print rows as an aligned table, CSV (header + rows) or one JSON document (meta, rows, total)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([c.key for c in columns])
        for row in rows:
            writer.writerow(["" if row.get(c.key) is None else _raw(row.get(c.key)) for c in columns])
        click.echo(buffer.getvalue(), nl=False)
        return
    if fmt == "json":
        document: dict[str, Any] = dict(meta or {})
        document["rows"] = [{c.key: _raw(row.get(c.key)) for c in columns} for row in rows]
        if total is not None:
            document["total"] = {k: _raw(v) for k, v in total.items()}
        click.echo(json.dumps(document, indent=2))
        return
    out.print(table(title, columns, rows, total))
