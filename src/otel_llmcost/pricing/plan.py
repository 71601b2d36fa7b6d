"""Pricing plans: a model's priced units ordered for decomposition, built once when its rates are resolved.

A plan is data, not code: the units and prices come from genai-prices' price data (or a price file's fixed
prices) and its unit registry, so a unit genai-prices starts pricing is billed with no change here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter

from ..records import Usage
from .prices import Price, price_of
from .units import Unit, by_price_key, component_of, registry


@dataclass(frozen=True, slots=True)
class UnitRate:
    """One priced unit of a model, placed in the model's pricing plan (see ``Rates.plan``)."""

    key: str
    """genai-prices usage key (``input_audio_tokens``, ``web_searches``)."""
    component: str
    """The cost component it is reported under (``input``, ``input_audio``, ``web_search``)."""
    price: Price
    """Price per ``per`` units."""
    per: int
    descendants: tuple[int, ...] = ()
    """Indexes (in the plan) of the priced units that are part of this one: their counts are billed there."""
    uncached: int | None = None
    """For a cache-read unit: index of the unit the same tokens would bill at uncached (cache savings)."""
    read: Callable[[Usage], int] | None = None
    """How to read the count from a fixed ``Usage`` field; None: from ``Usage.units``."""
    each: Price | None = None
    """The price of ONE unit, when ``per`` is a power of ten (an exact shift of ``price``): the hot path
    multiplies instead of dividing. None: ``price / per`` per call, as genai-prices computes it."""

    def __post_init__(self) -> None:
        if self.each is None:
            digits = len(str(self.per)) - 1
            if self.per == 10**digits:
                price = self.price
                each = Price(price.base.scaleb(-digits), tuple((s, p.scaleb(-digits)) for s, p in price.tiers))
                object.__setattr__(self, "each", each)

# The fixed Usage fields, as the genai-prices units they count.
_READERS: dict[str, Callable[[Usage], int]] = {
    "input_tokens": attrgetter("input_tokens"),
    "output_tokens": attrgetter("output_tokens"),
    "cache_read_tokens": attrgetter("cache_read_tokens"),
    "cache_write_tokens": attrgetter("cache_write_tokens"),
    "cache_write_5m_tokens": attrgetter("cache_write_5m_tokens"),
    "cache_write_1h_tokens": attrgetter("cache_write_1h_tokens"),
    "output_reasoning_tokens": attrgetter("reasoning_tokens"),
    "requests": lambda usage: 1,
}
_FIXED_SIX = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
    }
)


def build(priced: Iterable[tuple[Unit, Price]]) -> tuple[tuple[UnitRate, ...], frozenset[str], bool]:
    """(plan, usage keys billed nowhere, fast) for a model's priced units."""
    units = sorted(priced, key=lambda item: (-len(item[0].dimensions), item[0].key))
    index = {unit.key: i for i, (unit, _) in enumerate(units)}
    plan: list[UnitRate] = []
    for i, (unit, price) in enumerate(units):
        parts = tuple(j for j, (other, _) in enumerate(units) if j != i and other.within(unit))
        plan.append(
            UnitRate(
                key=unit.key,
                component=component_of(unit.key),
                price=price,
                per=unit.per,
                descendants=parts,
                uncached=_uncached(unit, units, index),
                read=_READERS.get(unit.key),
            )
        )
    priced_units = [unit for unit, _ in units]
    unpriced = frozenset(
        key for key, unit in registry().items() if not any(unit.within(priced) for priced in priced_units)
    )
    fast = all(unit.key in _FIXED_SIX or unit.key not in _READERS for unit in priced_units)
    return tuple(plan), unpriced, fast


def _uncached(unit: Unit, units: list[tuple[Unit, Price]], index: dict[str, int]) -> int | None:
    """For a cache-read unit, the most specific priced unit the same tokens bill at when not cached."""
    dims = dict(unit.dimensions)
    if dims.pop("token_type", None) != "cache_read":
        return None
    wanted = frozenset(dims.items())
    best: Unit | None = None
    for other, _ in units:
        if other.dimensions <= wanted and (best is None or len(other.dimensions) > len(best.dimensions)):
            best = other
    return index[best.key] if best is not None else None


def from_model_price(model_price: object) -> tuple[tuple[UnitRate, ...], frozenset[str], bool]:
    """The plan of a genai-prices ``ModelPrice``: every price key it sets that the registry knows."""
    known = by_price_key()
    priced: list[tuple[Unit, Price]] = []
    for price_key, value in vars(model_price).items():
        unit = known.get(price_key)
        price = price_of(value) if unit is not None else None
        if unit is not None and price is not None:
            priced.append((unit, price))
    return build(priced)


def fixed_plan(
    input_price: Price, output: Price, cache_read: Price, cache_write: Price, write_5m: Price, write_1h: Price
) -> tuple[tuple[UnitRate, ...], frozenset[str]]:
    """The plan of rates given as the six fixed prices (a price file's entry; missing ones already filled)."""
    units = registry()
    plan, unpriced, _ = build(
        [
            (units["input_tokens"], input_price),
            (units["output_tokens"], output),
            (units["cache_read_tokens"], cache_read),
            (units["cache_write_tokens"], cache_write),
            (units["cache_write_5m_tokens"], write_5m),
            (units["cache_write_1h_tokens"], write_1h),
        ]
    )
    return plan, unpriced
