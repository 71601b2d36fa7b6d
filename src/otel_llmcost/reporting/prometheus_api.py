"""Spend from a Prometheus server: ``increase()`` of the cost and token counters over a window, summed by label.

``increase`` handles counter resets (a restarted pod) and ``sum by`` adds every instance, as the dashboards
do. Our counters report a new series at 0 first (see ``metrics.CounterTable``), so a window that covers a
series' birth counts all of its dollars. Prometheus extrapolates to the window's end: asking at the time
of the last scrape (``at``) gives the exact counter increase.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

from .. import names
from . import DIMENSIONS, NONE, REFUSED_ERRORS, SpendRow, prometheus_label

COST_SERIES = names.prometheus_name(names.METRIC_COST, names.UNIT_USD, "counter")
TOKEN_SERIES = names.prometheus_name(names.METRIC_TOKENS, names.UNIT_TOKEN, "counter")
UNPRICED_SERIES = names.prometheus_name(names.METRIC_UNPRICED, names.UNIT_REQUEST, "counter")
REQUESTS_SERIES = names.prometheus_name(names.METRIC_REQUESTS, names.UNIT_REQUEST, "counter")


class PrometheusError(Exception):
    """Prometheus could not be reached or refused the query (the message says which)."""


def window(seconds: float) -> str:
    """A PromQL range duration."""
    return f"{max(1, round(seconds))}s"


def queries(dimension: str, seconds: float) -> dict[str, str]:
    """The PromQL of a spend report, by the dimension's label: cost, calls (failed, refused by a budget),
    unpriced calls, and input, output and prompt-cache tokens."""
    label = prometheus_label(DIMENSIONS[dimension])
    span = window(seconds)
    token_type = prometheus_label(names.GEN_AI_TOKEN_TYPE)
    error_type = prometheus_label(names.ERROR_TYPE)
    refused = "|".join(REFUSED_ERRORS)

    def growth(series: str, matchers: str = "") -> str:
        selector = f"{series}{{{matchers}}}" if matchers else series
        return f"sum by ({label}) (increase({selector}[{span}]))"

    return {
        "cost": growth(COST_SERIES),
        "calls": growth(REQUESTS_SERIES),
        "errors": growth(REQUESTS_SERIES, f'{error_type}!="",{error_type}!~"{refused}"'),
        "refused": growth(REQUESTS_SERIES, f'{error_type}=~"{refused}"'),
        "unpriced": growth(UNPRICED_SERIES),
        **{
            f"{kind}_tokens": growth(TOKEN_SERIES, f'{token_type}="{kind}"')
            for kind in ("input", "output", "cache_read", "cache_write")
        },
    }


def query(base_url: str, promql: str, at: float | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """One instant query through the HTTP API; the vector's samples."""
    params = {"query": promql}
    if at is not None:
        params["time"] = repr(at)
    url = f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            body = json.load(exc)
        except ValueError:
            raise PrometheusError(f"{base_url} answered HTTP {exc.code} to {promql!r}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PrometheusError(f"cannot query Prometheus at {base_url}: {reason}") from None
    if body.get("status") != "success":
        raise PrometheusError(f"Prometheus refused {promql!r}: {body.get('error', body)}")
    data = body.get("data", {})
    if data.get("resultType") != "vector":
        raise PrometheusError(f"Prometheus answered {promql!r} with a {data.get('resultType')}, not a vector")
    return list(data.get("result", []))


def _by_key(samples: list[dict[str, Any]], label: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for sample in samples:
        key = sample.get("metric", {}).get(label) or NONE
        values[key] = values.get(key, 0.0) + float(sample["value"][1])
    return values


def spend(base_url: str, dimension: str, seconds: float, at: float | None = None) -> list[SpendRow]:
    """Spend per value of ``dimension`` over the ``seconds`` before ``at`` (default: now), costliest first."""
    label = prometheus_label(DIMENSIONS[dimension])
    results = {
        name: _by_key(query(base_url, promql, at), label) for name, promql in queries(dimension, seconds).items()
    }
    keys = set().union(*results.values())
    counts = [name for name in results if name != "cost"]
    rows = [
        SpendRow(key=key, cost=Decimal(repr(results["cost"].get(key, 0.0))),
                 **{name: round(results[name].get(key, 0.0)) for name in counts})
        for key in keys
    ]
    rows = [r for r in rows if r.cost or any(getattr(r, name) for name in counts)]
    return sorted(rows, key=lambda r: (-r.cost, r.key))
