"""Pricing: usage record in, USD cost out (bundled genai-prices data, user overrides, a cached fast path)."""

from .engine import PriceBook, price_context, prices_provider_id
from .hardware import HardwareRate
from .overrides import PriceOverrides
from .rates import Cost, Rates, cost_of

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
