"""Finding a model's prices for ``prices`` and ``estimate``: the user's price file and aliases, then the bundled data.

A model or provider nobody prices is a usage error (exit code 2) with close matches in the message.
"""

from __future__ import annotations

import difflib

import click

from .. import names
from ..config import Settings
from ..errors import ConfigError
from ..pricing import PriceBook, PriceOverrides
from ..pricing.catalog import ANY_PROVIDER, ModelRates, model_rates, provider_name, provider_of, suggestions
from ..pricing.engine import price_context, priced_providers, prices_provider_id
from ..records import Usage

PRICE_FILE_HELP = f"Price override file (YAML/JSON); default: ${names.ENV_PRICE_FILE}."


def price_book(price_file: str | None) -> tuple[PriceBook, PriceOverrides]:
    """The price book the instrumentation would build from the environment (and --price-file)."""
    try:
        settings = Settings.load({"price_file": price_file} if price_file else None)
        overrides = PriceOverrides.load(settings.price_file) if settings.price_file else PriceOverrides.empty()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    book = PriceBook(overrides, settings.model_aliases)
    book.warm_up()
    return book, overrides


def find_model(book: PriceBook, overrides: PriceOverrides, model: str, provider: str | None) -> ModelRates:
    """The model's rates, or a one-line usage error naming the closest known models."""
    if provider is not None:
        resolved = provider_name(provider)
        if resolved is None:
            known = sorted({*priced_providers(), *(prices_provider_id(p) or p for p in priced_providers())})
            close = difflib.get_close_matches(provider.lower(), known, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(priced_providers()))}."
            raise click.UsageError(f"no prices for provider {provider!r}; {hint}")
    else:
        resolved = provider_of(model, overrides)
    found = model_rates(book, model, resolved) if resolved is not None else None
    if found is not None:
        return found
    at = f" at provider {resolved!r}" if provider is not None and resolved not in (None, ANY_PROVIDER) else ""
    close = suggestions(model, resolved if provider is not None else None, overrides)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else f"price it in a price file ({names.ENV_PRICE_FILE}), or pass --provider."
    )
    raise click.UsageError(f"no price known for model {model!r}{at}; {hint}")


def service_tiers(overrides: PriceOverrides) -> list[str]:
    """Every service tier a call can be priced at: those billed the standard price (default, auto, ...),
    those the bundled data prices (flex, priority, ...) and those the price file names."""
    from genai_prices.data_snapshot import get_snapshot

    standard = {tier for tier in ("auto", "default", "standard", "on_demand", "scale")
                if "service_tier" not in price_context(Usage(service_tier=tier))}
    priced = {
        variant.when["service_tier"]
        for provider in get_snapshot().providers
        for model in provider.models
        for variant in (model.price_variants or ())
        if "service_tier" in variant.when
    }
    named = {tier for entry in overrides.entries for tier in entry.service_tiers}
    return sorted(standard | priced | named)
