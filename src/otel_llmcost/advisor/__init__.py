"""Where the money could be saved: opportunities found in the ledger's calls, in USD per month.

``advise`` reads a window of the ledger (usage, cost, fingerprints, origin: never content), runs each detector
(``detect``), scales each saving to a month and explains it (evidence, arithmetic, what to change). Every amount
is priced by the same price book as the calls' costs. It knows the ledger and the price book, nothing about SDKs.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..pricing import PriceBook
from . import data, detect
from .findings import TITLES, Advice, Finding
from .ledger_calls import LedgerCall, read

__all__ = ["TITLES", "Advice", "Finding", "advise", "analyse"]

_DAY = 86_400


def advise(
    source: str | Path,
    since_seconds: float,
    now: float,
    prices: PriceBook | None = None,
    offline_features: frozenset[str] = frozenset(),
    ladders: Mapping[str, tuple[tuple[str, ...], ...]] | None = None,
) -> Advice:
    """The opportunities in the ledger's calls of [now - since, now), ranked by USD per month. ``source``: a
    ledger URL (``sqlite:PATH``, ``postgresql://...``) or a SQLite file's path."""
    calls = read(source, now - since_seconds, now)
    return analyse(calls, now - since_seconds, now, prices or PriceBook(), offline_features, ladders)


def analyse(
    calls: list[LedgerCall],
    start: float,
    end: float,
    prices: PriceBook,
    offline_features: frozenset[str] = frozenset(),
    ladders: Mapping[str, tuple[tuple[str, ...], ...]] | None = None,
) -> Advice:
    first = calls[0].ts if calls else end
    days = Decimal(str(min(end - start, max(end - first, data.MIN_WINDOW_DAYS * _DAY)))) / _DAY
    days = days.quantize(Decimal("0.0001"))
    pricer = detect.Pricer(prices)
    unread, ttl = detect.cache_writes(calls, pricer)
    found: dict[str, dict[detect.Group, detect.Tally]] = {
        "prompt_cache": detect.prompt_cache(calls, pricer),
        "cache_write_unread": unread,
        "cache_ttl": ttl,
        "response_cache": detect.response_cache(calls, pricer),
        "batch": detect.batch(calls, pricer, offline_features),
        "model_ladder": detect.model_ladder(calls, pricer, ladders if ladders is not None else data.LADDERS),
        "max_tokens": detect.max_tokens(calls, pricer),
        "growing_context": detect.growing_context(calls, pricer),
    }
    counts: dict[detect.Group, int] = {}
    for call in calls:
        counts[call.group] = counts.get(call.group, 0) + 1
    findings = [
        _finding(kind, group, tally, days, counts[group])
        for kind, tallies in found.items() for group, tally in tallies.items()
    ]
    findings.sort(key=lambda f: (-f.monthly_usd, f.kind, f.provider, f.model, f.feature))
    spend = sum((call.cost for call in calls), Decimal(0))
    return Advice(start, end, days, len(calls), spend, findings)


def _usd(value: Decimal) -> str:
    return f"${value:,.6f}"


def _finding(kind: str, group: detect.Group, tally: detect.Tally, days: Decimal, calls: int) -> Finding:
    provider, model, feature = group
    monthly = tally.saved * data.DAYS_PER_MONTH / days
    evidence: dict[str, Any] = {"calls": calls, "affected_calls": tally.hits}
    if tally.tokens:
        evidence["tokens"] = tally.tokens
    shown = {k: v for k, v in tally.extra.items() if k != "explicit"}
    extra = {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in shown.items()}
    evidence.update(extra)
    scale = f"{_usd(tally.saved)} in {days} d x {data.DAYS_PER_MONTH} / {days} = {_usd(monthly)} per month"
    where = f"{provider} {model}" + (f", feature {feature}" if feature else "")
    arithmetic: list[str]
    if kind == "prompt_cache":
        premium = tally.extra.get("write_premium_usd", Decimal(0))
        arithmetic = [
            f"{tally.hits} of {calls} calls re-sent {tally.tokens:,} prefix tokens within "
            f"{data.CACHE_TTL_SECONDS} s of the same prefix: priced as uncached input, they would cost less as "
            f"cache reads",
            f"input price - cache-read price on those tokens, less {_usd(premium)} of cache-write premium "
            f"(first send of each prefix) = {_usd(tally.saved)}",
            scale,
        ]
        stops = ", ".join(f"{where_} ({n} calls)" for where_, n in tally.extra.get("repeats_stop_at", {}).items())
        if tally.extra.get("explicit"):
            change = (f"{where}: mark the repeated prefix for caching: cache_control={{'type': 'ephemeral'}} on the "
                      f"last block of the repeated part (repeats end {stops}).")
        else:
            change = (f"{where}: the provider caches prefixes of {detect._minimum(provider, model)}+ tokens by itself, "
                      f"yet these repeats were not read from its cache: the prompts agree only {stops}; move what "
                      f"changes per request (dates, ids, user data) after the stable part, or set prompt_cache_key.")
    elif kind == "cache_write_unread":
        arithmetic = [
            f"{tally.hits} calls wrote {tally.tokens:,} tokens to the prompt cache that no later call read within the "
            f"TTL: the write premium over plain input (1.25x for 5 min, 2x for 1 h) = {_usd(tally.saved)}",
            scale,
        ]
        change = (f"{where}: drop cache_control from these requests, or send their repeats within the TTL "
                  f"(5 min, or ttl='1h').")
    elif kind == "cache_ttl":
        arithmetic = [
            f"{tally.hits} 1-hour writes of {tally.tokens:,} tokens, every read within 5 minutes: 1-hour write price "
            f"(2x input) - 5-minute write price (1.25x) = {_usd(tally.saved)}",
            scale,
        ]
        change = f"{where}: use cache_control={{'type': 'ephemeral'}} (5 min) instead of ttl='1h'."
    elif kind == "response_cache":
        arithmetic = [
            f"{tally.hits} calls repeated an identical request ({tally.extra.get('distinct_requests')} distinct) "
            f"within {data.RESPONSE_CACHE_WINDOW_SECONDS} s of its previous send: their whole cost = "
            f"{_usd(tally.saved)}",
            scale,
        ]
        change = (f"{where}: cache responses keyed by the request (model, parameters, messages) for "
                  f"{data.RESPONSE_CACHE_WINDOW_SECONDS // 60} min; the first call of each stays paid.")
    elif kind == "batch":
        arithmetic = [
            f"{tally.hits} calls with no interactive request above them cost {_usd(tally.spent)}; at the batch rate "
            f"of the same model they cost {_usd(tally.spent - tally.saved)}: saving {_usd(tally.saved)}",
            scale,
        ]
        api = {"openai": "client.batches.create (or service_tier='flex' where the model has it)",
               "azure.ai.openai": "the Batch API (client.batches.create)",
               "anthropic": "client.messages.batches.create",
               "gcp.gemini": "client.batches.create", "gcp.vertex_ai": "client.batches.create",
               "aws.bedrock": "Bedrock batch inference"}.get(provider, "the provider's Batch API")
        change = f"{where}: send these calls through {api}; results come within 24 h."
    elif kind == "model_ladder":
        target = tally.extra["to"]
        arithmetic = [
            f"{calls} calls, median output {tally.extra['median_output_tokens']} tokens, cost "
            f"{_usd(tally.spent)}; the same tokens on {target} cost {_usd(tally.spent - tally.saved)}: "
            f"{_usd(tally.saved)}",
            scale,
        ]
        change = (f"{where}: try model='{target}' on a sample and compare the answers first (a what-if on price, "
                  f"not a claim about quality).")
    elif kind == "max_tokens":
        if tally.extra["case"] == "too_low":
            arithmetic = [
                f"{tally.hits} of {tally.calls} calls ({tally.extra['truncation_rate']:.1%}) stopped at max_tokens="
                f"{tally.extra['max_tokens']}: the cut-off answers cost {_usd(tally.saved)}",
                scale,
            ]
            change = f"{where}: raise max_tokens above {tally.extra['max_tokens']} (p95 output at the cap)."
        else:
            arithmetic = [
                f"max_tokens={tally.extra['max_tokens']} while 95% of outputs are <= "
                f"{tally.extra['p95_output_tokens']} tokens: no saving on normal calls; a runaway answer costs "
                f"${tally.extra['runaway_call_usd_at_cap']} at the cap, "
                f"${tally.extra['runaway_call_usd_at_suggested']} at {tally.extra['suggested_max_tokens']}",
            ]
            change = (f"{where}: set max_tokens={tally.extra['suggested_max_tokens']} (1.5x the 99th percentile "
                      f"output): smaller budget reservations, a bounded runaway.")
    else:  # growing_context
        arithmetic = [
            f"{tally.calls} conversations, {tally.hits} turns past the first {data.WINDOW_TURNS + 1}: keeping the "
            f"first prompt and the last {data.WINDOW_TURNS} turns would have sent {tally.tokens:,} fewer input "
            f"tokens = {_usd(tally.saved)}",
            scale,
        ]
        change = (f"{where}: send a window of the last {data.WINDOW_TURNS} turns (plus the system prompt), or "
                  f"replace older turns with a summary.")
    return Finding(kind, provider, model, feature, tally.saved, monthly, evidence, arithmetic, change)
