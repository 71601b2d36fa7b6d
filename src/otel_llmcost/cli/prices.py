"""``otel-llmcost prices MODEL``: what one million tokens of a model cost, in every context the data prices.

Shows the rates the instrumentation charges (price file first, then the bundled genai-prices data): input,
output, cache read, cache writes (5-minute and 1-hour), long-context tiers, and batch/flex/priority/fast
where they differ from the standard price, with the source of the prices.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..pricing.catalog import ANY_PROVIDER, ModelRates
from ..pricing.rates import Price, Rates
from . import output
from .lookup import PRICE_FILE_HELP, find_model, price_book

COMPONENTS = (
    ("input", "input"),
    ("cache_read", "cache read"),
    ("cache_write_5m", "cache write (5m)"),
    ("cache_write_1h", "cache write (1h)"),
    ("output", "output"),
)


def _tier_starts(rates: list[Rates], component: str) -> list[int]:
    starts = {start for r in rates for start, _ in getattr(r, component).tiers}
    return sorted(starts)


def rows(found: ModelRates) -> list[dict[str, Any]]:
    """One row per component (and per long-context tier of it), one column per price context."""
    contexts = {"standard": found.standard, **found.variants}
    result: list[dict[str, Any]] = []
    for component, label in COMPONENTS:
        result.append({"component": label, **{k: getattr(r, component).base for k, r in contexts.items()}})
        for start in _tier_starts(list(contexts.values()), component):
            result.append(
                {
                    "component": f"  {label}, prompts over {start:,} tokens",
                    **{k: getattr(r, component).at(start + 1) for k, r in contexts.items()},
                }
            )
    return result


def _price_json(price: Price) -> Any:
    if not price.tiers:
        return format(price.base, "f")
    return {"base": format(price.base, "f"), "tiers": [{"above": s, "price": format(p, "f")} for s, p in price.tiers]}


def as_json(found: ModelRates) -> dict[str, Any]:
    contexts = {"standard": found.standard, **found.variants}
    return {
        "model": found.model,
        "priced_as": found.standard.model_id,
        "provider": None if found.provider == ANY_PROVIDER else found.provider,
        "source": found.standard.source,
        "unit": "USD per million tokens",
        "prices": {
            name: {component: _price_json(getattr(rates, component)) for component, _ in COMPONENTS}
            for name, rates in contexts.items()
        },
    }


@click.command()
@click.argument("model")
@click.option("--provider", "-p", metavar="P", help="gen_ai.provider.name (openai, anthropic, aws.bedrock, …).")
@click.option("--price-file", metavar="PATH", help=PRICE_FILE_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def prices(model: str, provider: str | None, price_file: str | None, fmt: str) -> None:
    """Price per million tokens of MODEL: input, output, cache read/write, tiers, batch/flex/priority.

    \b
    otel-llmcost prices gpt-4o
    otel-llmcost prices claude-sonnet-4-5 --provider anthropic --format json
    """
    book, overrides = price_book(price_file)
    found = find_model(book, overrides, model, provider)
    if fmt == "json":
        click.echo(json.dumps(as_json(found), indent=2))
        return
    out = output.console()
    contexts = ["standard", *found.variants]
    provider_text = "any provider" if found.provider == ANY_PROVIDER else found.provider
    priced_as = "" if found.standard.model_id == found.model else f", priced as {found.standard.model_id}"
    out.print(f"[bold]{found.model}[/bold] ({provider_text}{priced_as})  prices: {found.standard.source}")
    columns = [output.Column("component", "USD per 1M tokens")]
    columns += [output.Column(name, name, "price") for name in contexts]
    output.show(out, output.table(None, columns, rows(found)))
    if not found.variants:
        out.print("No batch, flex, priority or fast prices in the data for this model: such calls are charged the "
                  "standard price.", style="dim")
