"""The user's price file: extra models, replaced prices, $0 self-hosted models, and model aliases.

Format (YAML or JSON; prices in USD per million tokens)::

    models:
      - model: my-finetune            # the id the API returns (case-insensitive)
        provider: openai              # optional: a gen_ai.provider.name; default any provider
        match: exact                  # or "prefix" (e.g. every dated version of a model)
        input: 1.5                    # required
        output: 6                     # required
        cache_read: 0.15              # optional, default: input
        cache_write: 1.875            # optional, default: input
        cache_write_5m: 1.875         # optional, default: cache_write
        cache_write_1h: 3             # optional, default: cache_write
        tiers:                        # optional long-context cliffs: past `above` input tokens,
          - {above: 200000, input: 3, output: 22.5}   # every token pays the tier's prices
        batch: {input: 0.75, output: 3}               # optional prices for batch calls
        service_tiers: {flex: {input: 0.75, output: 3}}  # optional prices per service tier
        units:                        # optional: any other genai-prices price key, in its own unit
          web_searches_kcount: 10     # (USD per 1,000 searches; input_audio_mtok: USD per Mtok, ...)
    aliases:                          # model id as returned -> model id to price it as
      my-azure-deployment: gpt-4o-2024-08-06
    multipliers:                      # where it ran: replace a bundled one by name (factor 1: off), or add one
      - {name: openai.data_residency, host_suffix: .api.openai.com, provider: openai, factor: 1.1}
      - {name: gateway.eu, host: llm.eu.internal, factor: 1.2}   # or inference_geo: us (a reported region)

A bad file raises ``ConfigError`` naming the file, the entry and the problem; nothing is half-applied.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .. import names
from ..errors import ConfigError
from .multipliers import Multiplier
from .multipliers import parse as parse_multipliers
from .rates import Price, Rates

_PRICE_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_5m", "cache_write_1h")
_ENTRY_KEYS = frozenset({"model", "provider", "match", "tiers", "batch", "service_tiers", "units", *_PRICE_KEYS})


@dataclass(frozen=True)
class _Entry:
    model: str
    provider: str | None
    prefix: bool
    prices: dict[str, Price]
    batch: dict[str, Decimal]
    service_tiers: dict[str, dict[str, Decimal]]
    units: dict[str, Decimal] = field(default_factory=dict)
    """Other genai-prices price keys (``web_searches_kcount``, ``input_audio_mtok``): priced units of their own."""

    def matches(self, provider: str, model: str) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        return model.startswith(self.model) if self.prefix else model == self.model

    def rates(self, source: str, context: Mapping[str, str]) -> Rates:
        prices = dict(self.prices)
        variant: dict[str, Decimal] = {}
        tier = context.get("service_tier")
        if tier is not None:
            variant = self.service_tiers.get(tier, {})
        if context.get("processing") == "batch":
            variant = self.batch
        for key, value in variant.items():
            prices[key] = Price(value)
        base = _build(prices, source, self.model, self.units)
        # Only a batch price carries the standard rates: their difference is reported as batch savings
        # (as for bundled prices); a service-tier discount is not a batch saving.
        if variant and context.get("processing") == "batch":
            standard = _build(dict(self.prices), source, self.model, self.units)
            return Rates(**{**_fields(base), "standard": standard})
        return base


def _fields(rates: Rates) -> dict[str, Any]:
    return {name: getattr(rates, name) for name in Rates.__slots__}


def _build(prices: dict[str, Price], source: str, model: str, units: Mapping[str, Decimal] | None = None) -> Rates:
    input_price = prices["input"]
    cache_write = prices.get("cache_write", input_price)
    read = prices.get("cache_read", input_price)
    write_5m = prices.get("cache_write_5m", cache_write)
    write_1h = prices.get("cache_write_1h", cache_write)
    fixed = (input_price, prices["output"], read, cache_write, write_5m, write_1h)
    if not units:
        return Rates(*fixed, source=source, model_id=model)
    from .plan import build, fixed_plan
    from .units import by_price_key, registry

    six, _ = fixed_plan(*fixed)
    priced = [(registry()[unit.key], unit.price) for unit in six]
    priced += [(by_price_key()[key], Price(value)) for key, value in units.items()]
    plan, unpriced, fast = build(priced)
    return Rates(*fixed, source=source, model_id=model, plan=plan, unpriced_units=unpriced, fast=fast)


@dataclass(frozen=True)
class PriceOverrides:
    """Prices from the user's file, consulted before the bundled ones."""

    entries: tuple[_Entry, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    source: str = names.PRICE_SOURCE_OVERRIDE
    multipliers: tuple[Multiplier, ...] = ()
    """Where-it-ran multipliers from the file: by name they replace the bundled ones (``multipliers.json``)."""

    @classmethod
    def empty(cls) -> PriceOverrides:
        return cls()

    def rates(self, provider: str, model: str, context: Mapping[str, str]) -> Rates | None:
        lowered = model.lower()
        # Provider-specific entries win over provider-less ones; exact matches over prefixes.
        ranked = sorted(self.entries, key=lambda e: (e.provider is None, e.prefix, -len(e.model)))
        for entry in ranked:
            if entry.matches(provider, lowered):
                return entry.rates(self.source, context)
        return None

    @classmethod
    def load(cls, path: str | Path) -> PriceOverrides:
        """Read and validate a price file; raise ConfigError naming the file, entry and problem."""
        path = Path(path)
        where = f"price file {str(path)!r} (set by {names.ENV_PRICE_FILE} or price_file=)"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{where}: cannot be read: {exc.strerror or exc}. Fix the path.") from None
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # YAMLError / JSONDecodeError: report the parser's own position
            raise ConfigError(f"{where}: is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from None
        return cls.from_data(data, where=where, source=f"{names.PRICE_SOURCE_OVERRIDE}:{path.name}")

    @classmethod
    def from_data(cls, data: Any, *, where: str = "price overrides", source: str = "") -> PriceOverrides:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: the top level must be a mapping with 'models' and/or 'aliases'.")
        unknown = set(data) - {"models", "aliases", "multipliers"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown top-level key(s) {sorted(unknown)}; expected 'models', 'aliases', 'multipliers'."
            )
        models = data.get("models") or []
        if not isinstance(models, list):
            raise ConfigError(f"{where}: 'models' must be a list of entries.")
        entries = tuple(_parse_entry(raw, f"{where}: models[{i}]") for i, raw in enumerate(models))
        aliases_raw = data.get("aliases") or {}
        if not isinstance(aliases_raw, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in aliases_raw.items()
        ):
            raise ConfigError(f"{where}: 'aliases' must map model ids to model ids (strings).")
        multipliers = parse_multipliers(data.get("multipliers") or [], where)
        aliases = {str(k): str(v) for k, v in aliases_raw.items()}
        return cls(entries, aliases, source or names.PRICE_SOURCE_OVERRIDE, multipliers)


def _number(value: Any, where: str, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: {key!r} must be a number of USD per million tokens, got {value!r}.")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: {key!r} must be a number of USD per million tokens, got {value!r}.") from None
    if not number.is_finite() or number < 0 or (isinstance(value, float) and math.isnan(value)):
        raise ConfigError(f"{where}: {key!r} must be a finite number >= 0, got {value!r}.")
    return number


def _partial(raw: Any, where: str) -> dict[str, Decimal]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping of prices such as {{input: 1, output: 2}}.")
    bad = set(raw) - set(_PRICE_KEYS)
    if bad:
        raise ConfigError(f"{where}: unknown price key(s) {sorted(bad)}; expected some of {list(_PRICE_KEYS)}.")
    return {k: _number(v, where, k) for k, v in raw.items()}


def _parse_entry(raw: Any, where: str) -> _Entry:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: each model entry must be a mapping with at least model, input, output.")
    model = raw.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{where}: 'model' is required and must be a non-empty string.")
    where = f"{where} (model {model!r})"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_ENTRY_KEYS)}.")
    for required in ("input", "output"):
        if required not in raw:
            raise ConfigError(f"{where}: {required!r} is required (USD per million tokens; 0 for self-hosted).")
    match = raw.get("match", "exact")
    if match not in ("exact", "prefix"):
        raise ConfigError(f"{where}: 'match' must be 'exact' or 'prefix', got {match!r}.")
    provider = raw.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider):
        raise ConfigError(f"{where}: 'provider' must be a gen_ai.provider.name such as 'openai'.")
    flat = {k: _number(raw[k], where, k) for k in _PRICE_KEYS if k in raw}
    tiers_raw = raw.get("tiers") or []
    if not isinstance(tiers_raw, list):
        raise ConfigError(f"{where}: 'tiers' must be a list of {{above: N, input: .., output: ..}}.")
    tier_prices: dict[str, list[tuple[int, Decimal]]] = {}
    for j, tier in enumerate(tiers_raw):
        tier_where = f"{where}: tiers[{j}]"
        if not isinstance(tier, Mapping) or "above" not in tier:
            raise ConfigError(f"{tier_where}: needs 'above' (input tokens) and prices.")
        above = tier["above"]
        if isinstance(above, bool) or not isinstance(above, int) or above < 0:
            raise ConfigError(f"{tier_where}: 'above' must be a whole number of input tokens >= 0.")
        for key, value in _partial({k: v for k, v in tier.items() if k != "above"}, tier_where).items():
            tier_prices.setdefault(key, []).append((above, value))
    prices = {
        key: Price(value, tuple(sorted(tier_prices.get(key, []), reverse=True))) for key, value in flat.items()
    }
    service_tiers_raw = raw.get("service_tiers") or {}
    if not isinstance(service_tiers_raw, Mapping):
        raise ConfigError(f"{where}: 'service_tiers' must map a tier name to prices.")
    units = _units(raw.get("units"), f"{where}: units") if raw.get("units") is not None else {}
    return _Entry(
        model=model.strip().lower(),
        provider=provider,
        prefix=match == "prefix",
        prices=prices,
        batch=_partial(raw["batch"], f"{where}: batch") if "batch" in raw else {},
        service_tiers={
            str(t): _partial(p, f"{where}: service_tiers.{t}") for t, p in service_tiers_raw.items()
        },
        units=units,
    )


_FIXED_PRICE_KEYS = frozenset(
    {"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_5m_mtok", "cache_write_1h_mtok"}
)


def _units(raw: Any, where: str) -> dict[str, Decimal]:
    """Prices of other units, keyed by genai-prices' price keys (its unit registry is the list of valid keys)."""
    from .units import by_price_key

    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must map genai-prices price keys to prices, e.g. {{web_searches_kcount: 10}}.")
    known = set(by_price_key()) - _FIXED_PRICE_KEYS
    bad = sorted(str(k) for k in raw if k not in known)
    if bad:
        raise ConfigError(
            f"{where}: unknown price key(s) {bad}; expected genai-prices price keys such as "
            f"web_searches_kcount, input_audio_mtok, output_image_mtok (the fixed prices go at the entry's top)."
        )
    return {str(k): _number(v, where, str(k)) for k, v in raw.items()}
