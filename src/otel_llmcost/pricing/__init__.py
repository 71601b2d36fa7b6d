"""Pricing: usage record in, USD cost out (bundled genai-prices data, user overrides, a cached fast path)."""

from typing import TYPE_CHECKING, Any

from .engine import PriceBook, price_context, prices_provider_id
from .hardware import HardwareRate
from .rates import Cost, Rates, cost_of

if TYPE_CHECKING:
    from .overrides import PriceOverrides


def __getattr__(name: str) -> Any:
    """``PriceOverrides`` on first use: the price file's reader is not imported by ``instrument()`` without one."""
    if name == "PriceOverrides":
        from .overrides import PriceOverrides

        return PriceOverrides
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Cost",
    "HardwareRate",
    "PriceBook",
    "PriceOverrides",
    "Rates",
    "cost_of",
    "price_context",
    "prices_provider_id",
]
