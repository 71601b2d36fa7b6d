"""Reading a ledger, SQLite or PostgreSQL, through one interface that answers the same for both.

``open_reader("sqlite:PATH" | "postgresql://...")`` returns a ``LedgerReader``; ``spend`` gives the report's
``SpendRow`` per group, or in total over a budget's scope (exact decimal sums: SQLite's ``decimal_sum`` aggregate
over decimal text, PostgreSQL's ``SUM`` over ``NUMERIC``), ``daily`` the sums per UTC day, provider and model
(reconcile), ``costliest`` the digest's most expensive calls, ``calls`` the rows themselves (cost as ``Decimal``;
the advisor's columns included). Every command that reads a ledger (report, digest, reconcile, advise) reads it
here, so the two kinds answer alike. The SQLite side is ``ledger``'s reader; this module adds the PostgreSQL one
and the choice between them.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from .. import ledger
from ..ledger import LedgerError

if TYPE_CHECKING:
    from ..reporting import SpendRow

CALL_COLUMNS: Final = ("row_id", *ledger.COLUMNS)
"""The keys of a row from ``calls``: ``row_id`` (None in the SQLite ledger) and the ledger's columns."""


class LedgerReader(ABC):
    """A ledger open for reading. Use as a context manager, or call ``close``."""

    url: str
    """Where it reads, as shown to people (a PostgreSQL URL without its password)."""

    @abstractmethod
    def spend(
        self, dimension: str | None, start: float, end: float, scope: tuple[str, str] | None = None
    ) -> list[SpendRow]:
        """Spend per value of ``dimension`` (model, provider, feature, team, user) for calls that ended in
        [start, end) (unix seconds), costliest first then by key: the rows ``report`` prints. ``dimension`` None
        gives one row (key ``total``), also for an empty window; ``scope`` (a ``ledger.SCOPE_COLUMNS`` column,
        value) keeps only the calls with that value (a budget's scope)."""

    @abstractmethod
    def daily(self, start: float, end: float) -> list[dict[str, Any]]:
        """Spend per UTC day, provider and model of the calls that ended in [start, end), as ``ledger.daily``
        gives it (reconciliation with a provider's bill): ordered by day, provider, model."""

    def costliest(self, start: float, end: float, limit: int) -> list[ledger.LedgerCall]:
        """The ``limit`` most expensive priced calls of [start, end), costliest first (ties: earliest)."""
        return [
            ledger.LedgerCall(r["ts"], r["provider"], r["model"], r["cost_usd"], r["feature"], r["team"],
                              r["user_id"], r["trace_id"], r["request_id"], r["input_tokens"], r["output_tokens"])
            for r in self.calls(start, end, costliest=limit)
        ]

    @abstractmethod
    def calls(self, start: float, end: float, *, costliest: int | None = None) -> list[dict[str, Any]]:
        """The calls that ended in [start, end): dicts keyed by ``CALL_COLUMNS``, ``cost_usd`` a ``Decimal`` or
        None (unpriced). In time order; with ``costliest=N`` only the N priced calls that cost most, costliest
        first (ties: earlier first)."""

    def close(self) -> None:  # noqa: B027  # a reader with nothing to close need not say so
        """Release the connection."""

    def __enter__(self) -> LedgerReader:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()


def open_reader(url: str) -> LedgerReader:
    """The reader of ``sqlite:PATH`` or ``postgresql://...`` (``postgres://`` too); LedgerError when the URL is
    neither, or the ledger cannot be opened (missing file, no table, database not answering)."""
    text = url.strip()
    scheme = text.partition(":")[0].lower()
    if scheme == "sqlite" and text[len("sqlite:"):]:
        return SQLiteReader(text[len("sqlite:"):])
    if scheme in ("postgresql", "postgres") and text[len(scheme):].startswith("://"):
        return PostgresReader(text)
    raise LedgerError(f"{url!r} is not a ledger: sqlite:PATH or postgresql://USER@HOST:PORT/DB")


def _check_scope(scope: tuple[str, str] | None) -> None:
    if scope is not None and scope[0] not in ledger.SCOPE_COLUMNS.values():
        raise ValueError(f"{scope[0]!r} is no scope column of the ledger")


def _daily_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Day, provider, model in code-point order (NULL model first), whatever the database's collation."""
    return sorted(rows, key=lambda r: (r["day"], r["provider"], r["model"] is not None, r["model"] or ""))


def _sorted_costliest(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    priced = [row for row in rows if row["cost_usd"] is not None]
    return heapq.nsmallest(limit, priced, key=lambda r: (-r["cost_usd"], r["ts"]))


class SQLiteReader(LedgerReader):
    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"sqlite:{path}"
        ledger.connect(path).close()  # fails now (LedgerError) when it is not a ledger

    def spend(
        self, dimension: str | None, start: float, end: float, scope: tuple[str, str] | None = None
    ) -> list[SpendRow]:
        return ledger.spend(self.path, dimension, start, end, scope)

    def daily(self, start: float, end: float) -> list[dict[str, Any]]:
        return _daily_order(ledger.daily(self.path, start, end))

    def costliest(self, start: float, end: float, limit: int) -> list[ledger.LedgerCall]:
        return ledger.costliest(self.path, start, end, limit)

    def calls(self, start: float, end: float, *, costliest: int | None = None) -> list[dict[str, Any]]:
        import sqlite3

        conn = ledger.connect(self.path)
        try:
            # A file written before a column was added (ledger.ADDED_COLUMNS) is read-only here: NULL for it.
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({ledger.TABLE})")}
            columns = ", ".join(c if c in present else f"NULL AS {c}" for c in ledger.COLUMNS)
            cursor = conn.execute(
                f"SELECT NULL, {columns} FROM {ledger.TABLE} WHERE ts >= ? AND ts < ? ORDER BY ts, id",
                (start, end),
            )
            rows = [_call(values) for values in cursor]
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot read {self.path!r}: {exc}") from None
        finally:
            conn.close()
        return rows if costliest is None else _sorted_costliest(rows, costliest)


def _call(values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(CALL_COLUMNS, values, strict=True))
    cost = row["cost_usd"]
    row["cost_usd"] = None if cost is None else Decimal(str(cost))
    for column in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
                   "batch", "max_tokens", "cache_write_1h_tokens"):  # fmt: skip
        if row[column] is not None:
            row[column] = int(row[column])
    row["ts"] = float(row["ts"])
    return row


class PostgresReader(LedgerReader):
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        from . import postgres

        self._url = url
        self.url = postgres.safe_url(url)
        try:
            self._conn = postgres.connect(url, timeout)
        except postgres.PostgresUnavailable as exc:
            raise LedgerError(f"cannot connect to {self.url}: {exc}") from None
        found = self._conn.execute("SELECT to_regclass(%s)", (ledger.TABLE,)).fetchone()
        if not found or found[0] is None:
            self._conn.close()
            raise LedgerError(f"{self.url} has no {ledger.TABLE} table: not an otel-llmcost ledger")

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        from . import postgres

        psycopg = postgres.import_psycopg()
        try:
            with self._conn.transaction():
                return self._conn.execute(sql, params).fetchall()  # type: ignore[no-any-return]
        except psycopg.Error as exc:
            raise LedgerError(f"cannot read {self.url}: {postgres._one_line(exc)}") from None

    def spend(
        self, dimension: str | None, start: float, end: float, scope: tuple[str, str] | None = None
    ) -> list[SpendRow]:
        from ..reporting import NONE, REFUSED_ERRORS, SpendRow

        _check_scope(scope)
        group = "'total'::text" if dimension is None else f"NULLIF({ledger.BY_COLUMN[dimension]}, '')"
        where, params = "ts >= %s AND ts < %s", (start, end)  # type: tuple[str, tuple[Any, ...]]
        if scope is not None:
            where, params = f"{where} AND {scope[0]} = %s", (start, end, scope[1])
        refused = list(REFUSED_ERRORS)
        rows = self._query(
            f"""
            SELECT {group} AS grp, COUNT(*),
                   COUNT(*) FILTER (WHERE error_type IS NOT NULL AND error_type <> ALL(%s)),
                   COUNT(*) FILTER (WHERE error_type = ANY(%s)),
                   COUNT(*) FILTER (WHERE cost_usd IS NULL AND error_type IS NULL AND input_tokens IS NOT NULL),
                   COUNT(cost_usd),
                   SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                   SUM(cost_usd)
            FROM {ledger.TABLE} WHERE {where} GROUP BY grp
            """,
            (refused, refused, *params),
        )
        result = [
            SpendRow(
                key=NONE if key is None else str(key),
                calls=int(calls),
                errors=int(errors),
                refused=int(refused_calls),
                unpriced=int(unpriced),
                priced=int(priced),
                input_tokens=int(input_tokens or 0),
                output_tokens=int(output_tokens or 0),
                cache_read_tokens=int(cache_read or 0),
                cache_write_tokens=int(cache_write or 0),
                cost=Decimal(0) + cost if cost is not None else Decimal(0),
            )
            for (key, calls, errors, refused_calls, unpriced, priced, input_tokens, output_tokens, cache_read,
                 cache_write, cost) in rows
        ]
        if dimension is None and not result:
            result = [SpendRow(key="total", calls=0, errors=0, refused=0, unpriced=0, priced=0, input_tokens=0,
                               output_tokens=0, cache_read_tokens=0, cache_write_tokens=0)]
        return sorted(result, key=lambda r: (-r.cost, r.key))

    def daily(self, start: float, end: float) -> list[dict[str, Any]]:
        from ..reporting import REFUSED_ERRORS

        rows = self._query(
            f"""
            SELECT to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, provider,
                   COALESCE(NULLIF(response_model, ''), model) AS mdl, COUNT(*),
                   COUNT(*) FILTER (WHERE cost_usd IS NULL AND input_tokens IS NOT NULL),
                   SUM(input_tokens), SUM(output_tokens), SUM(cost_usd)
            FROM {ledger.TABLE}
            WHERE ts >= %s AND ts < %s AND (error_type IS NULL OR error_type <> ALL(%s))
            GROUP BY day, provider, mdl
            """,
            (start, end, list(REFUSED_ERRORS)),
        )
        return _daily_order([
            {"day": day, "provider": provider, "model": model, "calls": int(calls), "unpriced": int(unpriced),
             "input_tokens": int(input_tokens or 0), "output_tokens": int(output_tokens or 0),
             "cost": Decimal(0) + cost if cost is not None else Decimal(0)}
            for day, provider, model, calls, unpriced, input_tokens, output_tokens, cost in rows
        ])

    def calls(self, start: float, end: float, *, costliest: int | None = None) -> list[dict[str, Any]]:
        columns = ", ".join(CALL_COLUMNS)
        if costliest is None:
            sql = f"SELECT {columns} FROM {ledger.TABLE} WHERE ts >= %s AND ts < %s ORDER BY ts, id"
            params: tuple[Any, ...] = (start, end)
        else:
            sql = (
                f"SELECT {columns} FROM {ledger.TABLE} WHERE ts >= %s AND ts < %s AND cost_usd IS NOT NULL "
                "ORDER BY cost_usd DESC, ts, id LIMIT %s"
            )
            params = (start, end, costliest)
        return [_call(values) for values in self._query(sql, params)]

    def close(self) -> None:
        self._conn.close()
