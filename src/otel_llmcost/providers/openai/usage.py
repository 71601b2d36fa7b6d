"""What every OpenAI result shape shares: whether a usage block holds a real count, which cache counts it
reports, the extra units genai-prices names, the cost a provider puts in it (xAI, OpenRouter), and the
Response fields every result carries (model, id, system fingerprint).

Pure: no SDK import, no calls or spans. The shapes themselves are read by ``chat`` and ``responses``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ... import names
from ...records import Response
from ..base import counted, get


def has_count(raw: Any, *keys: str) -> bool:
    """True when the usage block has a real count: a block of odd values is unknown usage, never $0."""
    return any(counted(get(raw, key)) for key in keys)


def cache_bits(details: Any) -> int:
    """Bit 1: cached_tokens reported (0 included); bit 2: cache_write_tokens reported."""
    return (type(get(details, "cached_tokens")) is int) | (type(get(details, "cache_write_tokens")) is int) << 1


def unit_counts(*pairs: tuple[str, Any]) -> dict[str, int]:
    """The reported (positive) counts of genai-prices usage keys."""
    return {key: value for key, value in pairs if type(value) is int and value > 0}


_USD_PER_TICK = Decimal(1) / Decimal(10**10)  # xAI: 1 USD = 10^10 ticks (docs.x.ai, Cost Tracking)


def reported_cost(raw: Any, response: Response) -> Response:
    """The cost the provider puts in its usage block, onto ``response``: xAI ``cost_in_usd_ticks`` (an integer of
    1e-10 USD), OpenRouter ``cost`` (USD). Odd values (negative, non-numbers) are ignored, never a cost."""
    if raw is None:
        return response
    ticks = get(raw, "cost_in_usd_ticks")
    if type(ticks) is int and ticks >= 0:
        response.provider_cost = ticks * _USD_PER_TICK
        response.provider_cost_source = "usage.cost_in_usd_ticks"
        return response
    cost = get(raw, "cost")
    if type(cost) in (int, float) and cost >= 0 and cost != float("inf"):
        response.provider_cost = Decimal(str(cost))
        response.provider_cost_source = "usage.cost"
    return response


def response_of(obj: Any, finish_reasons: list[str], output: Any = None) -> Response:
    model = get(obj, "model")
    response_id = get(obj, "id")
    fingerprint = get(obj, "system_fingerprint")
    return Response(
        model=model if isinstance(model, str) else None,
        response_id=response_id if isinstance(response_id, str) else None,
        finish_reasons=finish_reasons,
        output_messages=output,
        attributes={names.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: fingerprint} if isinstance(fingerprint, str) else {},
    )
