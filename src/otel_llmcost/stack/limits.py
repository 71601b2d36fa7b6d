"""The one place limits live: a small YAML file rendered into the dashboards and both alert rule formats.

Format (every key optional; these are the defaults)::

    limits:                        # one entry per budget scope; a scope without match covers every call
      - name: all
        daily_usd: 100             # calendar day (UTC); alert over it, warn past warning_ratio of it
        monthly_usd: 2000          # calendar month (UTC)
      # - name: search-team
      #   match: {team: search}    # keys: service, provider, model, feature, team
      #   daily_usd: 20
    warning_ratio: 0.8
    expensive_request_usd: 1.0     # one request above this alerts; must be a request-cost bucket bound
    request_cost_buckets: [...]    # if you changed OTEL_LLMCOST_REQUEST_COST_BUCKETS, the same bounds
    anomaly_factor: 2.0            # last 24h spend above this times the previous 7 days' daily average
    event_window: 15m              # how long an expensive request / unpriced call / budget block alerts
    evaluation_interval: 1m        # rule groups (a multiple of 10s: Grafana's scheduler tick)
    scrape_interval: 15s           # Prometheus in the compose stack; Grafana's datasource timeInterval
    retention: 45d                 # Prometheus retention: monthly budgets and the 8-day anomaly baseline
    alertmanager:                  # receivers of alertmanager.yml (Alertmanager does not read env vars)
      slack_webhook_url: https://hooks.slack.com/services/REPLACE/THIS/URL
      slack_channel: "#llm-cost"
      email_to: llm-cost-alerts@example.com
      email_from: alertmanager@example.com
      smarthost: smtp.example.com:587

A bad file raises ``ConfigError`` naming the file, the line, the key and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from .. import names
from ..errors import ConfigError
from . import promql


@dataclass(frozen=True)
class Limit:
    """A spend scope and its limits (USD)."""

    name: str
    match: Mapping[str, str] = field(default_factory=dict)
    daily_usd: Decimal | None = None
    monthly_usd: Decimal | None = None

    @property
    def matchers(self) -> dict[str, str]:
        """Prometheus label -> value."""
        return {promql.DIMENSIONS[key]: value for key, value in self.match.items()}

    @property
    def description(self) -> str:
        """Which calls the limit covers, for alert summaries."""
        if not self.match:
            return "all LLM calls"
        return ", ".join(f"{key}={value}" for key, value in self.match.items())


@dataclass(frozen=True)
class Notify:
    """What alertmanager.yml sends to."""

    slack_webhook_url: str = "https://hooks.slack.com/services/REPLACE/THIS/URL"
    slack_channel: str = "#llm-cost"
    email_to: str = "llm-cost-alerts@example.com"
    email_from: str = "alertmanager@example.com"
    smarthost: str = "smtp.example.com:587"


@dataclass(frozen=True)
class StackConfig:
    """Everything the rendered stack depends on besides names.py."""

    limits: tuple[Limit, ...] = (Limit("all", {}, Decimal(100), Decimal(2000)),)
    warning_ratio: Decimal = Decimal("0.8")
    expensive_request_usd: float = 1.0
    request_cost_buckets: tuple[float, ...] = tuple(float(b) for b in names.REQUEST_COST_BUCKETS)
    anomaly_factor: Decimal = Decimal(2)
    event_window: str = "15m"
    evaluation_interval: str = "1m"
    scrape_interval: str = "15s"
    retention: str = "45d"
    billing_drift: Decimal = Decimal("0.05")
    alertmanager: Notify = field(default_factory=Notify)


_TOP = frozenset(
    {
        "limits", "warning_ratio", "expensive_request_usd", "request_cost_buckets", "anomaly_factor",
        "event_window", "evaluation_interval", "scrape_interval", "retention", "alertmanager", "billing_drift",
    }
)
_LIMIT_KEYS = frozenset({"name", "match", "daily_usd", "monthly_usd"})
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")


class _Loader(yaml.SafeLoader):
    """Remembers the line of every mapping key, so errors can point at it."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    data = _Lines(loader.construct_mapping(node, deep=True))
    data.lines = {loader.construct_object(k, deep=True): k.start_mark.line + 1 for k, _ in node.value}
    data.line = node.start_mark.line + 1
    return data


class _Lines(dict[Any, Any]):
    lines: dict[Any, int]
    line: int


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: Mapping[str, Any] | None, key: str | None, problem: str, fix: str) -> ConfigError:
        line = None
        if isinstance(where, _Lines):
            line = where.lines.get(key, where.line) if key is not None else where.line
        at = f"{self.source}" + (f", line {line}" if line else "")
        return ConfigError(f"{at}: {key + ': ' if key else ''}{problem}. Fix: {fix}.")

    def mapping(self, value: object, where: Mapping[str, Any] | None, key: str | None) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, key, f"expected a mapping, got {value!r}", "write key: value pairs")
        return value

    def known(self, data: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(data, str(key), f"unknown key in {what}", f"use one of {', '.join(sorted(allowed))}")

    def usd(self, data: Mapping[str, Any], key: str, default: Decimal | None) -> Decimal | None:
        if key not in data or data[key] is None:
            return default
        raw = data[key]
        try:
            value = Decimal(str(raw)) if not isinstance(raw, bool) else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value <= 0:
            raise self.fail(data, key, f"{raw!r} is not a positive amount in USD", "write a number such as 100")
        return value

    def duration(self, data: Mapping[str, Any], key: str, default: str, multiple_of: int = 0) -> str:
        raw = data.get(key, default)
        try:
            secs = promql.seconds(str(raw))
        except ValueError:
            raise self.fail(data, key, f"{raw!r} is not a duration", "write e.g. 30s, 5m, 1h or 45d") from None
        if secs <= 0 or (multiple_of and secs % multiple_of):
            extra = f" and a multiple of {multiple_of}s" if multiple_of else ""
            raise self.fail(data, key, f"{raw!r} must be positive{extra}", f"write e.g. 1m{extra and ' (60s)'}")
        return str(raw)


def parse(data: object, source: str = "<config>") -> StackConfig:
    """Validate a loaded YAML document (None: all defaults)."""
    r = _Reader(source)
    if data is None:
        data = {}
    top = r.mapping(data, None, None)
    r.known(top, _TOP, "the stack config")
    defaults = StackConfig()
    limits = defaults.limits
    if "limits" in top:
        raw_limits = top["limits"]
        if not isinstance(raw_limits, list) or not raw_limits:
            raise r.fail(top, "limits", "expected a non-empty list of limits", "see the format in the docs")
        parsed = []
        for entry in raw_limits:
            entry = r.mapping(entry, top, "limits")
            r.known(entry, _LIMIT_KEYS, "a limit")
            name = entry.get("name")
            if not isinstance(name, str) or not _NAME.match(name):
                raise r.fail(entry, "name", f"{name!r} is not a scope name", "use up to 30 of a-z, 0-9, - and _")
            match_raw = r.mapping(entry.get("match") or {}, entry, "match")
            match: dict[str, str] = {}
            for dim, value in match_raw.items():
                if dim not in promql.DIMENSIONS:
                    raise r.fail(match_raw, str(dim), "not a dimension", f"use {', '.join(promql.DIMENSIONS)}")
                if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
                    raise r.fail(match_raw, str(dim), f"{value!r} is not a label value", "write a plain string")
                match[dim] = str(value)
            daily = r.usd(entry, "daily_usd", None)
            monthly = r.usd(entry, "monthly_usd", None)
            if daily is None and monthly is None:
                raise r.fail(entry, None, f"limit {name!r} sets neither daily_usd nor monthly_usd", "set one")
            parsed.append(Limit(name, match, daily, monthly))
        seen = [limit.name for limit in parsed]
        if len(set(seen)) != len(seen):
            raise r.fail(top, "limits", f"scope names repeat: {seen}", "give every limit its own name")
        limits = tuple(parsed)
    ratio = r.usd(top, "warning_ratio", defaults.warning_ratio)
    assert ratio is not None
    if ratio >= 1:
        raise r.fail(top, "warning_ratio", f"{ratio} is not below 1", "write a fraction such as 0.8")
    buckets = defaults.request_cost_buckets
    if "request_cost_buckets" in top:
        raw = top["request_cost_buckets"]
        if not isinstance(raw, list) or not raw or not all(
            isinstance(b, int | float) and not isinstance(b, bool) and b > 0 for b in raw
        ):
            raise r.fail(top, "request_cost_buckets", f"{raw!r} is not a list of positive numbers", "copy the bounds")
        buckets = tuple(float(b) for b in raw)
    expensive_raw = r.usd(top, "expensive_request_usd", Decimal(str(defaults.expensive_request_usd)))
    assert expensive_raw is not None
    expensive = float(expensive_raw)
    if expensive not in buckets:
        raise r.fail(
            top, "expensive_request_usd", f"{expensive} is not a request-cost bucket bound {list(buckets)}",
            f"pick a bound, or add it to {names.ENV_REQUEST_COST_BUCKETS} and request_cost_buckets",
        )
    factor = r.usd(top, "anomaly_factor", defaults.anomaly_factor)
    assert factor is not None
    drift = r.usd(top, "billing_drift", defaults.billing_drift)
    assert drift is not None
    if not 0 < drift < 1:
        raise r.fail(top, "billing_drift", f"{drift} is not a share between 0 and 1", "write a share such as 0.05")
    notify_raw = r.mapping(top.get("alertmanager") or {}, top, "alertmanager")
    r.known(notify_raw, frozenset(Notify.__dataclass_fields__), "alertmanager")
    for key, value in notify_raw.items():
        if not isinstance(value, str) or not value:
            raise r.fail(notify_raw, str(key), f"{value!r} is not a string", "write a non-empty string")
    return StackConfig(
        limits=limits,
        warning_ratio=ratio,
        expensive_request_usd=expensive,
        request_cost_buckets=buckets,
        anomaly_factor=factor,
        event_window=r.duration(top, "event_window", defaults.event_window),
        evaluation_interval=r.duration(top, "evaluation_interval", defaults.evaluation_interval, multiple_of=10),
        scrape_interval=r.duration(top, "scrape_interval", defaults.scrape_interval),
        retention=r.duration(top, "retention", defaults.retention),
        billing_drift=drift,
        alertmanager=Notify(**notify_raw),
    )


def load(path: str | Path) -> StackConfig:
    """Read and validate a stack config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the stack config ({exc.strerror}). Fix: check the path.") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:  # one line: where, and what the parser expected (not its excerpt)
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path}{line}: not valid YAML ({exc.problem or exc.context}). Fix: correct the syntax."
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}). Fix: correct the syntax.") from None
    return parse(data, str(path))
