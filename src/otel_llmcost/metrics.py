"""The metric instruments and a cheap in-process aggregator for the monotonic counters.

An OpenTelemetry SDK ``Counter.add`` costs ~8 µs here (attribute cleaning and hashing on every call);
a priced call feeds a dozen counter points. So counters are summed in plain dicts under a lock and
reported through observable counters at collection time: the exported cumulative sums are identical,
the hot path pays a dict update. Histograms (token usage, duration, request cost) go to the SDK.
Knows metric names and attribute keys, nothing about SDKs or spans.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from . import names

AttrKey = tuple[tuple[str, Any], ...]

_reveal_new_series = False


def reveal_new_series() -> None:
    """From now on report new series with their sums at once: the process is exiting, no later collection."""
    global _reveal_new_series
    _reveal_new_series = True


class CounterTable:
    """Cumulative sums keyed by an attribute tuple, exported by one observable counter.

    A series is first reported at 0 and only from the next collection on with its sum: Prometheus'
    ``increase()`` ignores the first sample of a new series, so a series born carrying $5 would
    count as $0. Reporting 0 first makes every dollar visible, one collection interval later.
    """

    __slots__ = ("_born", "_lock", "_sums")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[AttrKey, float] = {}
        self._born: set[AttrKey] = set()

    def add(self, key: AttrKey, value: float) -> None:
        with self._lock:
            sums = self._sums
            sums[key] = sums.get(key, 0) + value

    def add_many(self, items: Iterable[tuple[AttrKey, float]]) -> None:
        with self._lock:
            sums = self._sums
            for key, value in items:
                sums[key] = sums.get(key, 0) + value

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


# Failures inside this package, by stage. Module-level: a failure can happen before instruments exist.
INSTRUMENTATION_ERRORS = CounterTable()


class ValueCap:
    """Bounds the distinct values of one metric attribute per process; the rest become "other"."""

    __slots__ = ("_lock", "_seen", "folded", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.folded = 0

    def __call__(self, value: str | None) -> str | None:
        if value is None or value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
            self.folded += 1
        return names.OVERFLOW_VALUE


_by_meter: weakref.WeakKeyDictionary[Meter, Instruments] = weakref.WeakKeyDictionary()


def instruments_for(meter: Meter, request_cost_buckets: Sequence[float]) -> Instruments:
    """One set of instruments per meter: instrumenting again after uninstrument() must not register
    a second callback per counter (the SDK would export both)."""
    found = _by_meter.get(meter)
    if found is None:
        found = _by_meter[meter] = Instruments(meter, request_cost_buckets)
    return found


class Instruments:
    """Every instrument of this package on one meter."""

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
        self.cost = CounterTable()
        self.tokens = CounterTable()
        self.savings = CounterTable()
        self.unpriced = CounterTable()
        self.requests = CounterTable()
        self.errors = INSTRUMENTATION_ERRORS
        for name, unit, table, description in (
            (names.METRIC_COST, names.UNIT_USD, self.cost, "USD spent, by cost component."),
            (names.METRIC_TOKENS, names.UNIT_TOKEN, self.tokens, "Tokens used, by type (cache, reasoning included)."),
            (names.METRIC_SAVINGS, names.UNIT_USD, self.savings, "USD saved by prompt-cache reads and batches."),
            (names.METRIC_UNPRICED, names.UNIT_REQUEST, self.unpriced, "Calls whose model has no known price."),
            (names.METRIC_REQUESTS, names.UNIT_REQUEST, self.requests, "Calls made, failed ones with error.type."),
            (
                names.METRIC_INSTRUMENTATION_ERRORS,
                names.UNIT_ERROR,
                self.errors,
                "Failures inside otel-llmcost (never seen by the caller), by stage.",
            ),
        ):
            meter.create_observable_counter(name, callbacks=[table.observe], unit=unit, description=description)
