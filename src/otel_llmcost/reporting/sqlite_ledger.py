"""Spend from the embedded SQLite ledger (``ledger.SCHEMA``): exact decimal sums grouped in SQL.

Costs are decimal text in the ledger; a ``decimal_sum`` aggregate adds them as Decimals, so a report of
a million calls is as exact as one call. Calls a budget refused are rows too (their error.type says so,
no cost): counted as refused, apart from the calls that were sent and failed. The file is opened
read-only and never created.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from ..ledger import TABLE
from . import NONE, REFUSED_ERRORS, SpendRow

# --by value -> ledger column.
COLUMNS = {"model": "model", "provider": "provider", "feature": "feature", "team": "team", "user": "user_id"}


class LedgerError(Exception):
    """The path is not a readable otel-llmcost ledger (the message says why)."""


class _DecimalSum:
    """SQLite aggregate: the exact sum of decimal text (NULLs skipped), returned as text."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: object) -> None:
        if value is not None:
            self.total += Decimal(str(value))

    def finalize(self) -> str:
        return format(self.total, "f")


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a ledger read-only; LedgerError when it is missing, not SQLite, or has no calls table."""
    path = Path(path)
    if not path.is_file():
        raise LedgerError(f"no ledger file at {str(path)!r}")
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        conn.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone()
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"{str(path)!r} is not a SQLite database ({exc})") from None
    if found is None:
        conn.close()
        raise LedgerError(f"{str(path)!r} has no {TABLE} table: not an otel-llmcost ledger")
    return conn


def spend(path: str | Path, dimension: str, start: float, end: float) -> list[SpendRow]:
    """Spend per value of ``dimension`` for calls that ended in [start, end) (unix seconds), costliest first."""
    column = COLUMNS[dimension]
    refused = ", ".join("?" for _ in REFUSED_ERRORS)
    conn = connect(path)
    try:
        cursor = conn.execute(
            f"""
            SELECT NULLIF({column}, '') AS grp, COUNT(*),
                   SUM(error_type IS NOT NULL AND error_type NOT IN ({refused})),
                   SUM(error_type IS NOT NULL AND error_type IN ({refused})),
                   SUM(cost_usd IS NULL AND error_type IS NULL AND input_tokens IS NOT NULL),
                   SUM(cost_usd IS NOT NULL),
                   SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                   decimal_sum(cost_usd)
            FROM {TABLE} WHERE ts >= ? AND ts < ? GROUP BY grp
            """,
            (*REFUSED_ERRORS, *REFUSED_ERRORS, start, end),
        )
        rows = [
            SpendRow(
                key=NONE if key is None else str(key),
                calls=calls,
                errors=errors or 0,
                refused=refused_calls or 0,
                unpriced=unpriced or 0,
                priced=priced or 0,
                input_tokens=input_tokens or 0,
                output_tokens=output_tokens or 0,
                cache_read_tokens=cache_read or 0,
                cache_write_tokens=cache_write or 0,
                cost=Decimal(cost),
            )
            for (key, calls, errors, refused_calls, unpriced, priced, input_tokens, output_tokens, cache_read,
                 cache_write, cost) in cursor
        ]
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot read {str(path)!r}: {exc}") from None
    finally:
        conn.close()
    return sorted(rows, key=lambda r: (-r.cost, r.key))
