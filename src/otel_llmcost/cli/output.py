"""Terminal output shared by the commands: one console, money and token formats, tables as table, CSV or JSON.

Colours only when stdout is a terminal (rich decides, and honours NO_COLOR); otherwise plain aligned text
wide enough not to wrap. Money is formatted from Decimal (or the float a span carries) and never rounded
before it is summed; CSV and JSON carry exact decimal text, tables ``PLACES`` decimals. An unknown value is
null in CSV/JSON and its column's ``missing`` text in a table ("unpriced" for a cost nobody priced).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import click
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

Kind = Literal["text", "int", "usd", "pct", "price"]
FORMATS = ("table", "csv", "json")
PLACES = 6  # every USD amount a command prints: a call costs fractions of a cent, so 4 places would show $0.0000
_PLAIN_WIDTH = 1_000  # piped or redirected output: never wrap a line, whatever $COLUMNS says


def console(stderr: bool = False) -> Console:
    """A console for one command run: colours on a terminal only, and unwrapped lines when piped."""
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out.width = _PLAIN_WIDTH
    return out


def decimal(value: Decimal | float | int | str | None) -> Decimal | None:
    """A money value as Decimal; floats through their shortest repr (what a span or JSON shows)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def usd(value: Decimal | float | int | None, places: int = PLACES) -> str:
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


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 call``, ``2 calls``, ``1,000 tokens``: a count and its noun, agreeing (``many`` for irregular plurals)."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"


def tokens(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def percent(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{float(value):.1f}%"


@dataclass(frozen=True)
class Column:
    """One column: the key of a row's value, its heading, and how its values are shown.

    ``missing`` is the table text of a value that is not known (None): ``—`` unless the column says why,
    such as ``unpriced`` for the cost of calls whose model has no price. CSV and JSON carry null.
    """

    key: str
    title: str
    kind: Kind = "text"
    places: int = PLACES
    missing: str = "—"


def _cell(value: Any, column: Column) -> str:
    if value is None:
        return column.missing
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


class Grid(Table):
    """A table that knows how many characters its text columns may give up on a narrow terminal."""

    shrinkable = 0


_TEXT_MIN = 10  # a text column keeps at least this many characters


def table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    total: Mapping[str, Any] | None = None,
) -> Grid:
    """A rich table: text left, numbers right, an optional bold total line under a rule."""
    grid = Grid(
        title=title,
        title_justify="left",
        box=box.SIMPLE,
        show_edge=False,
        pad_edge=False,
        show_footer=total is not None,
        footer_style="bold",
    )
    cells = [[_cell(row.get(c.key), c) for c in columns] for row in rows]
    for index, column in enumerate(columns):
        footer = _cell(total.get(column.key), column) if total is not None and column.key in total else ""
        widest = max([len(column.title), len(footer), *(len(row[index]) for row in cells)])
        if column.kind == "text":  # text may shrink on a narrow terminal; numbers never do
            grid.add_column(
                column.title, footer=footer, overflow="ellipsis", no_wrap=True, min_width=min(widest, _TEXT_MIN)
            )
            grid.shrinkable += max(0, widest - _TEXT_MIN)
            continue
        grid.add_column(column.title, footer=footer, justify="right", no_wrap=True, min_width=widest)
    for row_cells in cells:
        grid.add_row(*row_cells)
    return grid


def show(out: Console, grid: Grid) -> None:
    """Print a table; on a terminal too narrow for its numbers, wider than the terminal rather than cut."""
    natural = Measurement.get(out, out.options.update_width(_PLAIN_WIDTH), grid).maximum
    needed = natural - grid.shrinkable
    if natural <= out.width or needed <= out.width:
        out.print(grid)
    else:
        out.print(grid, width=needed, crop=False)


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
    out.print(title, style="bold", highlight=False, soft_wrap=True)
    show(out, table(None, columns, rows, total))
