"""``otel-llmcost estimate``: the cost of a call (or of many) from its token counts, priced like the instrumentation.

The usage record is built exactly as a provider adapter would (input includes cache reads and writes,
output includes reasoning) and priced by the same ``PriceBook``; the lines show tokens x rate per component.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import click

from ..pricing.catalog import ANY_PROVIDER, RATE_FIELDS
from ..pricing.engine import price_context
from ..pricing.rates import MILLION, Price, Rates
from ..records import Usage
from . import output
from .lookup import PRICE_FILE_HELP, find_model, price_book, service_tiers

_COUNT = click.IntRange(min=0)


def _same_prices(a: Rates, b: Rates) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in RATE_FIELDS)


def _requested(batch: bool, service_tier: str | None) -> str:
    """The price context asked for, in words: "batch", "flex", "batch, flex", or "standard"."""
    usage = Usage(batch=batch, service_tier=service_tier)
    context = price_context(usage)
    parts = (["batch"] if "processing" in context else []) + (
        [context["service_tier"]] if "service_tier" in context else []
    )
    return ", ".join(parts) or "standard"


def _line(label: str, count: int, price: Price, total_input: int) -> dict[str, Any]:
    rate = price.at(total_input)
    return {"component": label, "tokens": count, "rate": rate, "cost": count * rate / MILLION}


@click.command()
@click.option("--model", "-m", required=True, metavar="M", help="Model id as the API names it (dated ids work).")
@click.option("--input-tokens", "-i", type=_COUNT, required=True, metavar="N",
              help="All input tokens of the call, cache reads and writes included (as OpenAI's prompt_tokens).")
@click.option("--output-tokens", "-o", type=_COUNT, required=True, metavar="N",
              help="All output tokens, reasoning included.")
@click.option("--cache-read", type=_COUNT, default=0, metavar="N", help="Part of the input read from the cache.")
@click.option("--cache-write", type=_COUNT, default=0, metavar="N",
              help="Part of the input written to the cache (5-minute TTL).")
@click.option("--cache-write-1h", type=_COUNT, default=0, metavar="N",
              help="Part of the input written to the cache with a 1-hour TTL.")
@click.option("--reasoning", type=_COUNT, default=0, metavar="N", help="Part of the output spent reasoning.")
@click.option("--provider", "-p", metavar="P", help="gen_ai.provider.name; default: the model's usual provider.")
@click.option("--batch", is_flag=True,
              help="Priced at the batch rate (the standard rate, said so, when the data has none for the model).")
@click.option("--service-tier", metavar="TIER",
              help="Service tier that serves the call: flex, priority, fast, default, … (a typo is an error).")
@click.option("--calls", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Multiply by this many identical calls.")
@click.option("--price-file", metavar="PATH", help=PRICE_FILE_HELP)
@click.option("--budget-file", metavar="PATH",
              help="Also say how many such calls each budget of this file holds (per member for wildcard scopes).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def estimate(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    cache_write: int,
    cache_write_1h: int,
    reasoning: int,
    provider: str | None,
    batch: bool,
    service_tier: str | None,
    calls: int,
    price_file: str | None,
    budget_file: str | None,
    fmt: str,
) -> None:
    """The USD cost of a call with these token counts.

    \b
    otel-llmcost estimate -m gpt-4o -i 10000 -o 400 --cache-read 8000
    otel-llmcost estimate -m claude-sonnet-4-5 -i 250000 -o 2000 --cache-write-1h 50000 --calls 1000
    otel-llmcost estimate -m gpt-4o -i 2000 -o 500 --budget-file budgets.yaml
    """
    budgets = _budgets(budget_file)
    if cache_read + cache_write + cache_write_1h > input_tokens:
        raise click.UsageError(
            f"--cache-read + --cache-write + --cache-write-1h ({cache_read + cache_write + cache_write_1h:,}) exceed "
            f"--input-tokens ({input_tokens:,}); input tokens count every prompt token, cached ones included."
        )
    if reasoning > output_tokens:
        raise click.UsageError(
            f"--reasoning ({reasoning:,}) exceeds --output-tokens ({output_tokens:,}); output includes reasoning."
        )
    book, overrides = price_book(price_file)
    if service_tier is not None:
        tiers = service_tiers(overrides)
        if service_tier not in tiers:
            raise click.BadParameter(
                f"{service_tier!r} is not a service tier; valid: {', '.join(tiers)}.", param_hint="--service-tier"
            )
    found = find_model(book, overrides, model, provider)
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write + cache_write_1h,
        cache_write_5m_tokens=cache_write,
        cache_write_1h_tokens=cache_write_1h,
        reasoning_tokens=reasoning,
        service_tier=service_tier,
        batch=batch,
    )
    rates = book.rates(found.provider, found.model, usage) or found.standard
    cost = book.cost(found.provider, found.model, usage)
    if cost is None:  # cannot happen once the model was found; kept for the type checker
        raise click.ClickException(f"no price for {model!r}")
    lines = [
        _line("input (not cached)", usage.uncached_input_tokens, rates.input, input_tokens),
        _line("cache read", cache_read, rates.cache_read, input_tokens),
        _line("cache write (5m)", cache_write, rates.cache_write_5m, input_tokens),
        _line("cache write (1h)", cache_write_1h, rates.cache_write_1h, input_tokens),
        _line("output", output_tokens, rates.output, input_tokens),
    ]
    per_call = output.decimal(cost.total) or Decimal(0)
    saved = sum((output.decimal(v) or Decimal(0) for v in (cost.savings_cache, cost.savings_batch)), Decimal(0))
    requested = _requested(batch, service_tier)
    # A context the price data has no price for bills the standard price (as the instrumentation charges it):
    # say so rather than label standard rates "batch".
    unpriced_context = requested != "standard" and _same_prices(rates, found.standard)
    context = "standard" if unpriced_context else requested
    note = (
        f"no {requested} price is known for {found.model}: priced at the standard rate, as the instrumentation "
        "charges such calls (a price file can set one)"
        if unpriced_context
        else None
    )
    provider_text = "any provider" if found.provider == ANY_PROVIDER else found.provider
    if fmt == "json":
        document = {
            "model": found.model,
            "priced_as": rates.model_id,
            "provider": None if found.provider == ANY_PROVIDER else found.provider,
            "context": context,
            "requested_context": requested,
            "note": note,
            "source": rates.source,
            "calls": calls,
            "lines": [{**line, "rate": format(line["rate"], "f"), "cost": format(line["cost"], "f")} for line in lines],
            "cost_per_call_usd": format(per_call, "f"),
            "cost_usd": format(per_call * calls, "f"),
            "saved_usd": format(saved * calls, "f"),
        }
        if budget_file is not None:
            document["budgets"] = [_fits(budget, per_call) for budget in budgets]
        click.echo(json.dumps(document, indent=2))
        return
    out = output.console()
    out.print(f"[bold]{found.model}[/bold] ({provider_text}, {context})  prices: {rates.source}")
    if note is not None:
        out.print(f"Note: {note}.", style="yellow", highlight=False)
    columns = [
        output.Column("component", "per call"),
        output.Column("tokens", "tokens", "int"),
        output.Column("rate", "USD per 1M", "price"),
        output.Column("cost", "cost", "usd"),
    ]
    total = {"component": "total", "tokens": input_tokens + output_tokens, "cost": per_call}
    output.show(out, output.table(None, columns, [line for line in lines if line["tokens"]], total))
    if reasoning:
        out.print(f"Output includes {output.plural(reasoning, 'reasoning token')}, billed as output.", style="dim")
    for kind, amount in (("the prompt cache", cost.savings_cache), ("the batch discount", cost.savings_batch)):
        if amount:
            out.print(f"Saved by {kind}: {output.usd(amount)} per call.")
    if calls > 1:
        out.print(f"[bold]{output.plural(calls, 'call')}: {output.usd(per_call * calls)}[/bold]")
    for budget in budgets:
        out.print(_fits_text(_fits(budget, per_call)), highlight=False)


def _budgets(path: str | None) -> list[Any]:
    """The budgets of ``--budget-file`` (checked like instrument() checks them), or none."""
    if path is None:
        return []
    from ..budgets.loader import load_budgets
    from ..errors import ConfigError

    try:
        return load_budgets(path)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--budget-file") from None


def _fits(budget: Any, per_call: Decimal) -> dict[str, Any]:
    """How many calls of this cost a budget holds in a period: per member (and per override) for a wildcard one."""

    def count(limit: Decimal) -> int | None:
        return int(limit // per_call) if per_call else None  # a free call: no limit to reach

    return {
        "budget": budget.name,
        "limit_usd": format(budget.limit, "f"),
        "period": budget.period.text,
        "per": budget.scope_word if budget.per_member else None,
        "calls": count(budget.limit),
        "overrides": {member: count(limit) for member, limit in budget.overrides.items()},
    }


def _fits_text(fits: dict[str, Any]) -> str:
    def calls(n: int | None) -> str:
        return "any number of calls" if n is None else output.plural(n, "such call")

    each = f" per {fits['per']}" if fits["per"] else ""
    text = f"Budget {fits['budget']} (${fits['limit_usd']}{each} per {fits['period']})"
    text += f" holds {calls(fits['calls'])}{each}"
    if fits["overrides"]:
        text += " (" + ", ".join(f"{member}: {calls(n)}" for member, n in fits["overrides"].items()) + ")"
    return text + "."
