"""The PromQL the dashboards and alert rules share: series names from names.py and the spend arithmetic.

Two Prometheus behaviours shape every expression here:

* ``increase()`` ignores the first sample of a new series and extrapolates to the window's edges. Our
  counters are born at 0 (metrics.CounterTable), so ``max_over_time - min_over_time`` over a window
  counts every dollar of a series that did not reset, exactly; a series that reset (a process restarted
  on the same scrape target) falls back to ``increase()``.
* PromQL has no calendar windows. Spend since UTC midnight (or since the 1st of the month) is the sum of
  per-step growth over a subquery whose steps are aligned to the day, keeping only steps of the current
  day by the parity of the day number (month: the month number modulo 3, the most a 31-day window can
  span), plus the growth since the last step, so there is no lag.

Knows metric and label names, nothing about Grafana or files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .. import names

label = names.prometheus_label
"""The Prometheus label an OpenTelemetry attribute becomes (what both the SDK and the collector do)."""


@dataclass(frozen=True)
class Series:
    """One metric as Prometheus stores it."""

    metric: str
    unit: str
    kind: str  # counter, histogram or gauge

    @property
    def name(self) -> str:
        return names.prometheus_name(self.metric, self.unit, self.kind)

    @property
    def bucket(self) -> str:
        return self.name + "_bucket"

    @property
    def count(self) -> str:
        return self.name + "_count"

    @property
    def sum(self) -> str:
        return self.name + "_sum"


COST = Series(names.METRIC_COST, names.UNIT_USD, "counter")
TOKENS = Series(names.METRIC_TOKENS, names.UNIT_TOKEN, "counter")
SAVINGS = Series(names.METRIC_SAVINGS, names.UNIT_USD, "counter")
REQUESTS = Series(names.METRIC_REQUESTS, names.UNIT_REQUEST, "counter")
UNPRICED = Series(names.METRIC_UNPRICED, names.UNIT_REQUEST, "counter")
REQUEST_COST = Series(names.METRIC_REQUEST_COST, names.UNIT_USD, "histogram")
TOKEN_USAGE = Series(names.METRIC_TOKEN_USAGE, names.UNIT_TOKEN, "histogram")
DURATION = Series(names.METRIC_OPERATION_DURATION, names.UNIT_SECONDS, "histogram")
TIME_TO_FIRST_CHUNK = Series(names.METRIC_TIME_TO_FIRST_CHUNK, names.UNIT_SECONDS, "histogram")
# The newest names of the same histograms (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental[/dup]):
# panels read both through any_of(), so they work in every mode and across a switch.
INFERENCE_DURATION = Series(names.METRIC_INFERENCE_DURATION, names.UNIT_SECONDS, "histogram")
INFERENCE_TIME_TO_FIRST_CHUNK = Series(names.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK, names.UNIT_SECONDS, "histogram")
INSTRUMENTATION_ERRORS = Series(names.METRIC_INSTRUMENTATION_ERRORS, names.UNIT_ERROR, "counter")
ATTRIBUTION_FOLDED = Series(names.METRIC_ATTRIBUTION_FOLDED, names.UNIT_VALUE, "counter")
BUDGET_SPEND = Series(names.METRIC_BUDGET_SPEND, names.UNIT_USD, "gauge")
BUDGET_LIMIT = Series(names.METRIC_BUDGET_LIMIT, names.UNIT_USD, "gauge")
BUDGET_REMAINING = Series(names.METRIC_BUDGET_REMAINING, names.UNIT_USD, "gauge")
BUDGET_CROSSINGS = Series(names.METRIC_BUDGET_THRESHOLD_CROSSINGS, names.UNIT_EVENT, "counter")
BUDGET_BLOCKED = Series(names.METRIC_BUDGET_BLOCKED, names.UNIT_REQUEST, "counter")
BUDGET_STORE_ERRORS = Series(names.METRIC_BUDGET_STORE_ERRORS, names.UNIT_ERROR, "counter")
BUDGET_MEMBERS_OVER = Series(names.METRIC_BUDGET_MEMBERS_OVER_THRESHOLD, names.UNIT_MEMBER, "gauge")
BUDGET_MEMBERS_EVICTED = Series(names.METRIC_BUDGET_MEMBERS_EVICTED, names.UNIT_MEMBER, "counter")
HARDWARE_COST = Series(names.METRIC_HARDWARE_COST, names.UNIT_USD, "counter")
# Served by `otel-llmcost reconcile --serve`, not by the instrumentation.
RECONCILE_COST = Series(names.METRIC_RECONCILE_COST, names.UNIT_USD, "gauge")
RECONCILE_DRIFT = Series(names.METRIC_RECONCILE_DRIFT, names.UNIT_RATIO, "gauge")
RECONCILE_UNEXPLAINED = Series(names.METRIC_RECONCILE_UNEXPLAINED, names.UNIT_USD, "gauge")
SAVINGS_POTENTIAL = Series(names.METRIC_SAVINGS_POTENTIAL, names.UNIT_USD, "gauge")  # otel-llmcost advise --serve
# Roll-ups (issue 18): one point per request of the app (local root span) with LLM calls.
OPERATION_COST = Series(names.METRIC_OPERATION_COST, names.UNIT_USD, "histogram")
OPERATION_CALLS = Series(names.METRIC_OPERATION_CALLS, names.UNIT_REQUEST, "histogram")
ROLLUP_LATE = Series(names.METRIC_ROLLUP_LATE_CALLS, names.UNIT_REQUEST, "counter")

ALL_SERIES: tuple[Series, ...] = (
    COST, TOKENS, SAVINGS, REQUESTS, UNPRICED, REQUEST_COST, TOKEN_USAGE, DURATION, TIME_TO_FIRST_CHUNK,
    INSTRUMENTATION_ERRORS, ATTRIBUTION_FOLDED, BUDGET_SPEND, BUDGET_LIMIT, BUDGET_REMAINING,
    BUDGET_CROSSINGS, BUDGET_BLOCKED, BUDGET_STORE_ERRORS, BUDGET_MEMBERS_OVER, BUDGET_MEMBERS_EVICTED, HARDWARE_COST,
    RECONCILE_COST, RECONCILE_DRIFT, RECONCILE_UNEXPLAINED,
    SAVINGS_POTENTIAL,
    OPERATION_COST, OPERATION_CALLS, ROLLUP_LATE,
    INFERENCE_DURATION, INFERENCE_TIME_TO_FIRST_CHUNK,
)

# The service is the scrape job: the collector's prometheus exporter (scraped with honor_labels), Prometheus
# 3's OTLP endpoint and a direct scrape of the SDK's exporter (job named after the service) all put it there.
SERVICE = "job"
PROVIDER = label(names.GEN_AI_PROVIDER_NAME)
MODEL = label(names.GEN_AI_REQUEST_MODEL)
FEATURE = label(names.LLMCOST_FEATURE)
TEAM = label(names.LLMCOST_TEAM)
USER = label(names.USER_ID)
TOKEN_TYPE = label(names.GEN_AI_TOKEN_TYPE)
COMPONENT = label(names.LLMCOST_COST_COMPONENT)
SAVINGS_KIND = label(names.LLMCOST_SAVINGS_KIND)
ERROR_TYPE = label(names.ERROR_TYPE)
STAGE = label(names.LLMCOST_STAGE)
BUDGET = label(names.LLMCOST_BUDGET_NAME)
DAY = label(names.LLMCOST_DAY)
DAY_CLOSED = label(names.LLMCOST_DAY_CLOSED)
COST_SOURCE = label(names.LLMCOST_COST_SOURCE)
OPPORTUNITY = label(names.LLMCOST_OPPORTUNITY)
OPERATION = label(names.LLMCOST_OPERATION)

# Dimensions a limit or a dashboard filter can select on: short name -> label.
DIMENSIONS: Mapping[str, str] = {
    "service": SERVICE, "provider": PROVIDER, "model": MODEL, "feature": FEATURE, "team": TEAM,
}

DAY_STEP = "5m"
# A series missing for less than this (a scrape target down, Prometheus restarted) keeps its previous value.
GAP = "1h"
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """Seconds in a Prometheus duration such as ``90s``, ``5m``, ``1h30m``; ValueError when malformed."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r} (examples: 30s, 5m, 1h, 45d)")
    return sum(int(n) * _SECONDS[u] for n, u in parts)


def quote(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(metric: str, matchers: Mapping[str, str] | Iterable[str] = ()) -> str:
    """``metric{...}``; a mapping gives equality matchers, an iterable gives matchers as written."""
    parts = [f"{k}={quote(v)}" for k, v in matchers.items()] if isinstance(matchers, Mapping) else list(matchers)
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def any_of(metrics: Sequence[str], matchers: Iterable[str] = ()) -> str:
    """A selector of whichever of ``metrics`` exist (``{__name__=~"a|b", ...}``): a panel that reads a metric
    renamed between OTEL_SEMCONV_STABILITY_OPT_IN modes reads the series of every mode. In the /dup mode an
    inference call is in both; per model (every latency panel groups by model) that doubles each bucket alike,
    which leaves quantiles as they are."""
    name = "__name__=~" + quote("|".join(re.escape(m) for m in metrics))
    return selector("", [name, *matchers])


def by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def le_matcher(bound: float) -> str:
    """The ``le`` label of a bucket bound as every exporter writes it: Go prints ``1``, Python and
    Prometheus 3 (which normalizes) ``1.0``."""
    plain = format(Decimal(repr(float(bound))).normalize(), "f")
    forms = {plain, repr(float(bound))}
    if "." not in plain:
        forms.add(plain + ".0")
    return "le=~" + quote("|".join(re.escape(f) for f in sorted(forms)))


# --- spend and other born-at-zero counters over a window ----------------------------------------------
def growth(series: str, window: str, offset: str = "") -> str:
    """Per-series growth of a born-at-zero counter in the window (ending ``offset`` ago): exact unless the
    series reset, then increase()."""
    s = f"{series}[{window}]" + (f" offset {offset}" if offset else "")
    return f"(max_over_time({s}) - min_over_time({s}) and resets({s}) == 0) or increase({s})"


def total(series: str, window: str, group: Sequence[str] = (), offset: str = "") -> str:
    """Sum of :func:`growth` over series, optionally by labels."""
    return f"sum{by(group)} ({growth(series, window, offset)})"


def or_zero(expr: str, labels: Mapping[str, str] | None = None) -> str:
    """``expr``, or one 0 sample (with ``labels``) when it has no series: a health count reads 0 on a
    healthy system, where the counter's series do not exist, instead of "No data"."""
    zero = "vector(0)"
    for name, value in (labels or {}).items():
        zero = f'label_replace({zero}, "{name}", {quote(value)}, "", "")'
    return f"({expr}) or on() {zero}"


def happened(series: str, window: str, group: Sequence[str] = ()) -> str:
    """Events counted in the window, by group, for any counter: a series born in the window with events
    already on it counts too (an SDK counter or histogram count starts at its first value, not at 0), and
    so does a process that stopped since."""
    born = f"last_over_time({series}[{window}]) unless last_over_time({series}[1h] offset {window})"
    return f"sum{by(group)} ((({growth(series, window)}) > 0) or (({born}) > 0))"


def expensive_requests(histogram: Series, matchers: Sequence[str], bound: float, window: str,
                       group: Sequence[str]) -> str:
    """Requests that cost more than a bucket bound in the window (the count minus the bucket at the bound);
    a series born in the window counts from its first sample, which increase() would drop."""
    count = selector(histogram.count, matchers)
    bucket = selector(histogram.bucket, [*matchers, le_matcher(bound)])
    above = f"(last_over_time({count}[{window}]) - ignoring(le) last_over_time({bucket}[{window}]))"
    born = f"({above} unless last_over_time({count}[1h] offset {window})) > 0"
    old = f"(increase({count}[{window}]) - ignoring(le) increase({bucket}[{window}])) > 0.5"
    return f"sum{by(group)} (({born}) or ({old}))"


# --- calendar windows (UTC) ---------------------------------------------------------------------------
def _step_growth(m: str, step: str) -> str:
    """Per-series growth in the step ending now. Without a reset it is the series' last value in the step
    minus its last value a step earlier, which telescopes exactly over consecutive steps; a series new in
    the step (born at 0) counts whole; a reset (a restart on the same target: our counters restart at 0,
    below the previous value) uses increase(). The last value, not the instant one: a process that stopped
    during the step has no instant value but did spend."""
    r = f"{m}[{step}]"
    last = f"last_over_time({r})"
    prev = f"last_over_time({m}[{GAP}] offset {step})"
    return (
        f"(({last} - {prev}) and (resets({r}) == 0) and ((min_over_time({r}) - {prev}) >= 0))"
        f" or (increase({r}) and {prev})"
        f" or (({last} - min_over_time({r})) and (resets({r}) == 0))"
        f" or increase({r})"
    )


def _tail_growth(m: str, step: str) -> str:
    """Per-series growth since the last aligned step (less than one step), which removes the subquery's lag.
    A restart inside it counts from 0 once the counter is below its value at the step; until the step
    completes, growth before such a restart is not yet counted."""
    r = f"{m}[{step}]"
    last = f"last_over_time({r})"
    prev = f"last_over_time(last_over_time({m}[{GAP}])[{step}:{step}])"
    return (
        f"(({last} - {prev}) >= 0)"
        f" or ({last} and (({last} - {prev}) < 0))"
        f" or (({last} - min_over_time({r})) and (resets({r}) == 0))"
        f" or increase({r})"
    )


def _steps(m: str, group: Sequence[str], step: str, window: str, classes: int, period: Callable[[str], str]) -> str:
    """Sum of step growths over the window, keeping steps whose interval starts in the current period."""
    s = int(seconds(step))
    parts = []
    for k in range(classes):
        inner = f"{period(f'vector(time() - {s})')} % {classes} == {k}"
        outer = f"{period('vector(time())')} % {classes} == {k}"
        steps = f"sum{by(group)} ({_step_growth(m, step)}) and on() ({inner})"
        parts.append(f"(sum_over_time(({steps})[{window}:{step}]) and on() ({outer}))")
    return " or ".join(parts)


def _day(v: str) -> str:
    return f"floor({v} / 86400)"


def _month(v: str) -> str:
    return f"month({v})"


def _tagged(part: str, expr: str) -> str:
    return f'label_replace({expr}, "llmcost_part", "{part}", "", "")'


def today(series: str, group: Sequence[str] = ()) -> str:
    """Growth since 00:00 UTC today of a born-at-zero counter (e.g. spend today), by group, without lag:
    5-minute steps of the day plus the growth since the last step."""
    steps = _tagged("steps", _steps(series, group, DAY_STEP, "1d", 2, _day))
    tail = _tagged("tail", f"sum{by(group)} ({_tail_growth(series, DAY_STEP)})")
    return f"sum{by(group)} ({steps} or {tail})"


def this_month(series: str, group: Sequence[str] = ()) -> str:
    """Growth since the 1st of this month, 00:00 UTC, by group: the month's completed days (one-day steps)
    plus today (:func:`today`). Months are told apart by their number modulo 3: a 31-day window spans 3."""
    days = _tagged("days", _steps(series, group, "1d", "31d", 3, _month))
    steps = _tagged("steps", _steps(series, group, DAY_STEP, "1d", 2, _day))
    tail = _tagged("tail", f"sum{by(group)} ({_tail_growth(series, DAY_STEP)})")
    return f"sum{by(group)} ({days} or {steps} or {tail})"


def seconds_into_month() -> str:
    return "((day_of_month() - 1) * 86400 + hour() * 3600 + minute() * 60 + time() % 60)"
