"""The budget guard: admits a call before it is sent (reserving its worst case), settles it after it ended.

``admit`` runs in the one wrapper skeleton every adapter uses, just before the SDK is called: when a
``block`` budget of the call's scope has no room for the call's worst case, the call ends (span with
``error.type``, the budget's name, ``llmcost.budget.blocked``) and ``BudgetExceededError`` is raised;
nothing is sent. ``settle`` runs once when the call ends (success, error, cancellation, abandoned
stream): the reservation becomes the real cost, the ledger row is written, and each threshold the
budget's spend has reached fires once per period: a span event, a log record, the registered
callbacks and a counter. Store failures follow the failure rule (open: go ahead, warn, count; closed:
refuse) and trip a breaker, so an unreachable store costs one timeout, not one per call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from .. import ledger, names
from ..calls import Admission
from ..errors import BudgetError, BudgetExceededError, BudgetUnavailableError
from ..guard import internal_error
from ..metrics import Instruments
from ..pricing import PriceBook
from .definitions import Budget
from .estimate import worst_case
from .periods import RollingPeriod, Window
from .store import UNLIMITED, Line, SpendStore, StoreError, member_key, to_pico, to_usd

if TYPE_CHECKING:
    from ..calls import Call, SpanEvent
    from ..records import Request
    from ..telemetry import Outcome

logger = logging.getLogger("otel_llmcost.budgets")

RETRY_AFTER = 5.0
"""Seconds a store that failed is left alone (the failure rule applies at once) before it is tried again."""


@dataclass(frozen=True)
class ThresholdCrossing:
    """What a threshold callback receives: a budget's spend reached ``threshold`` x ``limit`` in this period."""

    budget: str
    threshold: Decimal
    """Fraction of the limit (1 is the limit itself)."""
    spend: Decimal
    """USD settled in the period when the crossing was seen."""
    limit: Decimal
    scope: str
    action: str
    resets_at: datetime
    """When the calendar period ends; for a rolling window (which never resets), its next step."""
    member: str | None = None
    """For a per-member (wildcard) budget: the member whose spend crossed (spend and limit are then its own)."""


ThresholdCallback = Callable[[ThresholdCrossing], None]
_callbacks: list[ThresholdCallback] = []


def on_budget_threshold(callback: ThresholdCallback) -> ThresholdCallback:
    """Call ``callback(crossing)`` each time a budget crosses a threshold (once per threshold per period).

    Usable as a decorator. Runs in the thread of the call whose settlement crossed it: keep it quick.
    A callback that raises is logged and counted, never seen by the call.
    """
    _callbacks.append(callback)
    return callback


def remove_budget_threshold_callback(callback: ThresholdCallback) -> None:
    if callback in _callbacks:
        _callbacks.remove(callback)


_BLOCKED = object()  # the ticket of a call a budget refused: nothing to settle


@dataclass(slots=True)
class _Ticket:
    budgets: tuple[Budget, ...]
    reservation: str | None = None


class BudgetEnforcer:
    """The budgets of one ``instrument()``, their store, and what admits and settles calls."""

    def __init__(
        self,
        budgets: Sequence[Budget],
        store: SpendStore,
        prices: PriceBook,
        instruments: Instruments,
        *,
        fail_closed: bool = False,
        default_max_tokens: int = 4096,
        reservation_ttl: float = 600.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.budgets = tuple(budgets)
        self.store = store
        self._prices = prices
        self._m = instruments
        self._fail_closed = fail_closed
        self._default_max_tokens = default_max_tokens
        self._ttl = reservation_ttl
        self._clock = clock or time.time
        self._ledger = store.keeps_ledger
        self._limits = {b.name: to_pico(b.limit) for b in self.budgets}
        # Per budget: (threshold, spend in picodollars at which it fires).
        self._marks = {b.name: [(t, to_pico(t * b.limit, round_up=True)) for t in b.thresholds] for b in self.budgets}
        # Threshold marks this process already knows are taken (by it or another), until they expire:
        # spares a store round trip on every later settlement of the period.
        self._marked: dict[tuple[str, Decimal, str], float] = {}
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._members = tuple(b for b in self.budgets if b.per_member)
        store.on_evict = self._evicted  # the memory store forgets members past its cap: counted by budget

    # --- lines: which spend a call counts against -------------------------------------------------
    def _lines(
        self, budgets: Sequence[Budget], model: str | None, attribution: Any, now: float
    ) -> tuple[list[Line], list[tuple[Budget, str | None]]]:
        """The store lines of a call's budgets, and the (budget, member) of each line.

        A budget has one line; a per-member budget two: the member's (its own limit) and the members' total
        (no limit: it only adds up, for the gauges). The total's member is ``None``.
        """
        lines: list[Line] = []
        owners: list[tuple[Budget, str | None]] = []
        for budget in budgets:
            window = budget.period.window(now)
            if budget.per_member:
                member = budget.value(model, attribution) or ""
                lines.append(self._member_line(budget, member, window))
                owners.append((budget, member))
                lines.append(Line(budget.name, UNLIMITED, window))
            else:
                lines.append(Line(budget.name, self._limits[budget.name], window))
            owners.append((budget, None))
        return lines, owners

    def _member_line(self, budget: Budget, member: str, window: Any) -> Line:
        """A member's line: its own key and limit (an override, or the budget's limit)."""
        limit = self._limits[budget.name] if member not in budget.overrides else to_pico(budget.overrides[member])
        return Line(member_key(budget.name, member), limit, window, budget.name)

    def _thresholds_of(self, budget: Budget, line: Line) -> list[tuple[Decimal, int]]:
        """(threshold, spend in picodollars at which it fires) of a line: a member's own limit for a member's."""
        if line.member_of is None:
            return self._marks[budget.name]
        return [(t, to_pico(t * to_usd(line.limit), round_up=True)) for t in budget.thresholds]

    def _evicted(self, budget: str) -> None:
        self._m.budget_members_evicted.add(((names.LLMCOST_BUDGET_NAME, budget),), 1)

    # --- before the call is sent ------------------------------------------------------------------
    def admit(self, request: Request) -> Admission | None:
        """Reserve the call's worst case against its block budgets: its ticket, or a refusal (``BudgetError``)
        that the call raises instead of sending."""
        try:
            return self._admit(request)
        except Exception:
            internal_error("budget")
            return None

    def _admit(self, request: Request) -> Admission:
        matched = self._match(request.model, request.attribution)
        blocking = [b for b in matched if b.blocks]
        ticket = _Ticket(matched)
        if not blocking:
            return Admission(ticket)
        now = self._clock()
        estimate = worst_case(self._prices, request, self._default_max_tokens)
        amount = to_pico(estimate, round_up=True) if estimate is not None else 0
        lines, owners = self._lines(blocking, request.model, request.attribution, now)
        reservation = uuid.uuid4().hex
        try:
            refusal = self._call_store("reserve", lambda: self.store.reserve(
                reservation, lines, amount, now, now + self._ttl, os.getpid()
            ))
        except StoreError as exc:
            if not self._fail_closed:
                return Admission(ticket)
            error: BudgetError = BudgetUnavailableError(
                f"budget store {self.store.url} could not be reached ({exc}); with "
                f"{names.ENV_BUDGET_STORE_FAILURE}=closed no call is sent until it answers"
            )
            return self._refuse(blocking[0], error)
        if refusal is None:
            ticket.reservation = reservation
            return Admission(ticket)
        budget, member = owners[refusal.index]
        line = lines[refusal.index]
        window = line.window
        error = BudgetExceededError(
            budget.name,
            to_usd(refusal.settled),
            to_usd(line.limit),
            datetime.fromtimestamp(window.resets, window.zone),
            reserved=to_usd(refusal.pending),
            requested=to_usd(amount),
            rolling_hours=budget.period.hours if isinstance(budget.period, RollingPeriod) else None,
            member=(budget.scope_key or "", member) if member is not None else None,
        )
        return self._refuse(budget, error)

    def _refuse(self, budget: Budget, error: BudgetError) -> Admission:
        """Count the refusal; the call ends (its span names the budget) and raises ``error``."""
        self._m.budget_blocked.add(((names.LLMCOST_BUDGET_NAME, budget.name),), 1)
        return Admission(_BLOCKED, error, budget.name)

    def _match(self, model: str | None, attribution: Any) -> tuple[Budget, ...]:
        return tuple(b for b in self.budgets if b.matches(model, attribution))

    # --- after the call ended ---------------------------------------------------------------------
    def settle(self, call: Call, outcome: Outcome) -> list[SpanEvent]:
        """Turn the call's reservation into its real cost; fire the thresholds its spend reached (the span
        events the call adds to its span are returned)."""
        events: list[SpanEvent] = []
        try:
            self._settle(call, outcome, events)
        except Exception:
            internal_error("budget")
        return events

    def _settle(self, call: Call, outcome: Outcome, events: list[SpanEvent]) -> None:
        ticket = call.ticket
        if ticket is _BLOCKED:  # nothing to settle; the ledger still records the refused call (error.type, no cost)
            if not self._ledger:
                return
            ticket = _Ticket(())
        request = call.request
        if ticket is None:  # a call that was not admitted (batch results): priced after the fact
            ticket = _Ticket(self._match(request.model, request.attribution))
        if not ticket.budgets and ticket.reservation is None and not self._ledger:
            return
        now = self._clock()
        cost = outcome.cost
        amount = to_pico(cost.exact) if cost is not None else 0
        lines, owners = self._lines(ticket.budgets, request.model, request.attribution, now)
        row = self._row(call, outcome, now) if self._ledger else None
        try:
            totals = self._call_store(
                "settle", lambda: self.store.settle(ticket.reservation, lines, amount, now, row)
            )
        except StoreError:
            return
        if amount:
            for (budget, member), line, total in zip(owners, lines, totals, strict=True):
                if line.limit != UNLIMITED:  # a members' total has no threshold
                    self._thresholds(events, budget, line, total, now, member)

    def _thresholds(
        self, events: list[SpanEvent], budget: Budget, line: Line, total: int, now: float, member: str | None = None
    ) -> None:
        marks = self._thresholds_of(budget, line)
        for threshold, at in marks:
            if total < at:
                return
            key = (line.budget, threshold, line.window.mark)
            if self._marked.get(key, 0.0) > now:
                continue
            # a member crossing the lowest threshold joins its budget's count (the members_over_threshold gauge)
            group = _group(budget, line.window) if line.member_of is not None and threshold == marks[0][0] else None
            try:
                first = self._mark_once(f"{line.budget}:{threshold}:{line.window.mark}", line, now, group)
            except StoreError:
                return
            with self._lock:
                if len(self._marked) > 10_000:
                    self._marked.clear()
                self._marked[key] = line.window.mark_expires
            if first:
                self._fire(events, budget, threshold, total, line, member)

    def _mark_once(self, mark: str, line: Line, now: float, group: str | None = None) -> bool:
        expires = line.window.mark_expires
        return bool(self._call_store("mark", lambda: self.store.mark_once(mark, expires, now, group)))

    def _fire(
        self, events: list[SpanEvent], budget: Budget, threshold: Decimal, total: int, line: Line,
        member: str | None = None,
    ) -> None:
        spend = to_usd(total)
        limit = to_usd(line.limit)
        resets = datetime.fromtimestamp(line.window.resets, line.window.zone)
        scope = budget.scope if member is None else f"{budget.scope_key}={member}"
        crossing = ThresholdCrossing(
            budget.name, threshold, spend, limit, scope, budget.action, resets, member
        )  # fmt: skip
        attributes: dict[str, str | float] = {
            names.LLMCOST_BUDGET_NAME: budget.name,
            names.LLMCOST_BUDGET_THRESHOLD: float(threshold),
            names.LLMCOST_BUDGET_SPEND_USD: float(spend),
            names.LLMCOST_BUDGET_LIMIT_USD: float(limit),
        }
        events.append((names.LLMCOST_BUDGET_THRESHOLD_EVENT, attributes))
        self._m.budget_crossings.add(
            ((names.LLMCOST_BUDGET_NAME, budget.name), (names.LLMCOST_BUDGET_THRESHOLD, float(threshold))), 1
        )
        period = budget.period
        if isinstance(period, RollingPeriod):  # no reset time: spend leaves the window as it ages
            when = f"spend over the last {period.hours} h is counted; room frees up as older calls leave the window"
        else:
            when = f"resets at {resets.isoformat()}"
        logger.warning(
            "otel-llmcost: budget %r (%s, scope %s) reached %s%% of its $%s limit: $%s spent; %s",
            budget.name, budget.action, scope, _percent(threshold), limit, spend, when,
            extra=attributes,
        )  # fmt: skip
        for callback in list(_callbacks):
            try:
                callback(crossing)
            except Exception:
                internal_error("budget_callback")
                logger.warning("otel-llmcost: budget threshold callback %r raised", callback, exc_info=True)

    # --- the store ---------------------------------------------------------------------------------
    def _call_store(self, stage: str, operation: Callable[[], Any]) -> Any:
        """Run a store operation; StoreError when it fails or while the store is left alone after a failure."""
        key = ((names.LLMCOST_STAGE, stage),)
        if self._down_until and time.monotonic() < self._down_until:
            self._m.budget_store_errors.add(key, 1)
            raise StoreError("the store failed moments ago")
        try:
            result = operation()
        except StoreError as exc:
            self._failed(key, exc)
            raise
        except Exception as exc:
            self._failed(key, exc)
            raise StoreError(str(exc)) from exc
        if self._down_until:
            self._down_until = 0.0
            logger.warning("otel-llmcost: budget store %s answers again", self.store.url)
        return result

    def _failed(self, key: Any, exc: BaseException) -> None:
        self._m.budget_store_errors.add(key, 1)
        self._down_until = time.monotonic() + RETRY_AFTER
        rule = "refused (fail closed)" if self._fail_closed else "allowed without a budget check (fail open)"
        logger.warning(
            "otel-llmcost: budget store %s failed (%s: %s); for %.0f s calls of block budgets are %s and spend is "
            "not recorded in the store",
            self.store.url, type(exc).__name__, exc, RETRY_AFTER, rule,
        )  # fmt: skip

    # --- state -------------------------------------------------------------------------------------
    def state(self) -> list[tuple[str, Decimal, Decimal | None]]:
        """(budget, spend USD, limit USD) of every budget now, for the gauges; empty when the store fails.

        A per-member budget reports its members' total and no limit (each member has its own).
        """
        if not self.budgets:
            return []
        now = self._clock()
        lines = [Line(b.name, self._limits[b.name], b.period.window(now)) for b in self.budgets]
        try:
            spends = self._call_store("read", lambda: self.store.spend(lines, now))
        except StoreError:
            return []
        return [
            (b.name, to_usd(s), None if b.per_member else b.limit)
            for b, (s, _) in zip(self.budgets, spends, strict=True)
        ]

    def members_over(self) -> list[tuple[str, int]]:
        """(budget, members whose spend reached its lowest threshold this period) of every per-member budget."""
        if not self._members:
            return []
        now = self._clock()
        groups = [_group(b, b.period.window(now)) for b in self._members]
        try:
            counts = self._call_store("read", lambda: self.store.count_marks(groups, now))
        except StoreError:
            return []
        return [(b.name, int(c)) for b, c in zip(self._members, counts, strict=True)]

    def close(self) -> None:
        try:
            self.store.close()
        except Exception:
            internal_error("budget")

    # --- the ledger row ----------------------------------------------------------------------------
    @staticmethod
    def _row(call: Call, outcome: Outcome, now: float) -> dict[str, Any]:
        context = call.span.get_span_context()
        if not context.is_valid:
            context = trace.get_current_span().get_span_context()
        return ledger.call_row(call.request, outcome, context, now)


def _group(budget: Budget, window: Window) -> str:
    """Where a per-member budget counts its members over its lowest threshold in one period (the gauge's value)."""
    return f"{budget.name}:{window.mark}"


def _percent(fraction: Decimal) -> str:
    return format((fraction * 100).normalize(), "f")
