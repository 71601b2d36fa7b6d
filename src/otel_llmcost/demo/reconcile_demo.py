"""The demo's reconciliation: its own traffic billed by loopback fake providers, with one planted difference.

The fake bills exactly what the demo's calls cost (per provider and model, tokens included), plus the spend of an
app that runs without otel-llmcost (a model no demo call used). The real SDK admin clients read the fake reports
and ``reconcile`` explains the difference. The demo's calls all happen today, a day no provider has closed, so
both sides are dated yesterday here: the comparison a team sees once the day has closed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from .. import names
from ..reconcile import Computed, model_key
from ..reconcile.billing import READERS
from ..reconcile.compare import compare
from ..reporting.spans import CallRecord
from .billing_fake import BillingFake, Charge

# The planted difference: an app without otel-llmcost, spending on a model the demo never calls.
UNINSTRUMENTED_MODEL = "gpt-4.1-nano"
UNINSTRUMENTED_USD = Decimal("0.4213")


def reconcile(records: list[CallRecord], now: float) -> list[Any]:
    """Lines of the comparison of ``records`` (dated yesterday) against the fake bills."""
    day = (datetime.fromtimestamp(now, tz=timezone.utc).date() - timedelta(days=1)).isoformat()
    ours: dict[tuple[str, str], list[CallRecord]] = defaultdict(list)
    for record in records:
        provider = str(record.attributes.get(names.GEN_AI_PROVIDER_NAME, ""))
        if provider in READERS and record.error is None:
            model = record.attributes.get(names.GEN_AI_RESPONSE_MODEL) or record.attributes.get(
                names.GEN_AI_REQUEST_MODEL)
            ours[(provider, model_key(str(model)))].append(record)
    computed = [
        Computed(provider, day, model, sum((r.cost or Decimal(0) for r in group), Decimal(0)), len(group),
                 sum(1 for r in group if r.cost is None), sum(r.input_tokens or 0 for r in group),
                 sum(r.output_tokens or 0 for r in group))
        for (provider, model), group in sorted(ours.items())
    ]
    charges = [
        Charge(c.provider, day, c.model, "input" if c.provider == "openai" else "tokens", c.cost, c.input_tokens,
               c.output_tokens, c.calls)
        for c in computed if c.cost
    ]
    charges.append(Charge("openai", day, UNINSTRUMENTED_MODEL, "input", UNINSTRUMENTED_USD, 120_000, 0, 40))
    with BillingFake() as fake:
        fake.add(*charges)
        start = int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())
        bills = []
        for provider, url in (("openai", fake.openai_url), ("anthropic", fake.anthropic_url)):
            _, make_client, read = READERS[provider]
            client = make_client(fake.keys[provider], url)
            try:
                bills.append(read(client, start, start + 86400, fake.keys[provider]))
            finally:
                client.close()
    return compare(bills, computed, now, 0.0, Decimal("0.01"))
