"""The calls the advisor looks at, read from the ledger: usage, cost, fingerprints, origin; never content."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .. import names
from ..records import Usage

_WANTED = (
    "ts", "provider", "operation", "model", "response_model", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "price_source", "batch", "feature", "attributes", "request_fingerprint",
    "prefix_fingerprints", "origin", "max_tokens", "finish_reason", "service_tier", "cache_write_1h_tokens",
)


@dataclass(frozen=True, slots=True)
class Prefix:
    boundary: int
    """0: after the system instructions and tools; n: after the n-th message."""
    tokens: int
    """Estimated tokens, rescaled so that the call's last prefix matches the input tokens it reported."""
    digest: str


@dataclass(frozen=True, slots=True)
class LedgerCall:
    """One priced, successful call of the ledger."""

    ts: float
    provider: str
    operation: str
    model: str
    feature: str
    route: str | None
    usage: Usage
    cost: Decimal
    fingerprint: str | None
    prefixes: tuple[Prefix, ...]
    origin: str | None
    max_tokens: int | None
    finish_reason: str | None

    @property
    def group(self) -> tuple[str, str, str]:
        return self.provider, self.model, self.feature

    def priced_as(self, **changes: object) -> Usage:
        """The call's usage with some fields changed (a what-if priced by the same price book)."""
        return dataclasses.replace(self.usage, **changes)  # type: ignore[arg-type]


def _prefixes(text: str | None, input_tokens: int) -> tuple[Prefix, ...]:
    if not text:
        return ()
    items = []
    for part in text.split():
        boundary, tokens, digest = part.split(":")
        items.append((int(boundary), int(tokens), digest))
    last = items[-1][1]
    scale = input_tokens / last if last > 0 and input_tokens > 0 else 1.0
    return tuple(Prefix(b, round(t * scale), d) for b, t, d in items)


def read(source: str | Path, start: float, end: float) -> list[LedgerCall]:
    """The successful priced calls that ended in [start, end), oldest first (LedgerError when unreadable).

    ``source`` is a ledger URL (``sqlite:PATH``, ``postgresql://...``), read through ``open_reader``, or a
    SQLite file's path. A SQLite file made before the advisor's columns reads them as NULL."""
    from ..ledgers.reader import open_reader

    text = str(source)
    url = text if text.startswith(("sqlite:", "postgresql://", "postgres://")) else f"sqlite:{text}"
    with open_reader(url) as reader:
        found = reader.calls(start, end)
    rows = [
        tuple(row[column] for column in _WANTED)
        for row in found
        if row["error_type"] is None and row["cost_usd"] is not None and row["input_tokens"] is not None
    ]
    calls = []
    for (ts, provider, operation, model, response_model, input_tokens, output_tokens, cache_read, cache_write, cost,
         price_source, batch, feature, attributes, fingerprint, prefixes, origin, max_tokens, finish_reason, tier,
         write_1h) in rows:
        if price_source == names.PRICE_SOURCE_LOCAL:
            continue  # a local model costs no API money: nothing to save
        attrs = json.loads(attributes) if attributes else {}
        write_1h = write_1h or 0
        usage = Usage(
            input_tokens=input_tokens or 0, output_tokens=output_tokens or 0, cache_read_tokens=cache_read or 0,
            cache_write_tokens=cache_write or 0, cache_write_1h_tokens=write_1h,
            cache_write_5m_tokens=max((cache_write or 0) - write_1h, 0), service_tier=tier, batch=bool(batch),
        )
        calls.append(LedgerCall(
            ts=ts, provider=provider, operation=operation, model=response_model or model or "", feature=feature or "",
            route=attrs.get(names.HTTP_ROUTE), usage=usage, cost=Decimal(cost), fingerprint=fingerprint,
            prefixes=_prefixes(prefixes, input_tokens or 0), origin=origin, max_tokens=max_tokens,
            finish_reason=finish_reason,
        ))
    return calls
