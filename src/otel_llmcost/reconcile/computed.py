"""The spend the instrumentation computed, per provider, UTC day and model, from wherever it is recorded.

``read`` takes the ``--from`` text: ``sqlite:PATH`` and ``postgresql://...`` read the ledger through
``ledgers.reader.open_reader`` (exact decimal sums, the same rows from either); ``prometheus:URL`` (the
``--prometheus`` option) asks Prometheus for the growth of the cost, token, request and unpriced counters over each
day, computed as the dashboards compute it (exact for our born-at-zero counters: ``max - min`` over the day unless a
series reset, then ``increase()``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal

from .. import names
from . import Computed, ReconcileError, model_key
from .billing import DAY, day_of

SCHEMES = ("sqlite", "postgresql", "postgres")


def read(source: str, start: int, end: int, providers: Iterable[str]) -> list[Computed]:
    """Computed spend of ``providers`` for calls in [start, end), from ``sqlite:PATH``, ``postgresql://...`` or
    ``prometheus:URL``."""
    scheme, sep, rest = source.partition(":")
    scheme = scheme.lower()
    wanted = set(providers)
    if sep and rest and scheme in SCHEMES:
        rows = _ledger(source, start, end)
    elif sep and scheme == "prometheus" and rest:
        rows = _prometheus(rest, start, end)
    else:
        raise ReconcileError(f"{source!r} is not sqlite:PATH nor postgresql://... (e.g. "
                             "sqlite:/var/lib/app/llmcost.db)")
    return _merged(r for r in rows if r.provider in wanted)


def _merged(rows: Iterable[Computed]) -> list[Computed]:
    """Rows of the same provider, day and model key (snapshots of one model) added together."""
    merged: dict[tuple[str, str, str], Computed] = {}
    for row in rows:
        key = (row.provider, row.day, row.model)
        old = merged.get(key)
        merged[key] = row if old is None else Computed(
            row.provider, row.day, row.model, old.cost + row.cost, old.calls + row.calls,
            old.unpriced + row.unpriced, old.input_tokens + row.input_tokens, old.output_tokens + row.output_tokens,
        )
    return [merged[key] for key in sorted(merged)]


def _ledger(url: str, start: int, end: int) -> list[Computed]:
    from .. import ledger
    from ..ledgers.reader import open_reader

    try:
        with open_reader(url) as reader:
            rows = reader.daily(start, end)
    except ledger.LedgerError as exc:
        raise ReconcileError(str(exc)) from None
    return [
        Computed(r["provider"], r["day"], model_key(r["model"]), r["cost"], r["calls"], r["unpriced"],
                 r["input_tokens"], r["output_tokens"])
        for r in rows
    ]


def _prometheus(url: str, start: int, end: int) -> list[Computed]:
    """One instant query per series and day, at the day's end (or now, for today), over the day."""
    from ..reporting import prometheus_api, prometheus_label
    from ..stack import promql

    provider = prometheus_label(names.GEN_AI_PROVIDER_NAME)
    model = prometheus_label(names.GEN_AI_REQUEST_MODEL)
    token_type = prometheus_label(names.GEN_AI_TOKEN_TYPE)
    now = time.time()
    rows: list[Computed] = []
    for day_start in range(start, end, DAY):
        at = min(day_start + DAY, now)
        if at <= day_start:
            break
        span = prometheus_api.window(at - day_start)

        def growth(series: str, matchers: str = "", span: str = span) -> str:
            selector = f"{series}{{{matchers}}}" if matchers else series
            return promql.total(selector, span, [provider, model])

        queries = {
            "cost": growth(prometheus_api.COST_SERIES),
            "calls": growth(prometheus_api.REQUESTS_SERIES),
            "unpriced": growth(prometheus_api.UNPRICED_SERIES),
            "input": growth(prometheus_api.TOKEN_SERIES, f'{token_type}="input"'),
            "output": growth(prometheus_api.TOKEN_SERIES, f'{token_type}="output"'),
        }
        values: dict[str, dict[tuple[str, str], float]] = {}
        for name, expr in queries.items():
            try:
                samples = prometheus_api.query(url, expr, at)
            except prometheus_api.PrometheusError as exc:
                raise ReconcileError(str(exc)) from None
            for sample in samples:
                labels = sample.get("metric", {})
                key = (labels.get(provider, ""), labels.get(model, ""))
                values.setdefault(name, {})[key] = float(sample["value"][1])
        day = day_of(datetime.fromtimestamp(day_start, tz=timezone.utc))
        for key in sorted(set().union(*values.values()) if values else ()):
            cost = values.get("cost", {}).get(key, 0.0)
            calls = round(values.get("calls", {}).get(key, 0.0))
            if not cost and not calls:
                continue
            rows.append(Computed(
                key[0], day, model_key(key[1]), Decimal(repr(cost)), calls,
                round(values.get("unpriced", {}).get(key, 0.0)), round(values.get("input", {}).get(key, 0.0)),
                round(values.get("output", {}).get(key, 0.0)),
            ))
    return rows
