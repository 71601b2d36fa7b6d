"""Spend reports: one row per model, feature, team, user or provider, from spans, the SQLite ledger or Prometheus.

Every source answers with the same ``SpendRow`` so the command line prints them alike. Money stays Decimal
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

NONE: Final = "(none)"
"""The group of calls that carry no value for the dimension (no feature set, say)."""

# --by value -> the span/metric attribute it groups on (Prometheus label: dots become underscores).
DIMENSIONS: Mapping[str, str] = MappingProxyType(
    {
        "model": names.GEN_AI_REQUEST_MODEL,
        "provider": names.GEN_AI_PROVIDER_NAME,
        "feature": names.LLMCOST_FEATURE,
        "team": names.LLMCOST_TEAM,
        "user": names.USER_ID,
    }
)


def prometheus_label(attribute: str) -> str:
    """The label Prometheus stores an OpenTelemetry attribute under."""
    return attribute.replace(".", "_")


@dataclass
class SpendRow:
    """Spend of one group. Fields a source cannot know stay None (Prometheus does not count calls)."""

    key: str
    cost: Decimal = Decimal(0)
    calls: int | None = None
    errors: int | None = None
    unpriced: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None


def share(row: SpendRow, total: Decimal) -> Decimal | None:
    """The row's percentage of the total spend."""
    return row.cost * 100 / total if total else None
