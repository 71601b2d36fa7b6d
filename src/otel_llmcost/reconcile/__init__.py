"""Reconciliation: does the spend we computed match what the providers billed, and if not, why not?

Reads the providers' own cost and usage reports through their SDKs' typed admin clients (``billing``), the spend
the instrumentation recorded (``computed``: the ledger or Prometheus), and compares them per provider, UTC day
and model with an explanation for each difference it can explain (``compare``). ``exporter`` serves the same
comparison as gauges for the stack. Reads billing data only: it never changes what the instrumentation records.
The records here are plain values, so the comparison knows no SDK and the readers know no comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

PROVIDERS: Final = ("openai", "anthropic")
"""The providers with a cost report we read, by their ``gen_ai.provider.name``."""

NO_MODEL: Final = "(none)"
"""The model of a bill line no model produced (storage, tool sessions)."""

# Kinds of a bill line.
TOKENS: Final = "tokens"  # priced per token: what the instrumentation prices
OTHER: Final = "other"  # web search, code execution, storage, images ...: not priced by us (yet)
CREDIT: Final = "credit"  # a negative line: a credit or refund the provider applied

_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


def model_key(model: str | None) -> str:
    """The name a bill and a ledger both know a model by: a dated snapshot (``gpt-4o-2024-08-06``,
    ``claude-sonnet-4-5-20250929``) is its family alias, since the providers' reports and the responses
    name snapshots inconsistently."""
    if not model:
        return NO_MODEL
    return _DATED.sub("", model.strip())


class ReconcileError(Exception):
    """A report could not be read (no key, a refused key, an unreachable API, a refused window). One line,
    never a key."""


@dataclass(frozen=True)
class BilledCost:
    """One line of a provider's cost report: a day's cost of one model (or none) and kind, in USD."""

    provider: str
    day: str  # YYYY-MM-DD (UTC)
    model: str
    kind: str  # TOKENS, OTHER or CREDIT
    cost: Decimal
    item: str  # the provider's own name of the line (line item, cost type)


@dataclass(frozen=True)
class BilledUsage:
    """One line of a provider's usage report: a day's tokens and requests of one model."""

    provider: str
    day: str
    model: str
    input_tokens: int  # inclusive of cache reads and writes, as the ledger counts them
    output_tokens: int
    requests: int | None


@dataclass
class Bill:
    """What one provider reported for a window."""

    provider: str
    costs: list[BilledCost]
    usage: list[BilledUsage]
    refreshed_at: float | None = None
    """Unix seconds up to which the provider says its report is complete (Anthropic's ``data_refreshed_at``)."""


@dataclass(frozen=True)
class Computed:
    """What the instrumentation recorded for a provider, day and model."""

    provider: str
    day: str
    model: str
    cost: Decimal
    calls: int
    unpriced: int
    input_tokens: int
    output_tokens: int
