"""The comparison: billed against computed spend per provider, UTC day and model, each difference explained.

A difference is ``computed - billed``. Each explanation is a named cause with the part of the difference it
accounts for; what no cause accounts for is ``unexplained``, and a line matches when that is within the
tolerance (a share of the bill). Causes, in the order they are applied:

- ``open_day``: the provider has not closed the day yet (usage still arrives); the whole difference, nothing else.
- ``credit``: a credit or refund on the bill (a negative line) that no call of ours incurred.
- ``unpriced_dimension``: billed spend we do not price (web search, code execution, storage, images ...).
- ``uninstrumented``: token spend on a model no instrumented call used: an app running without otel-llmcost,
  or another team's key in the same organization.
- ``not_billed``: spend we computed on a model the bill does not show (another organization's key, a gateway
  that bills elsewhere, or a free tier).
- ``unpriced_calls``: calls we could not price (no known price), so we computed too little.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Final

from . import CREDIT, NO_MODEL, OTHER, TOKENS, Bill, Computed

ALL_MODELS: Final = "(all)"

OPEN_DAY: Final = "open_day"
CREDIT_LINE: Final = "credit"
UNPRICED_DIMENSION: Final = "unpriced_dimension"
UNINSTRUMENTED: Final = "uninstrumented"
NOT_BILLED: Final = "not_billed"
UNPRICED_CALLS: Final = "unpriced_calls"
UNEXPLAINED: Final = "unexplained"
CAUSES: Final = (OPEN_DAY, CREDIT_LINE, UNPRICED_DIMENSION, UNINSTRUMENTED, NOT_BILLED, UNPRICED_CALLS)

# The status of a line.
MATCH: Final = "match"
EXPLAINED: Final = "explained"
DIFFERS: Final = "differs"
OPEN: Final = "open"

_PCT = Decimal("0.01")


@dataclass(frozen=True)
class Explanation:
    cause: str
    amount: Decimal  # the part of (computed - billed) it accounts for
    text: str


@dataclass
class Line:
    """One provider, day and model (``ALL_MODELS`` for the day's total)."""

    provider: str
    day: str
    model: str
    closed: bool
    billed: Decimal = Decimal(0)
    computed: Decimal = Decimal(0)
    billed_input_tokens: int | None = None
    billed_output_tokens: int | None = None
    computed_input_tokens: int = 0
    computed_output_tokens: int = 0
    calls: int = 0
    explanations: list[Explanation] = field(default_factory=list)
    unexplained: Decimal = Decimal(0)
    status: str = MATCH

    @property
    def difference(self) -> Decimal:
        return self.computed - self.billed

    @property
    def difference_pct(self) -> Decimal | None:
        """The difference as a percentage of the bill (2 places); None when nothing was billed."""
        return (self.difference * 100 / self.billed).quantize(_PCT) if self.billed else None

    @property
    def drift(self) -> Decimal | None:
        """(computed - billed) / billed; None when nothing was billed."""
        return self.difference / self.billed if self.billed else None


def is_closed(day: str, now: float, settle: float, refreshed_at: float | None) -> bool:
    """A day is closed ``settle`` seconds after it ends, and once the provider's report covers its end."""
    end = datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp() + 86400
    return end + settle <= now and (refreshed_at is None or end <= refreshed_at)


def days(start: int, end: int) -> list[str]:
    first = datetime.fromtimestamp(start, tz=timezone.utc).date()
    last = datetime.fromtimestamp(end - 1, tz=timezone.utc).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)] if end > start else []


def compare(
    bills: Sequence[Bill], computed: Iterable[Computed], now: float, settle: float, tolerance: Decimal
) -> list[Line]:
    """Lines per provider and day: the day's total first, then one per model, costliest bill first."""
    ours: dict[tuple[str, str, str], Computed] = {(c.provider, c.day, c.model): c for c in computed}
    result: list[Line] = []
    for bill in bills:
        costs: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        items: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for line in bill.costs:
            costs[(line.day, line.model)][line.kind] += line.cost
            items[(line.day, line.model)][line.kind].add(line.item)
        usage = {(u.day, u.model): u for u in bill.usage}
        keys = set(costs) | set(usage) | {(d, m) for (p, d, m) in ours if p == bill.provider}
        for day in sorted({d for d, _ in keys}):
            closed = is_closed(day, now, settle, bill.refreshed_at)
            models = [
                _line(bill.provider, day, model, closed, costs.get((day, model), {}), items.get((day, model), {}),
                      usage.get((day, model)), ours.get((bill.provider, day, model)), tolerance)
                for model in {m for d, m in keys if d == day}
            ]
            models.sort(key=lambda line: (-line.billed, -line.computed, line.model))
            result.append(_total(bill.provider, day, closed, models, tolerance))
            result.extend(models)
    return result


def _line(
    provider: str, day: str, model: str, closed: bool, costs: dict[str, Decimal], items: dict[str, set[str]],
    usage: object, ours: Computed | None, tolerance: Decimal,
) -> Line:
    line = Line(provider, day, model, closed, billed=sum(costs.values(), Decimal(0)))
    if usage is not None:
        line.billed_input_tokens = getattr(usage, "input_tokens", None)
        line.billed_output_tokens = getattr(usage, "output_tokens", None)
    if ours is not None:
        line.computed, line.calls = ours.cost, ours.calls
        line.computed_input_tokens, line.computed_output_tokens = ours.input_tokens, ours.output_tokens
    explain = line.explanations.append
    if not closed:
        if line.difference:
            explain(Explanation(OPEN_DAY, line.difference,
                                f"{provider} has not closed {day} yet: its bill still grows"))
        return _settle(line, tolerance)
    if costs.get(CREDIT):
        explain(Explanation(CREDIT_LINE, -costs[CREDIT], f"credit on the bill: {', '.join(sorted(items[CREDIT]))}"))
    if costs.get(OTHER):
        explain(Explanation(UNPRICED_DIMENSION, -costs[OTHER],
                            f"billed for what we do not price yet: {', '.join(sorted(items[OTHER]))}"))
    billed_tokens = costs.get(TOKENS, Decimal(0))
    if billed_tokens and line.calls == 0:
        what = "no instrumented call used this model" if model != NO_MODEL else "no instrumented call made it"
        explain(Explanation(UNINSTRUMENTED, -billed_tokens,
                            f"{what}: an app running without otel-llmcost, or another key of the organization"))
    elif not billed_tokens and line.computed:
        explain(Explanation(NOT_BILLED, line.computed,
                            "computed spend the bill does not show: calls billed to another organization or "
                            "through a gateway, or free"))
    residual = line.difference - sum((e.amount for e in line.explanations), Decimal(0))
    if ours is not None and ours.unpriced and residual < 0 and abs(residual) > tolerance * abs(line.billed):
        explain(Explanation(UNPRICED_CALLS, residual,
                            f"{ours.unpriced} of {ours.calls} calls have no known price, so no computed cost"))
    return _settle(line, tolerance)


def _settle(line: Line, tolerance: Decimal) -> Line:
    """The unexplained rest, and the line's status."""
    line.unexplained = line.difference - sum((e.amount for e in line.explanations), Decimal(0))
    within = abs(line.unexplained) <= tolerance * abs(line.billed)
    if not line.closed:
        line.status = OPEN
    elif within:
        line.status = EXPLAINED if line.explanations else MATCH
    else:
        line.status = DIFFERS
        line.explanations.append(Explanation(UNEXPLAINED, line.unexplained, "not explained by any known cause"))
    return line


def _total(provider: str, day: str, closed: bool, models: list[Line], tolerance: Decimal) -> Line:
    total = Line(provider, day, ALL_MODELS, closed)
    by_cause: dict[str, Decimal] = defaultdict(Decimal)
    texts: dict[str, list[str]] = defaultdict(list)
    billed_in: list[int | None] = []
    billed_out: list[int | None] = []
    for line in models:
        total.billed += line.billed
        total.computed += line.computed
        total.calls += line.calls
        total.computed_input_tokens += line.computed_input_tokens
        total.computed_output_tokens += line.computed_output_tokens
        billed_in.append(line.billed_input_tokens)
        billed_out.append(line.billed_output_tokens)
        for e in line.explanations:
            if e.cause != UNEXPLAINED:
                by_cause[e.cause] += e.amount
                texts[e.cause].append(line.model)
    if any(v is not None for v in billed_in):
        total.billed_input_tokens = sum(v or 0 for v in billed_in)
        total.billed_output_tokens = sum(v or 0 for v in billed_out)
    for cause in CAUSES:
        if cause in by_cause:
            total.explanations.append(Explanation(cause, by_cause[cause], ", ".join(sorted(texts[cause]))))
    return _settle(total, tolerance)
