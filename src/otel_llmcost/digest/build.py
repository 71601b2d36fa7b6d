"""The numbers of one digest: total and its change, breakdowns, top users and requests, budgets, the anomaly check.

Everything is read from a ``Source`` and kept as Decimal; nothing here formats or sends. A budget's line is
where it stood when the digest's period closed: spend since its own period began (its time zone), the
projection of that pace to its period's end, and the day the pace reaches the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from ..budgets.periods import CalendarPeriod, RollingPeriod
from ..reporting import SpendRow
from .periods import BASELINE, DigestPeriod
from .sources import Source

if TYPE_CHECKING:
    from ..budgets.definitions import Budget
    from ..ledger import LedgerCall

BREAKDOWNS = ("model", "provider", "feature", "team")
TOP = 10  # rows per breakdown (the rest are summed as one line)
TOP_USERS = 5
TOP_CALLS = 5
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class BudgetLine:
    """A budget when the digest's period closed (``as_of``)."""

    name: str
    scope: str
    period: str
    limit: Decimal
    spend: Decimal | None
    """Spend since the budget's period began; None when the source does not know it."""
    starts: float
    resets: float | None
    """When the budget's period ends (None for a rolling window, which never resets)."""
    as_of: float
    projected: Decimal | None
    """Spend at the period's end if the pace so far goes on (a rolling window: its spend)."""
    runs_out: date | None
    """The day (in the budget's time zone) the pace reaches the limit, within this period; None otherwise."""

    @property
    def reached(self) -> bool:
        return self.spend is not None and self.spend >= self.limit


@dataclass(frozen=True)
class Anomaly:
    """The seeds' anomaly check: the last day's spend against the daily average of the 7 days before it."""

    day: date
    spend: Decimal
    average: Decimal
    factor: Decimal

    @property
    def firing(self) -> bool:
        return self.average > 0 and self.spend > self.factor * self.average


@dataclass(frozen=True)
class Digest:
    period: DigestPeriod
    source: str
    total: SpendRow
    previous: Decimal
    average: Decimal
    """Average spend of the ``baseline`` periods before this one."""
    baseline: int
    breakdowns: dict[str, list[SpendRow]]
    users: list[SpendRow]
    costliest: list[LedgerCall] | None
    """None when the source keeps no single call (Prometheus)."""
    budgets: list[BudgetLine]
    anomaly: Anomaly
    trace_url_template: str | None = None
    notes: list[str] = field(default_factory=list)

    def trace_url(self, trace_id: str | None) -> str | None:
        if trace_id is None or self.trace_url_template is None:
            return None
        return self.trace_url_template.format(trace_id=trace_id)


def change(now: Decimal, then: Decimal) -> Decimal | None:
    """Percentage change from ``then`` to ``now``, to one decimal; None when ``then`` is zero."""
    if not then:
        return None
    return ((now - then) * 100 / then).quantize(Decimal("0.1"), ROUND_HALF_EVEN)


def _total(source: Source, period: DigestPeriod) -> Decimal:
    return source.spend(None, period.start, period.end)[0].cost


def budget_line(source: Source, budget: Budget, as_of: float) -> BudgetLine:
    """Where ``budget`` stood at ``as_of`` (the digest period's end)."""
    period = budget.period
    window = period.window(as_of - 0.001)  # the budget period the digest's last instant belongs to
    starts: float
    resets: float | None
    if isinstance(period, RollingPeriod):
        starts, resets = as_of - period.hours * 3600, None
    else:
        assert isinstance(period, CalendarPeriod)
        starts, resets = float(window.first), window.resets
    spend = source.budget_spend(budget, starts, as_of)
    projected: Decimal | None = None
    runs_out: date | None = None
    if spend is not None:
        if resets is None:
            projected = spend
        else:
            elapsed = Decimal(repr(as_of - starts))
            length = Decimal(repr(resets - starts))
            projected = (spend * length / elapsed).quantize(MICRO) if elapsed < length else spend
            if spend >= budget.limit:
                runs_out = None
            elif spend > 0:
                moment = starts + float(elapsed * budget.limit / spend)
                if moment < resets:  # the day whose spend reaches the limit (a limit met at midnight: the day before)
                    runs_out = datetime.fromtimestamp(moment - 0.001, window.zone).date()
    return BudgetLine(budget.name, budget.scope, period.text, budget.limit, spend, starts, resets, as_of,
                      projected, runs_out)


def build(
    source: Source,
    period: DigestPeriod,
    budgets: Sequence[Budget] = (),
    *,
    anomaly_factor: Decimal = Decimal(2),
    trace_url_template: str | None = None,
) -> Digest:
    """Every number of the digest of ``period``, read from ``source``."""
    total = source.spend(None, period.start, period.end)[0]
    count = BASELINE[period.kind]
    history = [_total(source, period.shifted(-i)) for i in range(1, count + 1)]
    average = (sum(history, Decimal(0)) / count).quantize(MICRO)
    breakdowns = {dimension: source.spend(dimension, period.start, period.end) for dimension in BREAKDOWNS}
    users = source.spend("user", period.start, period.end)
    costliest = source.costliest(period.start, period.end, TOP_CALLS)
    lines = [budget_line(source, budget, period.end) for budget in budgets]
    last_day = DigestPeriod("day", period.first).shifted(period.days - 1)
    last_day_spend = _total(source, last_day) if period.kind == "week" else total.cost
    week_before = (
        history if period.kind == "day" else [_total(source, last_day.shifted(-i)) for i in range(1, 8)]
    )
    anomaly = Anomaly(last_day.first, last_day_spend, (sum(week_before, Decimal(0)) / 7).quantize(MICRO),
                      anomaly_factor)
    return Digest(
        period=period,
        source=source.name,
        total=total,
        previous=history[0],
        average=average,
        baseline=count,
        breakdowns=breakdowns,
        users=users,
        costliest=costliest,
        budgets=lines,
        anomaly=anomaly,
        trace_url_template=trace_url_template,
    )
