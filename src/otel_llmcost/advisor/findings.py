"""What the advisor reports: one finding per opportunity and (provider, model, feature), ranked by USD per month."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

TITLES = {
    "prompt_cache": "repeated prefixes sent without a prompt-cache read",
    "cache_write_unread": "prompt-cache writes never read back within their TTL",
    "cache_ttl": "1-hour cache writes whose reads all came within 5 minutes",
    "response_cache": "identical requests repeated: a response cache would answer them",
    "batch": "calls outside any interactive request: Batch API / flex",
    "model_ladder": "short answers on an expensive model: a cheaper model, as a what-if",
    "max_tokens": "max_tokens far from the outputs produced",
    "growing_context": "conversations whose input grows turn after turn",
}


@dataclass
class Finding:
    """One opportunity: where (provider, model, feature), how much (window and month), why, and what to change."""

    kind: str
    provider: str
    model: str
    feature: str
    window_usd: Decimal
    """What the window's calls would have cost less."""
    monthly_usd: Decimal
    """window_usd x 30 days / the window's days."""
    evidence: dict[str, Any] = field(default_factory=dict)
    arithmetic: list[str] = field(default_factory=list)
    change: str = ""

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "provider": self.provider,
            "model": self.model,
            "feature": self.feature or None,
            "usd_per_month": format(self.monthly_usd, "f"),
            "usd_in_window": format(self.window_usd, "f"),
            "evidence": self.evidence,
            "arithmetic": self.arithmetic,
            "change": self.change,
        }


@dataclass
class Advice:
    """Everything ``advise`` found in a window of the ledger."""

    start: float
    end: float
    window_days: Decimal
    calls: int
    spend: Decimal
    findings: list[Finding]

    def totals(self) -> dict[str, Decimal]:
        """USD per month by opportunity kind (every kind, 0 where nothing was found): the gauge's values."""
        totals = {kind: Decimal(0) for kind in TITLES}
        for finding in self.findings:
            totals[finding.kind] += finding.monthly_usd
        return totals

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": {"start": self.start, "end": self.end, "days": format(self.window_days, "f")},
            "calls": self.calls,
            "spend_usd": format(self.spend, "f"),
            "usd_per_month_by_kind": {kind: format(value, "f") for kind, value in self.totals().items()},
            "findings": [finding.as_dict() for finding in self.findings],
        }
