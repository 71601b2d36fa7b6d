"""The detectors: each looks at the window's calls and returns the USD its opportunity would have saved.

Every estimate is a what-if priced by the same price book as the calls' costs: the call's usage as the ledger
has it, changed the way the advice would change it (tokens read from the cache, the batch rate, another model,
fewer input tokens), and the difference between the two prices. A detector returns, per (provider, model,
feature), the window's saving, its evidence and the arithmetic; ``advise`` scales it to a month.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median
from typing import Any

from ..pricing import PriceBook
from ..pricing.model_ids import price_model
from ..records import Usage
from . import data
from .ledger_calls import LedgerCall

ZERO = Decimal(0)
Group = tuple[str, str, str]


@dataclass
class Tally:
    """A detector's sums for one (provider, model, feature)."""

    saved: Decimal = ZERO
    calls: int = 0
    hits: int = 0
    tokens: int = 0
    spent: Decimal = ZERO
    extra: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


class Pricer:
    """Prices a what-if usage of a call as its cost was priced (same book, same model resolution)."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book

    def cost(self, call: LedgerCall, usage: Usage, model: str | None = None) -> Decimal | None:
        name = price_model(call.provider, model or call.model, None)
        cost = self.book.cost(call.provider, name, usage)
        return cost.exact if cost is not None else None

    def saving(self, call: LedgerCall, usage: Usage, model: str | None = None) -> Decimal:
        """What the call would have cost less with ``usage`` (0 when the what-if has no price)."""
        actual = self.cost(call, call.usage)
        other = self.cost(call, usage, model)
        if actual is None or other is None:
            return ZERO
        return actual - other


def _by_provider_model(calls: Iterable[LedgerCall]) -> dict[tuple[str, str], list[LedgerCall]]:
    groups: dict[tuple[str, str], list[LedgerCall]] = defaultdict(list)
    for call in calls:
        groups[(call.provider, call.model)].append(call)
    return groups


def _minimum(provider: str, model: str) -> int:
    for prefix in sorted(data.CACHE_MINIMUM_BY_MODEL, key=len, reverse=True):
        if prefix in model:
            return data.CACHE_MINIMUM_BY_MODEL[prefix]
    return data.CACHE_MINIMUM_TOKENS.get(provider, 1024)


def boundary_name(boundary: int) -> str:
    return "the system instructions and tools" if boundary == 0 else f"message {boundary}"


# --- prompt caching ------------------------------------------------------------------------------------------
def prompt_cache(calls: list[LedgerCall], pricer: Pricer) -> dict[Group, Tally]:
    """Prefixes (long enough to cache) sent again within the cache TTL, without reading them from the cache."""
    tallies: dict[Group, Tally] = defaultdict(Tally)
    for (provider, model), group in _by_provider_model(calls).items():
        explicit = provider in data.EXPLICIT_CACHE_PROVIDERS
        minimum = _minimum(provider, model)
        seen: dict[str, float] = {}
        charged: dict[str, float] = {}  # prefix -> when its (would-be) cache write was counted
        for call in group:
            repeat = None
            for prefix in reversed(call.prefixes):
                last = seen.get(prefix.digest)
                if last is not None and call.ts - last <= data.CACHE_TTL_SECONDS:
                    repeat = prefix
                    break
            for prefix in call.prefixes:
                seen[prefix.digest] = call.ts
            tally = tallies[call.group]
            tally.calls += 1
            if repeat is None or repeat.tokens < minimum:
                continue
            usage = call.usage
            missed = repeat.tokens - usage.cache_read_tokens
            if usage.cache_read_tokens * 2 >= repeat.tokens or missed <= 0:
                continue  # the cache served it (or most of it)
            uncached = usage.uncached_input_tokens
            missed = min(missed, uncached)
            saved = pricer.saving(call, call.priced_as(cache_read_tokens=usage.cache_read_tokens + missed))
            tally.hits += 1
            tally.tokens += missed
            tally.saved += saved
            stops = [p.boundary for p in call.prefixes if p.boundary > repeat.boundary]
            where = tally.extra.setdefault("repeats_stop_at", {})
            label = f"after {boundary_name(repeat.boundary)}" + (f", before message {stops[0]}" if stops else "")
            where[label] = where.get(label, 0) + 1
            if explicit:
                start = charged.get(repeat.digest)
                if start is None or call.ts - start > data.CACHE_TTL_SECONDS:
                    # the first send of this prefix would have written it: 1.25x input on those tokens
                    charged[repeat.digest] = call.ts
                    write = usage.cache_write_tokens + repeat.tokens
                    premium = -pricer.saving(call, call.priced_as(
                        cache_write_tokens=write, cache_write_5m_tokens=usage.cache_write_5m_tokens + repeat.tokens,
                    ))
                    tally.saved -= premium
                    tally.extra["write_premium_usd"] = tally.extra.get("write_premium_usd", ZERO) + premium
    for (provider, _, _), tally in tallies.items():
        tally.extra["explicit"] = provider in data.EXPLICIT_CACHE_PROVIDERS
    return {key: tally for key, tally in tallies.items() if tally.hits and tally.saved > 0}


# --- cache writes ----------------------------------------------------------------------------------------------
def _written_prefixes(call: LedgerCall) -> set[str]:
    """The prefixes a cache write may have stored: those within the cached part (reads + writes, 5% slack for the
    token estimate); a later call that shares one of them and reads from the cache read this write."""
    cached = call.usage.cache_read_tokens + call.usage.cache_write_tokens
    return {prefix.digest for prefix in call.prefixes if prefix.tokens <= cached * 1.05}


def cache_writes(calls: list[LedgerCall], pricer: Pricer) -> tuple[dict[Group, Tally], dict[Group, Tally]]:
    """Writes never read back within their TTL; 1-hour writes whose reads all came within 5 minutes."""
    unread: dict[Group, Tally] = defaultdict(Tally)
    ttl: dict[Group, Tally] = defaultdict(Tally)
    for group in _by_provider_model(calls).values():
        for index, call in enumerate(group):
            usage = call.usage
            if not usage.cache_write_tokens:
                continue
            digests = _written_prefixes(call)
            long_ttl = usage.cache_write_1h_tokens > 0
            horizon = data.CACHE_TTL_1H_SECONDS if long_ttl else data.CACHE_TTL_SECONDS
            reads = []
            for later in group[index + 1:]:
                if later.ts - call.ts > horizon:
                    break
                if later.usage.cache_read_tokens and any(p.digest in digests for p in later.prefixes):
                    reads.append(later.ts - call.ts)
            if not reads:
                saved = pricer.saving(call, call.priced_as(
                    cache_write_tokens=0, cache_write_5m_tokens=0, cache_write_1h_tokens=0,
                ))
                tally = unread[call.group]
                tally.hits += 1
                tally.tokens += usage.cache_write_tokens
                tally.saved += saved
            elif long_ttl and max(reads) <= data.CACHE_TTL_SECONDS:
                saved = pricer.saving(call, call.priced_as(
                    cache_write_1h_tokens=0, cache_write_5m_tokens=usage.cache_write_tokens,
                ))
                tally = ttl[call.group]
                tally.hits += 1
                tally.tokens += usage.cache_write_1h_tokens
                tally.saved += saved
    return (
        {k: t for k, t in unread.items() if t.saved > 0},
        {k: t for k, t in ttl.items() if t.saved > 0},
    )


# --- response cache ----------------------------------------------------------------------------------------------
def response_cache(calls: list[LedgerCall], pricer: Pricer) -> dict[Group, Tally]:
    """The same whole request sent again within the window: a response cache would have answered it for $0."""
    tallies: dict[Group, Tally] = defaultdict(Tally)
    last: dict[tuple[str, str, str], float] = {}
    distinct: dict[Group, set[str]] = defaultdict(set)
    for call in calls:
        if call.fingerprint is None:
            continue
        key = (call.provider, call.model, call.fingerprint)
        previous = last.get(key)
        last[key] = call.ts
        if previous is None or call.ts - previous > data.RESPONSE_CACHE_WINDOW_SECONDS:
            continue
        tally = tallies[call.group]
        tally.hits += 1
        tally.tokens += call.usage.input_tokens + call.usage.output_tokens
        tally.saved += call.cost
        distinct[call.group].add(call.fingerprint)
    for group, tally in tallies.items():
        tally.extra["distinct_requests"] = len(distinct[group])
    return {k: t for k, t in tallies.items() if t.saved > 0}


# --- batch / flex ----------------------------------------------------------------------------------------------
BATCH_PROVIDERS = frozenset({"openai", "azure.ai.openai", "anthropic", "gcp.gemini", "gcp.vertex_ai", "aws.bedrock"})


def batch(calls: list[LedgerCall], pricer: Pricer, offline_features: frozenset[str]) -> dict[Group, Tally]:
    """Calls with no SERVER span above them (or in a feature declared offline), priced at the batch rate."""
    tallies: dict[Group, Tally] = defaultdict(Tally)
    for call in calls:
        if call.usage.batch or call.provider not in BATCH_PROVIDERS or call.usage.service_tier == "flex":
            continue
        offline = call.feature in offline_features
        if not offline and call.origin not in ("local", "none"):
            continue
        saved = pricer.saving(call, call.priced_as(batch=True))
        if saved <= 0:
            continue
        tally = tallies[call.group]
        tally.hits += 1
        tally.spent += call.cost
        tally.saved += saved
        why = "declared offline" if offline else f"origin {call.origin}"
        tally.extra[why] = tally.extra.get(why, 0) + 1
    return dict(tallies)


# --- model ladder ------------------------------------------------------------------------------------------------
def _cheaper(provider: str, model: str, ladders: Mapping[str, tuple[tuple[str, ...], ...]]) -> tuple[str, ...]:
    best: tuple[int, tuple[str, ...]] = (0, ())
    for ladder in ladders.get(provider, ()):
        for position, rung in enumerate(ladder):
            if (model == rung or model.startswith(rung + "-")) and len(rung) > best[0]:
                best = (len(rung), ladder[position + 1:])
    return best[1]


def model_ladder(
    calls: list[LedgerCall], pricer: Pricer, ladders: Mapping[str, tuple[tuple[str, ...], ...]]
) -> dict[Group, Tally]:
    """Features with many short answers on a model that has cheaper rungs: the same tokens priced on them."""
    groups: dict[Group, list[LedgerCall]] = defaultdict(list)
    for call in calls:
        if call.operation != "embeddings":
            groups[call.group].append(call)
    tallies: dict[Group, Tally] = {}
    for key, group in groups.items():
        provider, model, _ = key
        rungs = _cheaper(provider, model, ladders)
        if not rungs or len(group) < data.LADDER_MIN_CALLS:
            continue
        output = median(call.usage.output_tokens for call in group)
        if output > data.LADDER_MAX_MEDIAN_OUTPUT:
            continue
        spent = sum((call.cost for call in group), ZERO)
        what_if: dict[str, str] = {}
        first: Decimal | None = None
        for rung in rungs:
            priced = [pricer.cost(call, call.usage, rung) for call in group]
            if any(cost is None for cost in priced):
                continue
            total = sum((cost for cost in priced if cost is not None), ZERO)
            what_if[rung] = format(total, "f")
            if first is None:
                first = total
                target = rung
        if first is None or spent - first <= 0:
            continue
        tallies[key] = Tally(
            saved=spent - first, calls=len(group), hits=len(group), spent=spent,
            extra={"median_output_tokens": output, "what_if_usd": what_if, "to": target},
        )
    return tallies


# --- max_tokens -----------------------------------------------------------------------------------------------
def _percentile(values: list[int], fraction: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def max_tokens(calls: list[LedgerCall], pricer: Pricer) -> dict[Group, Tally]:
    """Caps far above the outputs produced (exposure, no saving) and truncation above 5% (a saving: the cut-off
    answers were paid for)."""
    groups: dict[Group, list[LedgerCall]] = defaultdict(list)
    for call in calls:
        if call.max_tokens is not None and call.operation != "embeddings":
            groups[call.group].append(call)
    tallies: dict[Group, Tally] = {}
    for key, group in groups.items():
        if len(group) < data.MAX_TOKENS_MIN_CALLS:
            continue
        truncated = [call for call in group if call.finish_reason in data.TRUNCATION_REASONS]
        outputs = [call.usage.output_tokens for call in group]
        cap = int(median(call.max_tokens for call in group if call.max_tokens is not None))
        p95 = _percentile(outputs, 0.95)
        rate = len(truncated) / len(group)
        if rate > data.TRUNCATION_RATE:
            tallies[key] = Tally(
                saved=sum((call.cost for call in truncated), ZERO), calls=len(group), hits=len(truncated),
                extra={"case": "too_low", "max_tokens": cap, "truncated": len(truncated),
                       "truncation_rate": round(rate, 4), "p95_output_tokens": p95},
            )
        elif p95 * data.MAX_TOKENS_FACTOR <= cap:
            suggested = max(64, math.ceil(_percentile(outputs, 0.99) * 1.5 / 64) * 64)
            worst = pricer.cost(group[0], group[0].priced_as(output_tokens=cap))
            bounded = pricer.cost(group[0], group[0].priced_as(output_tokens=suggested))
            tallies[key] = Tally(
                saved=ZERO, calls=len(group), hits=len(group),
                extra={"case": "far_above", "max_tokens": cap, "p95_output_tokens": p95,
                       "suggested_max_tokens": suggested,
                       "runaway_call_usd_at_cap": format(worst, "f") if worst is not None else None,
                       "runaway_call_usd_at_suggested": format(bounded, "f") if bounded is not None else None},
            )
    return tallies


# --- growing conversations ------------------------------------------------------------------------------------
def growing_context(calls: list[LedgerCall], pricer: Pricer) -> dict[Group, Tally]:
    """Conversations (each request's prompt starts with the previous one's) of many turns: priced as if only the
    first prompt and the last WINDOW_TURNS turns were sent."""
    tallies: dict[Group, Tally] = defaultdict(Tally)
    for group in _by_provider_model(calls).values():
        chains: list[list[LedgerCall]] = []
        open_chains: dict[str, list[LedgerCall]] = {}
        for call in group:
            if not call.prefixes:
                continue
            chain = None
            for prefix in reversed(call.prefixes[:-1]):
                chain = open_chains.pop(prefix.digest, None)
                if chain is not None:
                    break
            if chain is None:
                chain = []
                chains.append(chain)
            chain.append(call)
            open_chains[call.prefixes[-1].digest] = chain
        window = data.WINDOW_TURNS
        for chain in chains:
            if len(chain) < data.GROWING_MIN_TURNS:
                continue
            first = chain[0].usage.input_tokens
            for turn in range(window + 1, len(chain)):
                call = chain[turn]
                cut = chain[turn - window].usage.input_tokens - first
                if cut <= 0:
                    continue
                usage = call.usage
                uncached = usage.uncached_input_tokens
                from_cache = max(0, cut - uncached)
                saved = pricer.saving(call, call.priced_as(
                    input_tokens=usage.input_tokens - cut,
                    cache_read_tokens=max(0, usage.cache_read_tokens - from_cache),
                ))
                tally = tallies[call.group]
                tally.hits += 1
                tally.tokens += cut
                tally.saved += saved
            tally = tallies[chain[0].group]
            tally.calls += 1
            longest = max(tally.extra.get("longest_conversation_turns", 0), len(chain))
            tally.extra["longest_conversation_turns"] = longest
    return {k: t for k, t in tallies.items() if t.saved > 0}


Detector = Callable[[list[LedgerCall], Pricer], dict[Group, Tally]]
