"""What the price data knows about one model: its provider, its rates in every context, close matches for a typo.

For the command line (``otel-llmcost prices`` / ``estimate``), never the hot path. Rates come from the same
``PriceBook`` the instrumentation prices calls with, so what is shown is what a call is charged (overrides
first, then genai-prices). Knows the price data and the usage record, nothing about telemetry or SDKs.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..records import Usage
from .engine import PriceBook, priced_providers, prices_provider_id
from .model_ids import normalize_model_id
from .overrides import PriceOverrides
from .rates import Rates

ANY_PROVIDER = "*"
"""The provider of a price-file entry that names none: it prices the model for every provider."""

# Price contexts worth showing beside the standard price, by label. "fast" is a service tier at OpenAI
# and a speed at Anthropic; the first probe of a label that differs from the standard price wins.
VARIANT_PROBES: tuple[tuple[str, Usage], ...] = (
    ("batch", Usage(batch=True)),
    ("flex", Usage(service_tier="flex")),
    ("priority", Usage(service_tier="priority")),
    ("fast", Usage(speed="fast")),
    ("fast", Usage(service_tier="fast")),
)
RATE_FIELDS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")


@dataclass(frozen=True)
class ModelRates:
    """A model's standard rates and the contexts (batch, flex, ...) that price it differently."""

    provider: str
    model: str
    standard: Rates
    variants: dict[str, Rates] = field(default_factory=dict)


def _same_prices(a: Rates, b: Rates) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in RATE_FIELDS)


def provider_name(given: str) -> str | None:
    """A gen_ai.provider.name from what a user typed: the semconv name or the genai-prices id."""
    lowered = given.strip().lower()
    if lowered in priced_providers():
        return lowered
    for name in priced_providers():
        if prices_provider_id(name) == lowered:
            return name
    return None


def provider_of(model: str, overrides: PriceOverrides) -> str | None:
    """Who prices a model when the user did not say: a price-file entry's provider, else genai-prices' guess."""
    lowered = normalize_model_id(model).lower()
    for entry in overrides.entries:
        if entry.matches(entry.provider or ANY_PROVIDER, lowered):
            if entry.provider is not None:
                return entry.provider
            bundled = _bundled_provider(lowered)
            return bundled or ANY_PROVIDER
    return _bundled_provider(lowered)


def _bundled_provider(model: str) -> str | None:
    from genai_prices.data_snapshot import get_snapshot

    snapshot = get_snapshot()
    try:
        return provider_name(snapshot.find_provider(model, None, None).id)
    except LookupError:
        pass
    # Models outside a provider's id pattern (text-embedding-3-small): ask each priced provider in turn.
    for name in priced_providers():
        try:
            snapshot.find_provider_model(model, None, prices_provider_id(name), None)
        except LookupError:
            continue
        return name
    return None


def model_rates(book: PriceBook, model: str, provider: str) -> ModelRates | None:
    """The rates a call of ``model`` at ``provider`` is charged, standard and per variant; None when unknown."""
    normalized = normalize_model_id(model)
    standard = book.rates(provider, normalized, Usage())
    if standard is None:
        return None
    variants: dict[str, Rates] = {}
    for label, usage in VARIANT_PROBES:
        if label in variants:
            continue
        rates = book.rates(provider, normalized, usage)
        if rates is not None and not _same_prices(rates, standard):
            variants[label] = rates
    return ModelRates(provider, normalized, standard, variants)


def known_models(provider: str | None, overrides: PriceOverrides) -> list[str]:
    """Model ids the data prices (for one provider, or all), price-file models first."""
    from genai_prices.data_snapshot import get_snapshot

    ids = [e.model for e in overrides.entries if provider is None or e.provider in (None, provider)]
    wanted = prices_provider_id(provider) if provider else None
    for prov in get_snapshot().providers:
        if provider is None and provider_name(prov.id) is None:
            continue
        if wanted is None or prov.id == wanted:
            ids.extend(m.id for m in prov.models)
    return list(dict.fromkeys(ids))


def suggestions(model: str, provider: str | None, overrides: PriceOverrides, count: int = 4) -> list[str]:
    """Close matches for a model id nobody prices (a typo, usually)."""
    return difflib.get_close_matches(model.lower(), known_models(provider, overrides), n=count, cutoff=0.6)
