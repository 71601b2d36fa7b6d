"""genai-prices' unit registry, read as data: what each priced unit is, how units nest, what a cost component is called.

genai-prices prices a call as a set of units (``input_tokens``, ``input_audio_tokens``, ``cache_audio_read_tokens``,
``web_searches``, ...), each with dimensions (family, direction, modality, token type, cache TTL, tool type) and a
``per`` (1e6 tokens, 1e3 searches). A unit whose dimensions include another's is part of it: audio input tokens are
input tokens. Nothing here is hand-written per unit: a unit genai-prices adds is priced without code. Imported only
when a price is resolved (the registry is genai-prices data, loaded on the slow path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

# The usage keys the fixed ``Usage`` fields stand for, and the fixed ``Cost`` field each one's cost adds to.
FIXED_COMPONENTS: Mapping[str, str] = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_read_tokens": "cache_read",
    "cache_write_tokens": "cache_write",
    "cache_write_5m_tokens": "cache_write",
    "cache_write_1h_tokens": "cache_write",
}


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of genai-prices' registry."""

    key: str
    """The usage key (``input_audio_tokens``): what ``Usage.units`` is keyed by."""
    price_key: str
    """Its price's name in the price data (``input_audio_mtok``)."""
    per: int
    """How many units a price is for (1_000_000 tokens, 1_000 searches)."""
    dimensions: frozenset[tuple[str, str]]

    def within(self, other: Unit) -> bool:
        """This unit is part of ``other`` (or is it): its dimensions include all of ``other``'s."""
        return other.dimensions <= self.dimensions

    @property
    def component(self) -> str:
        """The cost component this unit's cost is reported under (span attribute suffix, metric label)."""
        return component_of(self.key)

    @property
    def modality(self) -> str | None:
        return dict(self.dimensions).get("modality")


@cache
def registry() -> Mapping[str, Unit]:
    """Every unit genai-prices knows, by usage key, in its registry's order."""
    from genai_prices.data_units import unit_data

    return {
        key: Unit(key, str(raw.get("price_key", key)), int(raw["per"]), _dimensions(raw))
        for key, raw in unit_data.items()
    }


def _dimensions(raw: Mapping[str, object]) -> frozenset[tuple[str, str]]:
    dims = raw.get("dimensions")
    return frozenset((str(k), str(v)) for k, v in dims.items()) if isinstance(dims, Mapping) else frozenset()


@cache
def by_price_key() -> Mapping[str, Unit]:
    return {unit.price_key: unit for unit in registry().values()}


@cache
def component_of(key: str) -> str:
    """A unit's cost component name: the fixed four for the fixed fields, else the usage key made short.

    ``input_audio_tokens`` -> ``input_audio``, ``cache_audio_read_tokens`` -> ``cache_audio_read``, a tool call
    family unit by its tool type (``web_searches`` -> ``web_search``, ``code_executions`` -> ``code_execution``),
    ``output_reasoning_tokens`` -> ``output_reasoning``; any other unit by its usage key."""
    fixed = FIXED_COMPONENTS.get(key)
    if fixed is not None:
        return fixed
    unit = registry().get(key)
    if unit is not None:
        dims = dict(unit.dimensions)
        if dims.get("family") == "tool_calls" and "tool_type" in dims:
            return dims["tool_type"]
    return key.removesuffix("_tokens")


def token_modality(key: str) -> str | None:
    """The modality of a token unit (``text``, ``image``, ``audio``, ``video``), None for other units."""
    unit = registry().get(key)
    if unit is None or dict(unit.dimensions).get("family") != "tokens":
        return None
    return unit.modality
