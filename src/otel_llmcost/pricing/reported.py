"""A provider-reported cost as a ``Cost``: the call's cost when we cannot price it ourselves.

OpenRouter (``usage.cost``) and xAI (``usage.cost_in_usd_ticks``) say what a call was billed. When the price data
knows the model, ours stands and theirs is recorded beside it (and the difference counted); when it does not, theirs
is the call's cost, with ``llmcost.price.source`` = ``provider:<field>``. Components are not reported: the whole
amount is one ``provider`` component.
"""

from __future__ import annotations

from decimal import Decimal

from .. import names
from .rates import Cost


def reported_cost(amount: Decimal, field: str, model_id: str) -> Cost:
    """The provider's figure as the call's cost (no split by component: the provider gives none)."""
    return Cost(
        total=float(amount),
        input=0.0,
        output=0.0,
        cache_read=0.0,
        cache_write=0.0,
        savings_cache=0.0,
        savings_batch=0.0,
        source=f"{names.PRICE_SOURCE_PROVIDER}:{field}",
        model_id=model_id,
        exact=amount,
    )


def is_reported(cost: Cost) -> bool:
    """True for a cost that is the provider's own figure (not priced by us)."""
    return cost.source.startswith(names.PRICE_SOURCE_PROVIDER + ":")
