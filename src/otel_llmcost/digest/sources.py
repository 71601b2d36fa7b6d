"""Where a digest's numbers come from: the ledger (every call, exact) or Prometheus (the dashboards' counters).

Both answer the same three questions, so ``build`` does not care which: spend per value of a dimension (or in
total) over a window, the most expensive calls (the ledger only: Prometheus keeps no single call), and what a
budget had spent at a moment (the ledger sums the budget's scope over its period; Prometheus reads the
``llmcost.budget.spend`` gauge the instrumented processes export).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from .. import ledger, names
from ..reporting import SpendRow, prometheus_api

if TYPE_CHECKING:
    from ..budgets.definitions import Budget
    from ..ledgers.reader import LedgerReader

_T = TypeVar("_T")


class SourceError(Exception):
    """The source cannot be read (the message says which and why)."""


def _ledger_url(source: str) -> str:
    """``sqlite:PATH`` and ``postgresql://...`` as given; a bare path is a SQLite file."""
    if source.startswith(("sqlite:", "postgresql://", "postgres://")):
        return source
    return f"sqlite:{source}"


class LedgerSource:
    """The ledger, SQLite or PostgreSQL (``open_reader``): exact decimal sums, every call with its trace id."""

    def __init__(self, source: str) -> None:
        self.url = _ledger_url(source)
        self.name = self.url
        if not self.url.startswith("sqlite:"):
            from ..ledgers import postgres

            self.name = postgres.safe_url(self.url)  # shown in the digest: never the password

    def _read(self, question: Callable[[LedgerReader], _T]) -> _T:
        from ..ledgers.reader import open_reader

        try:
            with open_reader(self.url) as reader:
                return question(reader)
        except ledger.LedgerError as exc:
            raise SourceError(str(exc)) from None

    def spend(self, dimension: str | None, start: float, end: float) -> list[SpendRow]:
        return self._read(lambda reader: reader.spend(dimension, start, end))

    def costliest(self, start: float, end: float, limit: int) -> list[ledger.LedgerCall] | None:
        return self._read(lambda reader: reader.costliest(start, end, limit))

    def budget_spend(self, budget: Budget, start: float, end: float) -> Decimal | None:
        scope = None
        if budget.scope_key is not None and budget.scope_value is not None:
            scope = (ledger.SCOPE_COLUMNS[budget.scope_key], budget.scope_value)
        rows = self._read(lambda reader: reader.spend(None, start, end, scope))
        return rows[0].cost


BUDGET_SPEND_SERIES = names.prometheus_name(names.METRIC_BUDGET_SPEND, names.UNIT_USD, "gauge")


class PrometheusSource:
    """A Prometheus server: ``increase()`` of the counters, as the dashboards show them (floats, through their
    shortest text). No single call is kept there, so the most expensive requests are not available."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = url

    def spend(self, dimension: str | None, start: float, end: float) -> list[SpendRow]:
        try:
            rows = prometheus_api.spend(self.url, dimension or "model", end - start, at=end)
        except prometheus_api.PrometheusError as exc:
            raise SourceError(str(exc)) from None
        if dimension is not None:
            return rows
        total = SpendRow(key="total", cost=sum((r.cost for r in rows), Decimal(0)))
        for field in ("calls", "errors", "refused", "unpriced", "input_tokens", "output_tokens",
                      "cache_read_tokens", "cache_write_tokens"):
            setattr(total, field, sum(getattr(r, field) or 0 for r in rows))
        return [total]

    def costliest(self, start: float, end: float, limit: int) -> list[ledger.LedgerCall] | None:
        return None

    def budget_spend(self, budget: Budget, start: float, end: float) -> Decimal | None:
        """The budget's spend gauge just before ``end`` (the highest any process reported: processes that
        share a store report the same figure); None when no process exported it."""
        label = names.LLMCOST_BUDGET_NAME.replace(".", "_")
        escaped = budget.name.replace("\\", "\\\\").replace('"', '\\"')
        promql = f'max({BUDGET_SPEND_SERIES}{{{label}="{escaped}"}})'
        try:
            samples = prometheus_api.query(self.url, promql, at=end - 1)
        except prometheus_api.PrometheusError as exc:
            raise SourceError(str(exc)) from None
        if not samples:
            return None
        return Decimal(repr(float(samples[0]["value"][1])))


Source = LedgerSource | PrometheusSource
