"""Spend reports: one row per model, feature, team, user or provider, from spans, the SQLite ledger or Prometheus.

Every source answers with the same ``SpendRow`` so the command line prints them alike (the SQLite ledger's
reader lives with its schema and writer in ``otel_llmcost.ledger``). Money stays Decimal
(exact sums from the ledger's decimal text; span and Prometheus floats through their shortest repr).
Knows attribute, column and label names; nothing about SDKs or the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from .. import names
from ..errors import BudgetError, BudgetExceededError, BudgetUnavailableError
from ..names import prometheus_label as prometheus_label  # the one attribute -> label function, re-exported

NONE: Final = "(none)"
"""The group of calls that carry no value for the dimension (no feature set, say)."""

# --by value -> the span/metric attribute it groups on (Prometheus label: names.prometheus_label).
DIMENSIONS: Mapping[str, str] = MappingProxyType(
    {
        "model": names.GEN_AI_REQUEST_MODEL,
        "provider": names.GEN_AI_PROVIDER_NAME,
        "feature": names.LLMCOST_FEATURE,
        "team": names.LLMCOST_TEAM,
        "user": names.USER_ID,
    }
)


# error.type of a call a budget refused before sending it: counted as refused (nothing billed), not as failed.
REFUSED_ERRORS: tuple[str, ...] = tuple(
    sorted(cls.__qualname__ for cls in (BudgetError, BudgetExceededError, BudgetUnavailableError))
)


@dataclass
class SpendRow:
    """Spend of one group. Fields a source cannot know stay None.

    ``errors`` are calls that were sent and failed; ``refused`` calls were stopped by a budget before
    being sent (no spend). ``priced`` counts calls with a known cost: a row whose calls are all unpriced
    has no known cost (``known_cost`` is None), which is not the same as $0.
    """

    key: str
    cost: Decimal = Decimal(0)
    calls: int | None = None
    errors: int | None = None
    refused: int | None = None
    unpriced: int | None = None
    priced: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None

    @property
    def known_cost(self) -> Decimal | None:
        """The cost, or None when the row's only usage is unpriced (without call counts: unpriced and $0)."""
        if not self.unpriced:
            return self.cost
        if self.priced is not None:
            return self.cost if self.priced else None
        return self.cost if self.cost else None


SHARE_PLACES = Decimal("0.0001")


def share(row: SpendRow, total: Decimal) -> Decimal | None:
    """The row's percentage of the total spend, to 4 decimal places; None when either is unknown or zero."""
    cost = row.known_cost
    if not total or cost is None:
        return None
    return (cost * 100 / total).quantize(SHARE_PLACES)
