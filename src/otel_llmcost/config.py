"""Settings: constructor arguments win over environment variables, which win over defaults.

Read once at ``instrument()``; a bad value raises ``ConfigError`` naming the variable and the fix.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from . import names
from .errors import ConfigError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean. Fix: set it to true or false.")


def _mapping(env: Mapping[str, str], name: str) -> dict[str, str]:
    """Parse "a=b,c=d" into a dict."""
    raw = env.get(name, "").strip()
    result: dict[str, str] = {}
    if not raw:
        return result
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{name}: {item!r} is not KEY=VALUE. Fix: write it as 'key1=value1,key2=value2'.")
        result[key.strip()] = value.strip()
    return result


@dataclass(frozen=True)
class Settings:
    """Everything the instrumentation can be told; see the README's configuration table."""

    capture_content: bool = False
    content_max_length: int = 8192
    price_file: str | None = None
    inject_stream_usage: bool = False
    request_cost_buckets: tuple[float, ...] = names.REQUEST_COST_BUCKETS
    max_models: int = 100
    model_aliases: dict[str, str] = field(default_factory=dict)
    provider_hosts: dict[str, str] = field(default_factory=dict)
    """host or host:port -> gen_ai.provider.name, for gateways and proxies in front of a provider."""
    hardware_usd_per_gpu_hour: Decimal | None = None
    """Internal cost of self-hosted models per hour of server time (Ollama's total_duration)."""
    hardware_usd_per_mtok: Decimal | None = None
    """Internal cost of self-hosted models per million tokens (input + output)."""
    metric_attributes: tuple[str, ...] = (names.LLMCOST_FEATURE, names.LLMCOST_TEAM)
    """Attribution keys allowed on metrics (every key reaches the span)."""
    max_attribute_values: int = 100
    """Distinct values per attribution key on metrics per process, "other" included."""
    budgets: tuple[Any, ...] = ()
    """Budgets declared in code (``otel_llmcost.Budget``), added to those of the budget file."""
    budget_file: str | None = None
    budget_store: str = "memory"
    budget_store_failure: str = "open"
    """What a call does when the budget store cannot answer: "open" (go ahead, warn, count) or "closed" (refuse)."""
    budget_store_timeout: float = 0.5
    budget_default_max_tokens: int = 4096
    """Output tokens a block budget reserves for a call that sets no max_tokens."""
    budget_reservation_ttl: float = 600.0
    """Seconds after which a reservation of a call that never settled (its process died) is released."""
    budget_clock: Callable[[], float] | None = None
    """Unix time source of budget periods (tests and simulations); None is time.time."""

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        given = dict(overrides or {})
        capture = env.get(names.ENV_CAPTURE_CONTENT, "").strip().lower()
        values: dict[str, Any] = {
            # The GenAI variable also takes span_only / span_and_event / event_only; anything else is off.
            "capture_content": capture in _TRUE or capture.startswith(("span", "event")),
            "content_max_length": _int(env, names.ENV_CONTENT_MAX_LENGTH, 8192, minimum=1),
            "price_file": env.get(names.ENV_PRICE_FILE) or None,
            "inject_stream_usage": _flag(env, names.ENV_INJECT_STREAM_USAGE, False),
            "request_cost_buckets": _buckets(env),
            "max_models": _int(env, names.ENV_MAX_MODELS, 100, minimum=1),
            "model_aliases": _mapping(env, names.ENV_MODEL_ALIASES),
            "provider_hosts": _mapping(env, names.ENV_PROVIDER_HOSTS),
            "hardware_usd_per_gpu_hour": _env_usd(env, names.ENV_HARDWARE_USD_PER_GPU_HOUR),
            "hardware_usd_per_mtok": _env_usd(env, names.ENV_HARDWARE_USD_PER_MTOK),
            "metric_attributes": _attribute_keys(env.get(names.ENV_METRIC_ATTRIBUTES), names.ENV_METRIC_ATTRIBUTES),
            "max_attribute_values": _int(env, names.ENV_MAX_ATTRIBUTE_VALUES, 100, minimum=1),
            "budgets": (),
            "budget_file": env.get(names.ENV_BUDGET_FILE) or None,
            "budget_store": env.get(names.ENV_BUDGET_STORE, "").strip() or "memory",
            "budget_store_failure": _choice(env, names.ENV_BUDGET_STORE_FAILURE, ("open", "closed"), "open"),
            "budget_store_timeout": _float(env, names.ENV_BUDGET_STORE_TIMEOUT, 0.5),
            "budget_default_max_tokens": _int(env, names.ENV_BUDGET_DEFAULT_MAX_TOKENS, 4096, minimum=1),
            "budget_reservation_ttl": _float(env, names.ENV_BUDGET_RESERVATION_TTL, 600.0),
            "budget_clock": None,
        }
        unknown = set(given) - set(values)
        if unknown:
            raise ConfigError(f"unknown instrument() option(s) {sorted(unknown)}; known: {sorted(values)}.")
        for key, value in given.items():
            if value is None:
                continue
            if key == "request_cost_buckets":
                value = _check_buckets(value, "request_cost_buckets=")
            elif key.startswith("hardware_usd_"):
                value = _usd(value, f"{key}=")
            elif key == "metric_attributes":
                value = _attribute_keys(value, "metric_attributes=")
            elif key == "budgets":
                value = _budgets(value)
            elif key == "budget_store_failure" and value not in ("open", "closed"):
                raise ConfigError(f"budget_store_failure={value!r} is not open or closed.")
            elif key in ("budget_store_timeout", "budget_reservation_ttl") and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            ):
                raise ConfigError(f"{key}={value!r} must be a number of seconds above 0.")
            values[key] = value
        if values["hardware_usd_per_gpu_hour"] is not None and values["hardware_usd_per_mtok"] is not None:
            raise ConfigError(
                f"both {names.ENV_HARDWARE_USD_PER_GPU_HOUR} (hardware_usd_per_gpu_hour) and "
                f"{names.ENV_HARDWARE_USD_PER_MTOK} (hardware_usd_per_mtok) are set. "
                "Fix: set one hardware rate, per GPU-hour or per million tokens."
            )
        return cls(**values)


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number. Fix: e.g. {name}={default}.") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}.")
    return value


def _usd(raw: Any, where: str) -> Decimal | None:
    """A rate in USD (a number >= 0), exact; None when unset."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if isinstance(raw, bool) or not value.is_finite() or value < 0:
        raise ConfigError(f"{where}{raw!r} is not a USD amount. Fix: a number >= 0, e.g. {where}2.50.")
    return value


def _env_usd(env: Mapping[str, str], name: str) -> Decimal | None:
    return _usd(env.get(name), f"{name}=")


def _check_buckets(values: Sequence[Any], where: str) -> tuple[float, ...]:
    try:
        buckets = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be increasing numbers in USD, e.g. 0.01,0.1,1,10.") from None
    if not buckets or any(b <= a for a, b in itertools.pairwise(buckets)) or buckets[0] < 0:
        raise ConfigError(f"{where} must be increasing numbers >= 0 in USD, e.g. 0.01,0.1,1,10.")
    return buckets


def _buckets(env: Mapping[str, str]) -> tuple[float, ...]:
    raw = env.get(names.ENV_REQUEST_COST_BUCKETS, "").strip()
    if not raw:
        return names.REQUEST_COST_BUCKETS
    return _check_buckets(raw.split(","), f"{names.ENV_REQUEST_COST_BUCKETS}={raw!r}")


# Short names of the attribution keys (as in ``attributes(feature=..., team=..., user_id=...)``).
_SHORT_KEYS = {"feature": names.LLMCOST_FEATURE, "team": names.LLMCOST_TEAM, "user": names.USER_ID,
               "user_id": names.USER_ID}


def _attribute_keys(raw: str | Iterable[str] | None, where: str) -> tuple[str, ...]:
    """Attribution keys for metrics: short names (feature, team, user) or attribute names; "none" for none."""
    if raw is None:
        return (names.LLMCOST_FEATURE, names.LLMCOST_TEAM)
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    keys: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{where} {item!r} is not an attribute name. Fix: e.g. feature,team,user.")
        text = item.strip()
        if not text or text.lower() == "none":
            continue
        key = _SHORT_KEYS.get(text, text)
        if "." not in key:
            raise ConfigError(
                f"{where} {text!r} is not feature, team, user or a dotted attribute name (e.g. llmcost.tenant)."
            )
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}.")
    return raw


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds. Fix: e.g. {name}={default}.") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a number of seconds above 0.")
    return value


def _budgets(value: object) -> tuple[Any, ...]:
    from .budgets.model import Budget

    items = [value] if isinstance(value, Budget) else value
    if not isinstance(items, Iterable) or isinstance(items, (str, bytes, Mapping)):
        raise ConfigError("budgets= must be a list of otel_llmcost.Budget objects.")
    budgets = tuple(items)
    for budget in budgets:
        if not isinstance(budget, Budget):
            raise ConfigError(f"budgets= holds {budget!r}, not an otel_llmcost.Budget.")
    return budgets
