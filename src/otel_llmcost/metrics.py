"""The metric instruments and a cheap in-process aggregator for the monotonic counters.

An OpenTelemetry SDK ``Counter.add`` costs ~8 µs here (attribute cleaning and hashing on every call);
a priced call feeds a dozen counter points. So counters are summed in plain dicts under a lock and
reported through observable counters at collection time: the exported cumulative sums are identical,
the hot path pays a dict update. Histograms (token usage, duration, request cost) go to the SDK.
Knows metric names and attribute keys, nothing about SDKs or spans.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from . import names

AttrKey = tuple[tuple[str, Any], ...]

_reveal_new_series = False


def reveal_new_series() -> None:
    """From now on report new series with their sums at once: the process is exiting, no later collection."""
    global _reveal_new_series
    _reveal_new_series = True


# Part of every counter's description (Prometheus HELP): why a first scrape shows the counter at 0.
BORN_AT_ZERO = (
    "A new series reads 0 at its first export and its total from the next one, so that increase() counts all of it."
)


class CounterTable:
    """Cumulative sums keyed by an attribute tuple, exported by one observable counter.

    A series is first reported at 0 and only from the next collection on with its sum: Prometheus'
    ``increase()`` ignores the first sample of a new series, so a series born carrying $5 would
    count as $0. Reporting 0 first makes every dollar visible, one collection interval later.
    """

    __slots__ = ("_born", "_lock", "_sums")

    def __init__(self, lock: threading.Lock | None = None) -> None:
        self._lock = lock or threading.Lock()
        self._sums: dict[AttrKey, float] = {}
        self._born: set[AttrKey] = set()

    def add(self, key: AttrKey, value: float) -> None:
        add_together(self._lock, ((self, key, value),))

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            snapshot = list(self._sums.items())
            born = self._born
            reveal = _reveal_new_series
            observations = [
                Observation(value if reveal or key in born else 0, dict(key)) for key, value in snapshot
            ]
            born.update(key for key, _ in snapshot)
        return observations


Update = tuple[CounterTable, AttrKey, float]


def add_together(lock: threading.Lock, updates: Iterable[Update]) -> None:
    """Add to tables that all use ``lock`` (their shared one), under one acquisition: a call's points at once."""
    with lock:
        for table, key, value in updates:
            sums = table._sums
            sums[key] = sums.get(key, 0) + value


# Failures inside this package, by stage. Module-level: a failure can happen before instruments exist.
INSTRUMENTATION_ERRORS = CounterTable()


class ValueCap:
    """Bounds the distinct values of one metric attribute per process; the rest become "other"."""

    __slots__ = ("_lock", "_seen", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str | None:
        if value is None or value in self._seen:
            return value
        return value if self.admit(value) else names.OVERFLOW_VALUE

    def admit(self, value: str) -> bool:
        """True when ``value`` may be a label (already seen, or room left); False folds it into "other"."""
        if value in self._seen:
            return True
        with self._lock:
            if value in self._seen:
                return True
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return True
        return False


Amount = Decimal | float


def _exact(value: Amount) -> Decimal:
    """A USD amount as Decimal; a float through its shortest repr (the decimal it was made from)."""
    return value if isinstance(value, Decimal) else Decimal(repr(value))


class BudgetGauges:
    """The observable gauges' view of budget state: spend, limit, remaining per budget, read at collection.

    ``source`` (set by the instrumentor) returns (budget name, spend USD, limit USD) for every budget; one
    read serves the three gauges of a collection (they are observed one after the other). Amounts are
    Decimal (floats accepted): remaining is computed in Decimal and converted to float once, so a $0.05 limit
    minus $0.036 spent reads 0.014, not float subtraction's 0.014000000000000005.
    """

    def __init__(self) -> None:
        self.source: Callable[[], Sequence[tuple[str, Amount, Amount | None]]] | None = None
        """(budget, spend, limit) per budget; limit None for a per-member budget (each member has its own):
        its spend is the members' total, and it has no limit or remaining series."""
        self.members: Callable[[], Sequence[tuple[str, int]]] | None = None
        """(budget, members over its lowest threshold) per per-member budget."""
        self._lock = threading.Lock()
        self._read_at = -1.0
        self._rows: Sequence[tuple[str, Amount, Amount | None]] = []

    def _read(self) -> Sequence[tuple[str, Amount, Amount | None]]:
        source = self.source
        if source is None:
            return []
        with self._lock:
            now = time.monotonic()
            if now - self._read_at > 1.0:
                self._rows = source()
                self._read_at = now
            return self._rows

    def _observe(self, pick: Callable[[Decimal, Decimal], Decimal]) -> list[Observation]:
        return [
            Observation(float(pick(_exact(spend), _exact(limit))), {names.LLMCOST_BUDGET_NAME: name})
            for name, spend, limit in self._read()
            if limit is not None
        ]

    def spend(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(float(_exact(spend)), {names.LLMCOST_BUDGET_NAME: name}) for name, spend, _ in self._read()
        ]

    def members_over(self, _options: CallbackOptions) -> Iterable[Observation]:
        source = self.members
        if source is None:
            return []
        return [Observation(count, {names.LLMCOST_BUDGET_NAME: name}) for name, count in source()]

    def limit(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(lambda spend, limit: limit)

    def remaining(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(lambda spend, limit: max(limit - spend, Decimal(0)))


_by_meter: weakref.WeakKeyDictionary[Meter, Instruments] = weakref.WeakKeyDictionary()


def instruments_for(meter: Meter, request_cost_buckets: Sequence[float], latest: bool = False) -> Instruments:
    """One set of instruments per meter: instrumenting again after uninstrument() must not register
    a second callback per counter (the SDK would export both). ``latest``: also the newest GenAI metrics
    (OTEL_SEMCONV_STABILITY_OPT_IN), created once per meter the first time a mode asks for them."""
    found = _by_meter.get(meter)
    if found is None:
        found = _by_meter[meter] = Instruments(meter, request_cost_buckets)
    if latest:
        found.ensure_latest(meter)
    return found


class LatestInstruments:
    """The newest GenAI metrics (semantic-conventions-genai main), only in the gen_ai_latest_experimental modes:
    inference duration and time to first chunk, per-call input/output token histograms, and the token counters
    (summed in-process like ours, in tables that share the call lock)."""

    def __init__(self, meter: Meter, call_lock: threading.Lock) -> None:
        self.duration = meter.create_histogram(
            names.METRIC_INFERENCE_DURATION,
            unit=names.UNIT_SECONDS,
            description="GenAI inference operation duration.",
            explicit_bucket_boundaries_advisory=list(names.DURATION_BUCKETS),
        )
        self.time_to_first_chunk = meter.create_histogram(
            names.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK,
            unit=names.UNIT_SECONDS,
            description="Time from the request to the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(names.TIME_TO_FIRST_CHUNK_BUCKETS),
        )
        buckets = [float(b) for b in names.TOKEN_USAGE_BUCKETS]
        self.input_tokens = meter.create_histogram(
            names.METRIC_INFERENCE_OPERATION_INPUT_TOKENS, unit=names.UNIT_TOKEN,
            description="Input tokens per inference operation.", explicit_bucket_boundaries_advisory=buckets,
        )
        self.output_tokens = meter.create_histogram(
            names.METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS, unit=names.UNIT_TOKEN,
            description="Output tokens per inference operation.", explicit_bucket_boundaries_advisory=buckets,
        )
        self.usage: dict[str, CounterTable] = {}
        for token_type, name in names.INFERENCE_USAGE_COUNTERS:
            table = self.usage[token_type] = CounterTable(call_lock)
            meter.create_observable_counter(
                name, callbacks=[table.observe], unit=names.UNIT_TOKEN,
                description=f"Tokens used by inference operations ({token_type}). {BORN_AT_ZERO}",
            )


class Instruments:
    """Every instrument of this package on one meter."""

    latest: LatestInstruments | None = None
    """The newest GenAI metrics, once a gen_ai_latest_experimental mode asked for them (ensure_latest)."""

    def ensure_latest(self, meter: Meter) -> LatestInstruments:
        if self.latest is None:
            self.latest = LatestInstruments(meter, self.call_lock)
        return self.latest

    def __init__(self, meter: Meter, request_cost_buckets: Sequence[float]) -> None:
        self.token_usage = meter.create_histogram(
            names.METRIC_TOKEN_USAGE,
            unit=names.UNIT_TOKEN,
            description="Number of input and output tokens used per call.",
            explicit_bucket_boundaries_advisory=[float(b) for b in names.TOKEN_USAGE_BUCKETS],
        )
        self.duration = meter.create_histogram(
            names.METRIC_OPERATION_DURATION,
            unit=names.UNIT_SECONDS,
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(names.DURATION_BUCKETS),
        )
        self.time_to_first_chunk = meter.create_histogram(
            names.METRIC_TIME_TO_FIRST_CHUNK,
            unit=names.UNIT_SECONDS,
            description="Time from the request to the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(names.TIME_TO_FIRST_CHUNK_BUCKETS),
        )
        self.request_cost = meter.create_histogram(
            names.METRIC_REQUEST_COST,
            unit=names.UNIT_USD,
            description="USD cost of each priced call.",
            explicit_bucket_boundaries_advisory=list(request_cost_buckets),
        )
        # Roll-ups (issue 18): one point per local root span that had LLM calls under it, at its end.
        self.operation_cost = meter.create_histogram(
            names.METRIC_OPERATION_COST,
            unit=names.UNIT_USD,
            description="USD cost of the LLM calls of one request of the app (a local root span), by route.",
            explicit_bucket_boundaries_advisory=list(request_cost_buckets),
        )
        self.operation_calls = meter.create_histogram(
            names.METRIC_OPERATION_CALLS,
            unit=names.UNIT_REQUEST,
            description="LLM calls made by one request of the app (a local root span), by route.",
            explicit_bucket_boundaries_advisory=[float(b) for b in names.OPERATION_CALLS_BUCKETS],
        )
        self.rollup_late = CounterTable()
        # The tables a finished call adds to share one lock: its points go in under one acquisition.
        self.call_lock = threading.Lock()
        self.cost = CounterTable(self.call_lock)
        self.tokens = CounterTable(self.call_lock)
        self.savings = CounterTable(self.call_lock)
        self.unpriced = CounterTable(self.call_lock)
        self.requests = CounterTable(self.call_lock)
        self.hardware_cost = CounterTable(self.call_lock)
        self.provider_cost_difference = CounterTable(self.call_lock)
        self.errors = INSTRUMENTATION_ERRORS
        self.folded = CounterTable()
        self.budget_crossings = CounterTable()
        self.budget_blocked = CounterTable()
        self.budget_store_errors = CounterTable()
        self.budget_members_evicted = CounterTable()
        self.budget_gauges = BudgetGauges()
        for name, unit, table, description in (
            (names.METRIC_COST, names.UNIT_USD, self.cost, "USD spent, by cost component."),
            (names.METRIC_TOKENS, names.UNIT_TOKEN, self.tokens, "Tokens used, by type (cache, reasoning included)."),
            (names.METRIC_SAVINGS, names.UNIT_USD, self.savings, "USD saved by prompt-cache reads and batches."),
            (names.METRIC_UNPRICED, names.UNIT_REQUEST, self.unpriced, "Calls whose model has no known price."),
            (names.METRIC_REQUESTS, names.UNIT_REQUEST, self.requests, "Calls made, failed ones with error.type."),
            (
                names.METRIC_HARDWARE_COST,
                names.UNIT_USD,
                self.hardware_cost,
                "Internal USD cost of self-hosted calls at the configured hardware rate (not API spend).",
            ),
            (
                names.METRIC_PROVIDER_COST_DIFFERENCE,
                names.UNIT_USD,
                self.provider_cost_difference,
                "USD between our cost and the provider-reported one (OpenRouter usage.cost, xAI cost_in_usd_ticks), "
                "by llmcost.cost.provider.direction (over: ours is higher; equal: a call where both agree).",
            ),
            (
                names.METRIC_INSTRUMENTATION_ERRORS,
                names.UNIT_ERROR,
                self.errors,
                "Failures inside otel-llmcost (never seen by the caller), by stage.",
            ),
            (
                names.METRIC_ATTRIBUTION_FOLDED,
                names.UNIT_VALUE,
                self.folded,
                "Calls whose attribution value was folded into 'other' past the per-key cap.",
            ),
            (
                names.METRIC_BUDGET_THRESHOLD_CROSSINGS,
                names.UNIT_EVENT,
                self.budget_crossings,
                "Budget warning thresholds crossed, once per threshold per period.",
            ),
            (names.METRIC_BUDGET_BLOCKED, names.UNIT_REQUEST, self.budget_blocked, "Calls refused by a budget."),
            (
                names.METRIC_ROLLUP_LATE_CALLS,
                names.UNIT_REQUEST,
                self.rollup_late,
                "LLM calls that ended after their request's root span had ended (a stream read on): in no roll-up.",
            ),
            (
                names.METRIC_BUDGET_STORE_ERRORS,
                names.UNIT_ERROR,
                self.budget_store_errors,
                "Budget store operations that failed or were skipped while it was unreachable, by llmcost.stage.",
            ),
            (
                names.METRIC_BUDGET_MEMBERS_EVICTED,
                names.UNIT_MEMBER,
                self.budget_members_evicted,
                "Members of per-member budgets the memory store forgot past its cap (they start again from $0).",
            ),
        ):
            meter.create_observable_counter(
                name, callbacks=[table.observe], unit=unit, description=f"{description} {BORN_AT_ZERO}"
            )
        gauges = self.budget_gauges
        for name, callback, description in (
            (names.METRIC_BUDGET_SPEND, gauges.spend, "USD spent in the budget's current period."),
            (names.METRIC_BUDGET_LIMIT, gauges.limit, "The budget's limit in USD."),
            (names.METRIC_BUDGET_REMAINING, gauges.remaining, "USD left in the budget's period (never below 0)."),
        ):
            meter.create_observable_gauge(name, callbacks=[callback], unit=names.UNIT_USD, description=description)
        meter.create_observable_gauge(
            names.METRIC_BUDGET_MEMBERS_OVER_THRESHOLD,
            callbacks=[gauges.members_over],
            unit=names.UNIT_MEMBER,
            description="Members of a per-member budget whose spend reached its lowest threshold this period.",
        )
