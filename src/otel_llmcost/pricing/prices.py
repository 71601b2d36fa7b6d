"""A unit price as otel-llmcost keeps it: a Decimal, possibly tiered by the call's input size.

Kept apart from the rates and the plan so that both read it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# A price per million tokens: either flat, or a base with cliffs. Tiers are (start, price) pairs sorted
# by descending start; past a start, EVERY token pays that tier's price (the industry's cliff model).
Tiers = tuple[tuple[int, Decimal], ...]


@dataclass(frozen=True, slots=True)
class Price:
    """One unit price per million tokens, possibly tiered by the call's total input tokens."""

    base: Decimal
    tiers: Tiers = ()

    def at(self, total_input: int) -> Decimal:
        for start, price in self.tiers:
            if total_input > start:
                return price
        return self.base


def price_of(value: Any) -> Price | None:
    """A genai-prices price (Decimal or TieredPrices) as our ``Price``."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return Price(value)
    tiers = tuple(sorted(((t.start, t.price) for t in value.tiers), reverse=True))
    return Price(value.base, tiers)
