"""Resolved prices for one (provider, model, price context) and the arithmetic that turns usage into cost.

A ``Rates`` is what the slow lookup produces once and the hot path reuses: per-token prices as
Decimals, long-context tiers included. ``cost_of`` is the whole per-call pricing work: a few exact
Decimal products, no lookups. Knows the normalized ``Usage`` and nothing about SDKs or telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..records import Usage

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)

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


@dataclass(frozen=True, slots=True)
class Rates:
    """Every price a call of one model in one context can need. Missing cache prices fall back to input."""

    input: Price
    output: Price
    cache_read: Price
    cache_write: Price
    cache_write_5m: Price
    cache_write_1h: Price
    source: str
    """Where the prices came from: genai-prices@<version>, override:<file>, local."""
    model_id: str
    """The id of the priced model in its source (e.g. gpt-4o for gpt-4o-2024-08-06)."""
    time_of_day: bool = False
    """Prices that change within a day (off-peak discounts): resolved again every minute."""
    standard: Rates | None = None
    """For batch or discounted contexts: the same model's standard rates, to measure savings."""


@dataclass(frozen=True, slots=True)
class Cost:
    """The USD cost of one call, split by component, with what caching and batching saved."""

    total: float
    input: float
    output: float
    cache_read: float
    cache_write: float
    savings_cache: float
    savings_batch: float
    source: str
    model_id: str
    hardware: float = 0.0
    """Internal cost of a self-hosted call at the user's hardware rate: NOT part of ``total`` (API spend)."""
    exact: Decimal = ZERO
    """The total as an exact Decimal: what budgets add up, so stored spend equals the sum of call costs."""


def _components(usage: Usage, rates: Rates) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Exact cost components in USD * 1e6 (divided once by the caller)."""
    total_in = usage.input_tokens
    cache_read = usage.cache_read_tokens
    cache_write = usage.cache_write_tokens
    write_5m = usage.cache_write_5m_tokens
    write_1h = usage.cache_write_1h_tokens
    write_rest = cache_write - write_5m - write_1h
    c_input = usage.uncached_input_tokens * rates.input.at(total_in)
    c_output = usage.output_tokens * rates.output.at(total_in)
    c_read = cache_read * rates.cache_read.at(total_in) if cache_read else ZERO
    c_write = ZERO
    if cache_write:
        if write_5m:
            c_write += write_5m * rates.cache_write_5m.at(total_in)
        if write_1h:
            c_write += write_1h * rates.cache_write_1h.at(total_in)
        if write_rest > 0:
            c_write += write_rest * rates.cache_write.at(total_in)
    return c_input, c_output, c_read, c_write


def cost_of(usage: Usage, rates: Rates) -> Cost:
    """Price one call. Exact Decimal arithmetic, converted to float once per component."""
    c_input, c_output, c_read, c_write = _components(usage, rates)
    total = c_input + c_output + c_read + c_write
    saved_cache = ZERO
    if usage.cache_read_tokens:
        saved_cache = usage.cache_read_tokens * rates.input.at(usage.input_tokens) - c_read
        if saved_cache < 0:
            saved_cache = ZERO
    saved_batch = ZERO
    if rates.standard is not None:
        saved_batch = sum(_components(usage, rates.standard), ZERO) - total
        if saved_batch < 0:
            saved_batch = ZERO
    return Cost(
        total=float(total / MILLION),
        input=float(c_input / MILLION),
        output=float(c_output / MILLION),
        cache_read=float(c_read / MILLION),
        cache_write=float(c_write / MILLION),
        savings_cache=float(saved_cache / MILLION),
        savings_batch=float(saved_batch / MILLION),
        source=rates.source,
        model_id=rates.model_id,
        exact=total / MILLION,
    )


def zero_cost(source: str, model_id: str) -> Cost:
    """The cost of a call to a self-hosted model: a real, known $0."""
    return Cost(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, source, model_id)
