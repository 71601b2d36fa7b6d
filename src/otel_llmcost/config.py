"""Settings: ``instrument()`` keyword arguments win over environment variables, which win over defaults.

One frozen dataclass, one field per option. Each field carries its environment variable, an example that
validates and one validator (``Option``) that takes both the environment's string form and the natural Python
form: ``capture_content="false"``, ``capture_content=False`` and ``...CAPTURE_MESSAGE_CONTENT=false`` all mean off,
``provider_hosts="gw:8443=openai"`` and ``provider_hosts={"gw:8443": "openai"}`` the same mapping. Anything else is
a ``ConfigError`` naming the option (argument and variable), the value and a fix, never a pydantic error: a value
that is accepted is a value that works. Read once at ``instrument()``; no SDK is imported here, nor pydantic:
the validation runs on a pydantic model built from these fields (``settings_model``), imported only when an
argument or a variable gives a value, so that a process configured by defaults alone does not pay for it.

``unknown_variables`` finds ``OTEL_LLMCOST_*`` variables that are no setting (a typo silently ignored would be a
setting that lies): ``instrument()`` logs them as warnings and ``otel-llmcost check`` fails on them.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from . import names
from .errors import ConfigError

logger = logging.getLogger(__name__)

ENV_PREFIX = "OTEL_LLMCOST_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
# OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is shared with OpenTelemetry's own GenAI instrumentations,
# which also take an enum (opentelemetry-util-genai): content is captured unless it says NO_CONTENT.
_CAPTURE_MODES = {"no_content": False, "span_only": True, "event_only": True, "span_and_event": True}


@dataclass(frozen=True)
class Option:
    """What a field needs beyond its type: where the environment sets it, and examples that validate."""

    env: str | None
    """The environment variable (from names.py), or None for options only code can give (budgets, a clock)."""
    example: str | None
    """The variable's value in a fix, e.g. ``100``; None when there is no variable."""
    python: str
    """The keyword argument's value in a fix, as Python source, e.g. ``{'prod-chat': 'gpt-4o'}``."""
    check: Callable[[object], Any]
    """The validator: the string form or the Python form in, the field's value out; raises ``_Invalid``."""
    secret: bool = False
    """A credential: an error names the option but never shows its value."""


class _Invalid(ValueError):
    """A validator's verdict on a value: ``problem`` reads after "name=value", e.g. "is not a whole number"."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


# --- validators: each takes the string form and the Python form, returns the field's type -----------------
def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Invalid("is not true or false")


def _capture(value: object) -> bool:
    if isinstance(value, str) and value.strip().lower() in _CAPTURE_MODES:
        return _CAPTURE_MODES[value.strip().lower()]
    try:
        return _flag(value)
    except _Invalid:
        raise _Invalid("is not true or false (nor NO_CONTENT, SPAN_ONLY, EVENT_ONLY or SPAN_AND_EVENT)") from None


# Where captured content goes, as the same variable's enum says it (util-genai's ContentCapturingMode): on the
# span (SPAN_ONLY, and true: the long-standing form), in the log event gen_ai.client.inference.operation.details
# (EVENT_ONLY), or both (SPAN_AND_EVENT). Whether content is captured at all stays ``capture_content``.
_DESTINATIONS = {"span": "span", "event": "event", "span_and_event": "span_and_event", "span_only": "span",
                 "event_only": "event", "no_content": "span"}


def _destination(value: object) -> str:
    if isinstance(value, bool):
        return "span"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _DESTINATIONS:
            return _DESTINATIONS[text]
        if text in _TRUE or text in _FALSE:
            return "span"
    raise _Invalid("is not span, event or span_and_event (nor SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT or NO_CONTENT)")


def _whole_number(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise _Invalid("is not a whole number") from None
    else:
        raise _Invalid("is not a whole number")
    if number < 1:
        raise _Invalid("must be a whole number at least 1")
    return number


def _number(value: object) -> float | None:
    """A float from a number or its text; None when it is neither (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _seconds(value: object) -> float:
    seconds = _number(value)
    if seconds is None:
        raise _Invalid("is not a number of seconds")
    if not 0 < seconds < math.inf:
        raise _Invalid("must be a number of seconds above 0")
    return seconds


def _usd(value: object) -> Decimal | None:
    """A rate in USD, exact (a float goes through its shortest text: 0.1 is Decimal("0.1")); None when unset."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise _Invalid("is not an amount in USD")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Invalid("is not an amount in USD") from None
    if not amount.is_finite() or amount < 0:
        raise _Invalid("is not an amount in USD >= 0")
    return amount


def _buckets(value: object) -> tuple[float, ...]:
    """Histogram bucket bounds in USD: "0.01,0.1,1" (brackets allowed) or a list or tuple of numbers."""
    items: Sequence[object]
    if isinstance(value, str):
        items = value.strip().strip("[]()").split(",")
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = value
    else:
        raise _Invalid("is not a list of increasing amounts in USD")
    bounds = tuple(_number(item) for item in items)
    if not bounds or any(b is None or not b < math.inf for b in bounds):
        raise _Invalid("is not a list of increasing amounts in USD")
    checked = tuple(b for b in bounds if b is not None)
    if checked[0] < 0 or any(b <= a for a, b in itertools.pairwise(checked)):
        raise _Invalid("must be increasing amounts in USD, from 0 or above")
    return checked


def _pairs(value: object) -> dict[str, str]:
    """A mapping from "key1=value1,key2=value2" or a dict; keys and values are non-empty text."""
    if isinstance(value, str):
        result: dict[str, str] = {}
        for item in value.split(","):
            if not item.strip():  # "", or a trailing comma
                continue
            key, sep, target = (part.strip() for part in item.partition("="))
            if not sep or not key or not target:
                raise _Invalid(f"holds {item.strip()!r}, which is not KEY=VALUE")
            if key in result:
                raise _Invalid(f"names {key!r} twice")
            result[key] = target
        return result
    if isinstance(value, Mapping):
        result = {}
        for key, target in value.items():
            if not isinstance(key, str) or not isinstance(target, str) or not key.strip() or not target.strip():
                raise _Invalid(f"maps {key!r} to {target!r}; keys and values must be non-empty text (KEY=VALUE)")
            result[key.strip()] = target.strip()
        return result
    raise _Invalid("is neither KEY=VALUE text nor a dict")


def _usd_by_feature(value: object) -> dict[str, Decimal]:
    """feature -> USD threshold, from "summarize=2.00,chat=0.10" or a dict of amounts."""
    if isinstance(value, Mapping):
        value = {key: str(amount) if isinstance(amount, (int, float, Decimal)) else amount
                 for key, amount in value.items()}
    result: dict[str, Decimal] = {}
    for feature, text in _pairs(value).items():
        try:
            amount = _usd(text)
        except _Invalid:
            amount = None
        if amount is None:
            raise _Invalid(f"gives {feature!r} {text!r}, which is not an amount in USD >= 0")
        result[feature] = amount
    return result


def _hosts(value: object) -> dict[str, str]:
    hosts = _pairs(value)
    for host in hosts:
        if "/" in host:
            raise _Invalid(f"names {host!r}, a URL: write host or host:port, e.g. gateway.internal:8443")
    return hosts


def _model_patterns(value: object) -> tuple[str, ...]:
    """Model ids, or shell patterns (``llama*``), comma-separated or a list; matched case-insensitively."""
    if isinstance(value, str):
        items: Sequence[object] = value.split(",")
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = value
    else:
        raise _Invalid("is not a list of model ids")
    patterns: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise _Invalid(f"holds {item!r}, which is not a model id")
        text = item.strip().lower()
        if text:
            patterns.append(text)
    return tuple(dict.fromkeys(patterns))


def _path(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise _Invalid("is not a file path")
    return value.strip() or None


def _store(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid("is not a store: memory, sqlite:PATH or redis://HOST:PORT/DB")
    return value.strip() or "memory"  # the URL itself is checked by open_store(), which knows the stores


def _ledger(value: object) -> str | None:
    """A PostgreSQL URL (the SQLite ledger is the SQLite budget store's); None when unset."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid("is not a ledger URL: postgresql://USER:PASSWORD@HOST:PORT/DB")
    text = value.strip()
    if not text:
        return None
    scheme = text.partition("://")[0].lower()
    if scheme not in ("postgresql", "postgres") or "://" not in text:
        hint = (
            ": the SQLite ledger is kept by the SQLite budget store (OTEL_LLMCOST_BUDGET_STORE=sqlite:PATH)"
            if text.lower().startswith("sqlite:") else ""
        )
        raise _Invalid(f"is not a postgresql:// URL{hint}")
    return text


def _failure_rule(value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in ("open", "closed"):
        raise _Invalid("is not open or closed")
    return text


def _span_mode(value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in names.SPAN_MODES:
        raise _Invalid(f"is not {' or '.join(names.SPAN_MODES)}")
    return text


def _text(value: object) -> str | None:
    """Free text (a host name, a user name, a password); None when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid("is not text")
    return value.strip() or None


def _secret(value: object) -> str | None:
    """A password, kept exactly as given (spaces included); None when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid("is not text")
    return value if value.strip() else None


def _port(value: object) -> int:
    number = _whole_number(value)
    if number > 65535:
        raise _Invalid("is not a TCP port (1-65535)")
    return number


def _address(value: object) -> str | None:
    """One e-mail address: ``name@example.com`` (a display name in front, ``LLM cost <name@...>``, is kept)."""
    text = _text(value)
    if text is None:
        return None
    from email.utils import parseaddr

    _, address = parseaddr(text)
    local, at, domain = address.partition("@")
    if not at or not local or "." not in domain or "," in text:
        raise _Invalid("is not one e-mail address such as llm-cost@example.com")
    return text


def _http_url(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises ValueError when out of range or not a number)
    except ValueError:
        valid = False
    if not valid:
        raise _Invalid("is not an http(s) URL")
    return text


def _trace_template(value: object) -> str | None:
    text = _http_url(value)
    if text is None:
        return None
    if "{trace_id}" not in text:
        raise _Invalid("has no {trace_id} in it (where the trace id goes)")
    try:
        text.format(trace_id="0" * 32)
    except (KeyError, IndexError, ValueError):
        raise _Invalid("has braces other than {trace_id} (write a literal brace as {{ or }})") from None
    return text


# --- OTEL_SEMCONV_STABILITY_OPT_IN (issue 22) ------------------------------------------------------------------
_GEN_AI_LOOKALIKE = ("gen_ai", "genai", "gen-ai", "gen ai", "latest_experimental")


def _semconv_mode(value: object) -> str:
    """The GenAI names mode from OpenTelemetry's comma-separated opt-in list (``http/dup,gen_ai_latest_experimental``),
    read as OpenTelemetry reads it: exact tokens, ``/dup`` wins, every other token ignored (it is for other
    instrumentations). A token that looks like a misspelled gen_ai one is ignored too, with a warning: OpenTelemetry's
    own instrumentations ignore it silently, and a name set nobody asked for would be a setting that lies."""
    if not isinstance(value, str):
        raise _Invalid(f"is not text: write one of {', '.join(names.SEMCONV_MODES)} (a comma-separated list)")
    tokens = [token.strip() for token in value.split(",") if token.strip()]
    for token in tokens:
        if token in names.SEMCONV_MODES:
            continue
        folded = token.lower()
        if any(part in folded for part in _GEN_AI_LOOKALIKE) or _did_you_mean(token, list(names.SEMCONV_MODES[1:])):
            logger.warning(
                "otel-llmcost: %s holds %r, which is no GenAI mode and is ignored%s. Fix: write %s or %s.",
                names.ENV_SEMCONV_STABILITY_OPT_IN, token, _did_you_mean(token, list(names.SEMCONV_MODES[1:])),
                names.SEMCONV_LATEST, names.SEMCONV_LATEST_DUP,
            )
    if names.SEMCONV_LATEST_DUP in tokens:
        return names.SEMCONV_LATEST_DUP
    if names.SEMCONV_LATEST in tokens:
        return names.SEMCONV_LATEST
    return names.SEMCONV_DEFAULT


# Short names of the attribution keys (as in ``attributes(feature=..., team=..., user_id=...)``).
_SHORT_KEYS = {
    "feature": names.LLMCOST_FEATURE,
    "team": names.LLMCOST_TEAM,
    "user": names.USER_ID,
    "user_id": names.USER_ID,
}


def _attribute_keys(value: object) -> tuple[str, ...]:
    """Attribution keys for metrics: short names (feature, team, user) or attribute names; "none" for none."""
    if isinstance(value, str):
        items: Sequence[object] = value.split(",")
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = value
    else:
        raise _Invalid("is not a list of attribute names")
    keys: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise _Invalid(f"holds {item!r}, which is not an attribute name")
        text = item.strip()
        if not text or text.lower() == "none":
            continue
        key = _SHORT_KEYS.get(text, text)
        if "." not in key:
            raise _Invalid(f"is refused: {text!r} is not feature, team, user or a dotted attribute name")
        if key == names.GEN_AI_CONVERSATION_ID or text in ("conversation", "conversation_id"):
            raise _Invalid(
                f"is refused: {text!r} has a value per conversation, too many for a metric label "
                "(it is on every span and in the ledger; `otel-llmcost report --by conversation` groups it)"
            )
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def _fingerprint_key(value: object) -> str | None:
    """A secret text (never echoed: any text is accepted, blank means none)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "surrogateescape")
    if not isinstance(value, str):
        raise _Invalid("is not text")
    return value.strip() or None


def _budgets(value: object) -> tuple[Any, ...]:
    from .budgets.definitions import Budget  # not at import: budgets import this module's siblings

    items = [value] if isinstance(value, Budget) else value
    if not isinstance(items, (list, tuple)):
        raise _Invalid("is not a list of otel_llmcost.Budget objects")
    for budget in items:
        if not isinstance(budget, Budget):
            raise _Invalid(f"holds {budget!r}, not an otel_llmcost.Budget")
    return tuple(items)


def _clock(value: object) -> Callable[[], float] | None:
    if value is not None and not callable(value):
        raise _Invalid("is not a function returning unix time in seconds")
    return cast("Callable[[], float] | None", value)


# --- the options ---------------------------------------------------------------------------------------------
_OPTION = "otel_llmcost.option"  # the key of a field's Option in its dataclass metadata


def _option(
    check: Callable[[object], Any], env: str | None, example: str | None, python: str, secret: bool = False
) -> dict[str, Option]:
    """The metadata of a field of ``Settings``: its validator, variable and examples."""
    return {_OPTION: Option(env, example, python, check, secret)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the instrumentation can be told; see the README's configuration table. Immutable.

    Build it with ``Settings.load()``, which turns every validation failure into one ``ConfigError``. This
    class is the one list of options: each field's type, default and ``Option`` (variable, examples,
    validator). It is a plain dataclass so that a process with nothing to validate (no argument, no variable:
    the usual case under ``opentelemetry-instrument``) gets its defaults without importing pydantic; when there
    is something to validate, ``settings_model`` builds a pydantic model from these fields.
    """

    capture_content: bool = field(default=False, metadata=_option(_capture, names.ENV_CAPTURE_CONTENT, "true", "True"))
    content_destination: str = field(
        default="span", metadata=_option(_destination, None, None, "'span_and_event'")
    )
    content_max_length: int = field(
        default=8192, metadata=_option(_whole_number, names.ENV_CONTENT_MAX_LENGTH, "8192", "8192")
    )
    span: str = field(
        default=names.SPAN_OWN, metadata=_option(_span_mode, names.ENV_SPAN, names.SPAN_ANNOTATE, "'annotate'")
    )
    """Which span carries a call: "own" (our CLIENT span, always) or "annotate" (beside an OpenTelemetry GenAI
    instrumentation on util-genai, its span: our cost, cache and attribution attributes go onto it; no second
    span). See inference_context."""
    price_file: str | None = field(
        default=None,
        metadata=_option(
            _path, names.ENV_PRICE_FILE, "/etc/otel-llmcost/prices.yaml", "'/etc/otel-llmcost/prices.yaml'",
        ),
    )
    inject_stream_usage: bool = field(
        default=False, metadata=_option(_flag, names.ENV_INJECT_STREAM_USAGE, "true", "True")
    )
    request_cost_buckets: tuple[float, ...] = field(
        default=names.REQUEST_COST_BUCKETS,
        metadata=_option(_buckets, names.ENV_REQUEST_COST_BUCKETS, "0.01,0.1,1,10", "[0.01, 0.1, 1, 10]"),
    )
    max_models: int = field(default=100, metadata=_option(_whole_number, names.ENV_MAX_MODELS, "100", "100"))
    model_aliases: dict[str, str] = field(
        default_factory=dict,
        metadata=_option(_pairs, names.ENV_MODEL_ALIASES, "prod-chat=gpt-4o", "{'prod-chat': 'gpt-4o'}"),
    )
    provider_hosts: dict[str, str] = field(
        default_factory=dict,
        metadata=_option(
            _hosts, names.ENV_PROVIDER_HOSTS, "gateway.internal:8443=openai", "{'gateway.internal:8443': 'openai'}",
        ),
    )
    """host or host:port -> gen_ai.provider.name, for gateways and proxies in front of a provider."""
    local_models: tuple[str, ...] = field(
        default=(),
        metadata=_option(_model_patterns, names.ENV_LOCAL_MODELS, "llama*,my-finetune", "['llama*', 'my-finetune']"),
    )
    """Models the user runs themselves: $0 API spend wherever served (a model on a local or private address that
    no hosted price list knows is $0 without this; a known one there is priced as its provider's)."""
    hardware_usd_per_gpu_hour: Decimal | None = field(
        default=None, metadata=_option(_usd, names.ENV_HARDWARE_USD_PER_GPU_HOUR, "2.50", "2.50")
    )
    """Internal cost of self-hosted models per hour of server time (Ollama's total_duration)."""
    hardware_usd_per_mtok: Decimal | None = field(
        default=None, metadata=_option(_usd, names.ENV_HARDWARE_USD_PER_MTOK, "0.10", "0.10")
    )
    """Internal cost of self-hosted models per million tokens (input + output)."""
    metric_attributes: tuple[str, ...] = field(
        default=(names.LLMCOST_FEATURE, names.LLMCOST_TEAM),
        metadata=_option(_attribute_keys, names.ENV_METRIC_ATTRIBUTES, "feature,team", "['feature', 'team']"),
    )
    """Attribution keys allowed on metrics (every key reaches the span)."""
    max_attribute_values: int = field(
        default=100, metadata=_option(_whole_number, names.ENV_MAX_ATTRIBUTE_VALUES, "100", "100")
    )
    """Distinct values per attribution key on metrics per process, "other" included."""
    fingerprints: bool = field(default=True, metadata=_option(_flag, names.ENV_FINGERPRINTS, "false", "False"))
    """Keyed hashes of each request and its prefixes on the span and in the ledger (for otel-llmcost advise)."""
    fingerprint_key: str | None = field(
        default=None,
        repr=False,
        metadata=_option(
            _fingerprint_key, names.ENV_FINGERPRINT_KEY, "a-long-random-secret", "'a-long-random-secret'", True
        ),
    )
    """The HMAC key of fingerprints, shared by a fleet; None: a random key per process (no cross-host repeats)."""
    expensive_request_usd: Decimal | None = field(
        default=None, metadata=_option(_usd, names.ENV_EXPENSIVE_REQUEST_USD, "0.50", "0.50")
    )
    """A call costing more than this (USD) gets a span event, a WARNING and the on_expensive_request callbacks."""
    expensive_request_usd_by_feature: dict[str, Decimal] = field(
        default_factory=dict,
        metadata=_option(
            _usd_by_feature, names.ENV_EXPENSIVE_REQUEST_USD_BY_FEATURE, "summarize=2.00",
            "{'summarize': '2.00'}",
        ),
    )
    """Per-feature thresholds (llmcost.feature) that replace expensive_request_usd for that feature's calls."""
    budgets: tuple[Any, ...] = field(default=(), metadata=_option(_budgets, None, None, "[Budget('daily', limit=50)]"))
    """Budgets declared in code (``otel_llmcost.Budget``), added to those of the budget file."""
    budget_file: str | None = field(
        default=None,
        metadata=_option(
            _path, names.ENV_BUDGET_FILE, "/etc/otel-llmcost/budgets.yaml", "'/etc/otel-llmcost/budgets.yaml'",
        ),
    )
    budget_store: str = field(
        default="memory",
        metadata=_option(_store, names.ENV_BUDGET_STORE, "redis://localhost:6379/0", "'redis://localhost:6379/0'"),
    )
    budget_store_failure: str = field(
        default="open", metadata=_option(_failure_rule, names.ENV_BUDGET_STORE_FAILURE, "closed", "'closed'")
    )
    """What a call does when the budget store cannot answer: "open" (go ahead, warn, count) or "closed" (refuse)."""
    budget_store_timeout: float = field(
        default=0.5, metadata=_option(_seconds, names.ENV_BUDGET_STORE_TIMEOUT, "0.5", "0.5")
    )
    budget_default_max_tokens: int = field(
        default=4096, metadata=_option(_whole_number, names.ENV_BUDGET_DEFAULT_MAX_TOKENS, "4096", "4096")
    )
    """Output tokens a block budget reserves for a call that sets no max_tokens."""
    budget_reservation_ttl: float = field(
        default=600.0, metadata=_option(_seconds, names.ENV_BUDGET_RESERVATION_TTL, "600", "600")
    )
    """Seconds after which a reservation of a call that never settled (its process died) is charged to its
    period at its worst case, never released."""
    ledger: str | None = field(
        default=None,
        metadata=_option(
            _ledger, names.ENV_LEDGER, "postgresql://llmcost:secret@db:5432/llmcost",
            "'postgresql://llmcost:secret@db:5432/llmcost'",
        ),
    )
    """PostgreSQL ledger: every finished call becomes a row there, written by a background thread."""
    ledger_spill: str | None = field(
        default=None,
        metadata=_option(
            _path, names.ENV_LEDGER_SPILL, "/var/lib/app/llmcost-spill.db", "'/var/lib/app/llmcost-spill.db'",
        ),
    )
    """The local SQLite file rows wait in while the ledger's database does not answer (default: under
    $XDG_STATE_HOME or ~/.local/state/otel-llmcost)."""
    ledger_queue_size: int = field(
        default=10_000, metadata=_option(_whole_number, names.ENV_LEDGER_QUEUE_SIZE, "10000", "10000")
    )
    """Rows held in memory before the background writer takes them; a full queue spills, never blocks a call."""
    semconv_stability_opt_in: str = field(
        default=names.SEMCONV_DEFAULT,
        metadata=_option(
            _semconv_mode, names.ENV_SEMCONV_STABILITY_OPT_IN, names.SEMCONV_LATEST, repr(names.SEMCONV_LATEST)
        ),
    )
    """Which GenAI semantic-convention names are emitted: default, gen_ai_latest_experimental or
    gen_ai_latest_experimental/dup (both), from OpenTelemetry's own variable (issue 22)."""
    budget_clock: Callable[[], float] | None = field(default=None, metadata=_option(_clock, None, None, "time.time"))
    """Unix time source of budget periods (tests and simulations); None is time.time."""

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        warn_unknown: bool = True,
    ) -> Settings:
        """Settings from ``instrument()``'s keyword arguments (``overrides``; None means not given) over ``env``
        (default ``os.environ``) over defaults. Raises ``ConfigError``; logs a warning per unknown
        ``OTEL_LLMCOST_*`` variable unless ``warn_unknown`` is False (``otel-llmcost check`` reports them itself).

        With no value given (the usual process under ``opentelemetry-instrument``) the defaults are returned
        without importing pydantic: that import and the model's build would cost every process ~70 ms.
        """
        env = os.environ if env is None else env
        given = {key: value for key, value in (overrides or {}).items() if value is not None}
        unknown = sorted(set(given) - set(OPTIONS))
        if unknown:
            hints = [f"{key!r}{_did_you_mean(key, list(OPTIONS))}" for key in unknown]
            raise ConfigError(
                f"unknown instrument() option {', '.join(hints)}. Fix: use one of {', '.join(OPTIONS)}."
            )
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, option in OPTIONS.items():
            if name in given:
                values[name] = given[name]
                sources[name] = name
            elif option.env is not None and env.get(option.env, "").strip():
                values[name] = env[option.env]
                sources[name] = option.env
        if warn_unknown:
            for message in unknown_variables(env):
                logger.warning("otel-llmcost: %s", message)
        # The destination comes from the capture variable's enum (or capture_content="EVENT_ONLY") unless given;
        # a value that is no destination is capture_content's error to report, not a second one.
        capture = given.get("capture_content", env.get(names.ENV_CAPTURE_CONTENT))
        if (isinstance(capture, str) and capture.strip().lower() in _DESTINATIONS
                and "content_destination" not in given):
            values["content_destination"] = capture
            sources["content_destination"] = sources.get("capture_content", "capture_content")
        if not values:
            return cls()
        from pydantic import ValidationError  # pydantic: only when there is something to validate

        from .settings_model import validate

        checks = tuple((name, option.check) for name, option in OPTIONS.items())
        try:
            validated = validate(cls, checks, values)
        except ValidationError as exc:
            raise _config_error(exc, sources) from None
        settings = cls(**validated)
        _one_hardware_rate(settings)
        return settings


def _refuse_set(self: Settings, name: str, value: object) -> None:
    raise AttributeError(f"Settings are read once at instrument() and cannot change; {name} was not set")


def _refuse_delete(self: Settings, name: str) -> None:
    raise AttributeError(f"Settings are read once at instrument() and cannot change; {name} was not deleted")


# A frozen dataclass refuses a __setattr__ of its own in the class body; set after, its __init__ (which uses
# object.__setattr__) is unaffected, and the refusal says why.
setattr(Settings, "__setattr__", _refuse_set)  # noqa: B010
setattr(Settings, "__delattr__", _refuse_delete)  # noqa: B010


def _one_hardware_rate(settings: Settings) -> None:
    """The rule across options, checked once every option is valid: its message is whole."""
    if settings.hardware_usd_per_gpu_hour is not None and settings.hardware_usd_per_mtok is not None:
        raise ConfigError(
            f"both {names.ENV_HARDWARE_USD_PER_GPU_HOUR} (hardware_usd_per_gpu_hour) and "
            f"{names.ENV_HARDWARE_USD_PER_MTOK} (hardware_usd_per_mtok) are set. "
            "Fix: set one hardware rate, per GPU-hour or per million tokens."
        )


OPTIONS: dict[str, Option] = {item.name: item.metadata[_OPTION] for item in fields(Settings)}
"""Every option (field name, which is also its ``instrument()`` keyword) with its variable and examples."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestSettings:
    """What ``otel-llmcost digest`` reads from the environment (never an ``instrument()`` option): the SMTP
    server it mails through (always STARTTLS; login when a user is set), the webhook of a bare ``--to slack``,
    and the link a trace id gets. Same ``Option`` machinery and errors as ``Settings``; the password and the
    webhook (a secret URL) are left out of ``repr``."""

    smtp_host: str | None = field(default=None, metadata=_option(_text, names.ENV_SMTP_HOST, "smtp.example.com", ""))
    smtp_port: int = field(default=587, metadata=_option(_port, names.ENV_SMTP_PORT, "587", ""))
    smtp_user: str | None = field(default=None, metadata=_option(_text, names.ENV_SMTP_USER, "llm-cost", ""))
    smtp_password: str | None = field(
        default=None, repr=False, metadata=_option(_secret, names.ENV_SMTP_PASSWORD, "...", "")
    )
    smtp_from: str | None = field(
        default=None, metadata=_option(_address, names.ENV_SMTP_FROM, "llm-cost@example.com", "")
    )
    smtp_ca_file: str | None = field(
        default=None, metadata=_option(_path, names.ENV_SMTP_CA_FILE, "/etc/ssl/certs/my-ca.pem", "")
    )
    """CA bundle that signs the SMTP server's certificate (default: the system's)."""
    slack_webhook_url: str | None = field(
        default=None, repr=False,
        metadata=_option(_http_url, names.ENV_SLACK_WEBHOOK_URL, "https://hooks.slack.com/services/T/B/X", ""),
    )
    trace_url_template: str | None = field(
        default=None,
        metadata=_option(
            _trace_template, names.ENV_TRACE_URL_TEMPLATE,
            "https://grafana.example.com/explore?traceId={trace_id}", "",
        ),
    )
    """A trace's link, ``{trace_id}`` replaced by its 32 hex digits (Grafana/Tempo, Jaeger, Honeycomb...)."""

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> DigestSettings:
        """The settings the environment (default ``os.environ``) gives, over defaults; ``ConfigError`` on a bad
        value (naming the variable, the value, unless secret, and a fix)."""
        settings = cls(**_command_values(cls, DIGEST_OPTIONS, None, env))
        if (settings.smtp_user is None) != (settings.smtp_password is None):
            given, missing = ((names.ENV_SMTP_USER, names.ENV_SMTP_PASSWORD) if settings.smtp_user
                              else (names.ENV_SMTP_PASSWORD, names.ENV_SMTP_USER))
            raise ConfigError(f"{given} is set but {missing} is not. Fix: set both (the SMTP login), or neither "
                              "for a server that takes mail without one.")
        return settings



def _command_values(
    cls: type, options: Mapping[str, Option], overrides: Mapping[str, Any] | None, env: Mapping[str, str] | None
) -> dict[str, Any]:
    """The validated values of a command's settings (``otel-llmcost digest``, ``reconcile``: never ``instrument()``
    options): its ``--option`` values (``overrides``; None means not given) over ``env`` (default ``os.environ``);
    empty when nothing is given. ``ConfigError`` names the option or variable and the fix, never a secret."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, option in options.items():
        given = (overrides or {}).get(name)
        if given is not None:
            values[name], sources[name] = given, f"--{name.replace('_', '-')}"
        elif option.env is not None and env.get(option.env, "").strip():
            values[name], sources[name] = env[option.env], option.env
    if not values:
        return {}
    from pydantic import ValidationError

    from .settings_model import validate

    checks = tuple((name, option.check) for name, option in options.items())
    try:
        return validate(cls, checks, values)
    except ValidationError as exc:
        raise _config_error(exc, sources, options) from None

DIGEST_OPTIONS: dict[str, Option] = {item.name: item.metadata[_OPTION] for item in fields(DigestSettings)}
"""The digest's settings (field name -> variable, example, validator); environment only."""
_SECRET = frozenset({"smtp_password", "slack_webhook_url"})


def fix(field: str, options: Mapping[str, Option] | None = None) -> str:
    """The "Fix: ..." sentence of an option: both ways to set it, each with a value that validates."""
    option = (OPTIONS if options is None else options)[field]
    if options is not None and options is not OPTIONS:  # not an instrument() option: the variable is the way
        return f"Fix: e.g. {option.env}={option.example}." if option.env else "Fix: see the README."
    in_code = f"instrument({field}={option.python})"
    if option.env is None:
        return f"Fix: e.g. {in_code}."
    return f"Fix: e.g. {option.env}={option.example} or {in_code}."


# --- unknown variables ----------------------------------------------------------------------------------
def _variables() -> dict[str, str]:
    """The part of each variable's name one would misspell (after OTEL_LLMCOST_) -> the variable."""
    every = (*OPTIONS.values(), *DIGEST_OPTIONS.values())
    known = {option.env.removeprefix(ENV_PREFIX): option.env for option in every if option.env}
    known.update(
        (option.env.removeprefix(ENV_PREFIX), option.env)
        for option in RECONCILE_OPTIONS.values()
        if option.env and option.env.startswith(ENV_PREFIX)
    )
    # The capture switch is OpenTelemetry's GenAI variable; OTEL_LLMCOST_CAPTURE_CONTENT is a likely guess.
    known["CAPTURE_CONTENT"] = known.pop(names.ENV_CAPTURE_CONTENT)
    return known


def _did_you_mean(name: str, candidates: list[str]) -> str:
    import difflib  # only for a name that is wrong

    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """One message per ``OTEL_LLMCOST_*`` variable (any case) that is no setting, with the closest setting's name
    when one is close. Names are compared after the prefix, which every variable shares."""
    known = _variables()
    messages = []
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX) or name in known.values():
            continue
        import difflib  # only for a variable that is wrong

        close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), list(known), n=1)
        hint = f"; did you mean {known[close[0]]}?" if close else " (the README's configuration table lists them)"
        messages.append(f"{name} is not a setting of otel-llmcost and is ignored{hint}")
    return messages


def _config_error(exc: Any, sources: Mapping[str, str], options: Mapping[str, Option] | None = None) -> ConfigError:
    """One line for the user from pydantic's ``ValidationError``: the first bad option in full, any others by
    name (pydantic's text never shows; nor does the value of a secret option)."""
    options = OPTIONS if options is None else options
    messages: list[str] = []
    others: list[str] = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        problem = cause.problem if isinstance(cause, _Invalid) else str(error["msg"])
        field = str(error["loc"][0]) if error["loc"] else None
        if field is None:  # a rule across options: its message is whole
            messages.append(problem)
            others.append(problem)
        elif field not in options:
            messages.append(f"unknown option {field!r}{_did_you_mean(field, list(options))}")
            others.append(field)
        else:
            shown = sources.get(field, field)
            secret = options[field].secret or (options is DIGEST_OPTIONS and field in _SECRET)
            value = "<hidden>" if secret else repr(error["input"])
            messages.append(f"{shown}={value} {problem}. {fix(field, options)}")
            others.append(shown)
    if len(messages) > 1:
        return ConfigError(f"{messages[0]} Also invalid: {', '.join(others[1:])}.")
    return ConfigError(messages[0])


# --- reconciliation (``otel-llmcost reconcile``) --------------------------------------------------------------
def _key(value: object) -> str | None:
    """A credential: any non-empty text (never echoed back in an error)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid("is not a key (text)")
    return value.strip() or None


def _share(value: object) -> Decimal:
    """A share of the bill: 0.02 or 2% (exact), at least 0 and below 1 (100%)."""
    text = str(value).strip() if isinstance(value, (str, int, float, Decimal)) and not isinstance(value, bool) else None
    if text is None:
        raise _Invalid("is not a share such as 0.02 or 2%")
    percent = text.endswith("%")
    try:
        share = Decimal(text.removesuffix("%").strip())
    except InvalidOperation:
        raise _Invalid("is not a share such as 0.02 or 2%") from None
    if percent:
        share /= 100
    if not share.is_finite() or not 0 <= share < 1:
        raise _Invalid("must be a share from 0 up to (not including) 1, such as 0.02 or 2%")
    return share


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileSettings:
    """What ``otel-llmcost reconcile`` reads from the environment (and its options override): the providers' admin
    keys and how it compares. Not an ``instrument()`` setting: an instrumented app never needs an admin key."""

    openai_admin_key: str | None = field(
        default=None, metadata=_option(_key, names.ENV_OPENAI_ADMIN_KEY, "<admin key>", "'<admin key>'", True)
    )
    anthropic_admin_key: str | None = field(
        default=None,
        metadata=_option(_key, names.ENV_ANTHROPIC_ADMIN_KEY, "<admin key>", "'<admin key>'", True),
    )
    tolerance: Decimal = field(
        default=Decimal("0.01"), metadata=_option(_share, names.ENV_RECONCILE_TOLERANCE, "0.02", "'0.02'")
    )
    """A closed day (or model) whose unexplained difference is within this share of the bill matches."""
    interval: float = field(default=3600.0, metadata=_option(_seconds, names.ENV_RECONCILE_INTERVAL, "3600", "3600"))
    """Seconds between two polls of ``--serve`` (the reports change a few times a day; the limits are per minute)."""
    settle: float = field(default=86400.0, metadata=_option(_seconds, names.ENV_RECONCILE_SETTLE, "86400", "86400"))
    """Seconds after a UTC day ends before its bill counts as closed (late usage is still being added)."""

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> ReconcileSettings:
        """Options (``overrides``; None means not given) over ``env`` (default ``os.environ``) over defaults.
        Raises ``ConfigError`` naming the option and the fix, never a key's value."""
        return cls(**_command_values(cls, RECONCILE_OPTIONS, overrides, env))

    def __repr__(self) -> str:  # the keys never reach a log line through a repr
        shown = {
            f.name: "<set>" if RECONCILE_OPTIONS[f.name].secret and getattr(self, f.name) else getattr(self, f.name)
            for f in fields(self)
        }
        return f"ReconcileSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


RECONCILE_OPTIONS: dict[str, Option] = {item.name: item.metadata[_OPTION] for item in fields(ReconcileSettings)}
