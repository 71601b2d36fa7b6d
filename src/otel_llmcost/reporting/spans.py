"""Finished LLM calls read back from their spans, and grouped into spend rows (the demo's report).

Reads only the attribute names in ``names``: the report is what the telemetry says, not a second count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .. import names
from . import DIMENSIONS, NONE, REFUSED_ERRORS, SpendRow


def _money(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class CallRecord:
    """One call as its span reports it."""

    name: str
    attributes: Mapping[str, Any]
    input_tokens: int | None
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int | None
    reasoning_tokens: int
    cost: Decimal | None
    cache_savings: Decimal
    error: str | None
    trace_id: str

    @classmethod
    def from_attributes(cls, name: str, attributes: Mapping[str, Any], trace_id: str) -> CallRecord:
        attrs = MappingProxyType(dict(attributes))
        return cls(
            name=name,
            attributes=attrs,
            input_tokens=_int(attrs.get(names.GEN_AI_USAGE_INPUT_TOKENS)),
            cache_read_tokens=_int(attrs.get(names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)) or 0,
            cache_write_tokens=_int(attrs.get(names.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)) or 0,
            output_tokens=_int(attrs.get(names.GEN_AI_USAGE_OUTPUT_TOKENS)),
            reasoning_tokens=_int(attrs.get(names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)) or 0,
            cost=_money(attrs.get(names.GEN_AI_USAGE_COST, attrs.get(names.GEN_AI_USAGE_COST_AMOUNT))),
            cache_savings=_money(attrs.get(names.LLMCOST_SAVINGS_CACHE)) or Decimal(0),
            error=str(attrs[names.ERROR_TYPE]) if names.ERROR_TYPE in attrs else None,
            trace_id=trace_id,
        )

    @classmethod
    def from_span(cls, span: ReadableSpan) -> CallRecord:
        trace_id = f"{span.context.trace_id:032x}" if span.context is not None else ""
        return cls.from_attributes(span.name, span.attributes or {}, trace_id)

    @property
    def unpriced(self) -> bool:
        """Usage known, price not: the model is missing from the price data."""
        return self.cost is None and self.error is None and self.input_tokens is not None

    @property
    def refused(self) -> bool:
        """A budget stopped the call before it was sent."""
        return self.error in REFUSED_ERRORS

    def value(self, dimension: str) -> str:
        found = self.attributes.get(DIMENSIONS[dimension])
        return NONE if found is None or found == "" else str(found)


def group(records: Iterable[CallRecord], dimension: str) -> list[SpendRow]:
    """Spend per value of a dimension, most expensive first."""
    rows: dict[str, SpendRow] = {}
    for record in records:
        key = record.value(dimension)
        row = rows.get(key)
        if row is None:
            row = rows[key] = SpendRow(key, calls=0, errors=0, refused=0, unpriced=0, priced=0, input_tokens=0,
                                       output_tokens=0, cache_read_tokens=0, cache_write_tokens=0)
        row.calls = (row.calls or 0) + 1
        row.errors = (row.errors or 0) + (record.error is not None and not record.refused)
        row.refused = (row.refused or 0) + record.refused
        row.unpriced = (row.unpriced or 0) + record.unpriced
        row.priced = (row.priced or 0) + (record.cost is not None)
        row.input_tokens = (row.input_tokens or 0) + (record.input_tokens or 0)
        row.output_tokens = (row.output_tokens or 0) + (record.output_tokens or 0)
        row.cache_read_tokens = (row.cache_read_tokens or 0) + record.cache_read_tokens
        row.cache_write_tokens = (row.cache_write_tokens or 0) + record.cache_write_tokens
        row.cost += record.cost or 0
    return sorted(rows.values(), key=lambda r: (-r.cost, r.key))


def total_cost(records: Sequence[CallRecord]) -> Decimal:
    return sum((r.cost for r in records if r.cost is not None), Decimal(0))


def most_expensive(records: Sequence[CallRecord]) -> CallRecord | None:
    priced = [r for r in records if r.cost is not None]
    return max(priced, key=lambda r: r.cost or 0) if priced else None
