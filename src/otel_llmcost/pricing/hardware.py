"""The internal cost of a self-hosted model call: the user's hardware rate applied to what the call used.

A local model costs nothing in API spend, but its GPU time is not free. A team that sets a rate (USD per
GPU-hour, or USD per million tokens) sees that internal cost beside hosted models' API spend, as a separate
figure that never enters the API bill totals or budgets. Reads only the usage record; exact Decimal arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..records import Usage
from .rates import MILLION

_NS_PER_HOUR = Decimal(3_600_000_000_000)


@dataclass(frozen=True, slots=True)
class HardwareRate:
    """One of the two: USD per GPU-hour of server time, or USD per million tokens (input + output)."""

    usd_per_gpu_hour: Decimal | None = None
    usd_per_mtok: Decimal | None = None

    def cost(self, usage: Usage) -> float | None:
        """USD of this call at the rate, or None when the call does not report what the rate needs."""
        if self.usd_per_gpu_hour is not None:
            if usage.server_duration_ns <= 0:
                return None  # an OpenAI-compatible local server reports no duration: unknown, never $0
            return float(usage.server_duration_ns * self.usd_per_gpu_hour / _NS_PER_HOUR)
        if self.usd_per_mtok is not None:
            return float((usage.input_tokens + usage.output_tokens) * self.usd_per_mtok / MILLION)
        return None
