"""Resolved prices for one (provider, model, price context) and the arithmetic that turns usage into cost.

A ``Rates`` is what the slow lookup produces once and the hot path reuses: per-token prices as
Decimals, long-context tiers included. ``cost_of`` is the whole per-call pricing work: a few exact
Decimal products, no lookups. Knows the normalized ``Usage`` and nothing about SDKs or telemetry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from ..records import Usage
from .plan import UnitRate, fixed_plan
from .prices import Price, Tiers

__all__ = ["Cost", "Price", "Rates", "Tiers", "UnitRate", "cost_of", "plus", "zero_cost"]

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)

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
    plan: tuple[UnitRate, ...] = ()
    """Every priced unit, most specific first: a unit's count less its priced parts' is billed at its price
    (genai-prices' decomposition). Empty: built from the fixed prices above (a price file's entry)."""
    unpriced_units: frozenset[str] = frozenset()
    """Registry units that bill nowhere (neither they nor a unit they are part of has a price): a call that
    reports one has no known cost. A key outside the registry (``cache_write_30m_tokens``) is part of a fixed
    field and bills there."""
    fast: bool = True
    """No priced unit reads a fixed field beyond the six above: a call without ``Usage.units`` is priced by the
    fixed arithmetic, without walking the plan."""

    steps: tuple[Step, ...] = field(default=(), compare=False, repr=False)
    """The plan as flat tuples for the hot loop (derived; never given)."""

    def __post_init__(self) -> None:
        if not self.plan:
            plan, unpriced = fixed_plan(
                self.input, self.output, self.cache_read, self.cache_write, self.cache_write_5m, self.cache_write_1h
            )
            object.__setattr__(self, "plan", plan)
            object.__setattr__(self, "unpriced_units", unpriced)
        object.__setattr__(self, "steps", tuple(_step(unit, self.plan) for unit in self.plan))


# One plan unit, flattened: (usage key, fixed-field reader, indexes of its priced parts, flat price of one unit
# or None, price, per, component, the uncached twin's (flat price of one or None, price, per) or None).
Step = tuple[
    str,
    "Callable[[Usage], int] | None",
    tuple[int, ...],
    "Decimal | None",
    Price,
    int,
    str,
    "tuple[Decimal | None, Price, int] | None",
]


def _flat(unit: UnitRate) -> Decimal | None:
    """The price of one unit when it does not depend on the input size and is an exact shift, else None."""
    each = unit.each
    return each.base if each is not None and not each.tiers else None


def _step(unit: UnitRate, plan: tuple[UnitRate, ...]) -> Step:
    twin = plan[unit.uncached] if unit.uncached is not None else None
    uncached = (_flat(twin), twin.price, twin.per) if twin is not None else None
    return (unit.key, unit.read, unit.descendants, _flat(unit), unit.price, unit.per, unit.component, uncached)


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
    components: tuple[tuple[str, float], ...] = ()
    """The cost of every other priced unit, by component name (``input_audio``, ``output_image``,
    ``web_search``, ...), non-zero ones only; ``total`` is the fixed four plus these."""
    unpriced: tuple[str, ...] = field(default=())
    """Reported units the model has no price for (usage keys): the call's cost is not known (the engine
    turns such a cost into no cost, with a warning)."""
    multiplier: tuple[str, float] | None = None
    """(name, factor) of the where-it-ran multiplier applied (``pricing.multipliers``), None when none did."""


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


def _by_plan(usage: Usage, rates: Rates) -> tuple[dict[str, Decimal], Decimal, Decimal]:
    """Exact cost (USD) per component by the rates' plan, the cache savings, and the total.

    Each priced unit bills its count less the counts of its priced parts (most specific first, so its parts'
    counts are known when it is reached), at the price of the call's input-size tier: genai-prices' own
    decomposition, so the same usage costs the same."""
    total_in = usage.input_tokens
    units = usage.units
    leaves: list[int] = []
    append = leaves.append
    costs: dict[str, Decimal] = {}
    saved = ZERO
    total = ZERO
    for key, read, parts, flat, price, per, component, uncached in rates.steps:
        count = read(usage) if read is not None else units.get(key, 0)
        for j in parts:
            count -= leaves[j]
        if count <= 0:
            append(0)
            continue
        append(count)
        cost = count * flat if flat is not None else count * price.at(total_in) / per
        total += cost
        costs[component] = costs[component] + cost if component in costs else cost
        if uncached is not None:
            twin_flat, twin_price, twin_per = uncached
            full = count * twin_flat if twin_flat is not None else count * twin_price.at(total_in) / twin_per
            if full > cost:
                saved += full - cost
    return costs, saved, total


def _unpriced(usage: Usage, rates: Rates) -> tuple[str, ...]:
    unpriced = rates.unpriced_units
    return tuple(key for key, count in usage.units.items() if count and key in unpriced)


def cost_of(usage: Usage, rates: Rates) -> Cost:
    """Price one call. Exact Decimal arithmetic, converted to float once per component."""
    if usage.units or not rates.fast:
        return _cost_by_plan(usage, rates)
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


def _cost_by_plan(usage: Usage, rates: Rates) -> Cost:
    costs, saved_cache, total = _by_plan(usage, rates)
    saved_batch = ZERO
    if rates.standard is not None:
        saved_batch = _by_plan(usage, rates.standard)[2] - total
        if saved_batch < 0:
            saved_batch = ZERO
    get = costs.pop
    c_input, c_output = get("input", None), get("output", None)
    c_read, c_write = get("cache_read", None), get("cache_write", None)
    units = usage.units
    return Cost(
        total=float(total),
        input=float(c_input) if c_input is not None else 0.0,
        output=float(c_output) if c_output is not None else 0.0,
        cache_read=float(c_read) if c_read is not None else 0.0,
        cache_write=float(c_write) if c_write is not None else 0.0,
        savings_cache=float(saved_cache) if saved_cache else 0.0,
        savings_batch=float(saved_batch) if saved_batch else 0.0,
        source=rates.source,
        model_id=rates.model_id,
        exact=total,
        components=tuple((name, float(value)) for name, value in costs.items() if value) if costs else (),
        unpriced=() if rates.unpriced_units.isdisjoint(units) else _unpriced(usage, rates),
    )


def _add(a: float, b: float) -> float:
    """Two component costs (each the double nearest an exact Decimal) added as the Decimals they stand for."""
    return float(Decimal(repr(a)) + Decimal(repr(b))) if a and b else a + b


def plus(cost: Cost, other: Cost) -> Cost:
    """A call's cost with another part of it added (an iteration the top-level usage leaves out): same
    source and model id, every component summed."""
    components = dict(cost.components)
    for name, value in other.components:
        components[name] = _add(components.get(name, 0.0), value)
    exact = cost.exact + other.exact
    return Cost(
        total=float(exact),
        input=_add(cost.input, other.input),
        output=_add(cost.output, other.output),
        cache_read=_add(cost.cache_read, other.cache_read),
        cache_write=_add(cost.cache_write, other.cache_write),
        savings_cache=_add(cost.savings_cache, other.savings_cache),
        savings_batch=_add(cost.savings_batch, other.savings_batch),
        source=cost.source,
        model_id=cost.model_id,
        hardware=_add(cost.hardware, other.hardware),
        exact=exact,
        components=tuple(components.items()),
        unpriced=cost.unpriced + other.unpriced,
    )


def zero_cost(source: str, model_id: str) -> Cost:
    """The cost of a call to a self-hosted model: a real, known $0."""
    return Cost(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, source, model_id)
