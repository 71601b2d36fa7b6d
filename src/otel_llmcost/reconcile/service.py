"""One reconciliation run: the bills of every provider with an admin key, the computed spend, the comparison."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ReconcileSettings
from . import Bill, ReconcileError, billing, computed
from .compare import Line, compare

DAY = billing.DAY


@dataclass
class Result:
    start: int
    end: int
    providers: tuple[str, ...]
    lines: list[Line]
    bills: list[Bill]


def window(since: float, until: float) -> tuple[int, int]:
    """Whole UTC days: from the midnight at or before ``until - since`` to the midnight after ``until``."""
    start = int((until - since) // DAY * DAY)
    end = int(-(-until // DAY) * DAY)
    return start, max(end, start + DAY)


def providers_with_keys(settings: ReconcileSettings, wanted: tuple[str, ...] = ()) -> dict[str, str]:
    """Provider -> admin key, for the providers asked for (all with a key when none is named)."""
    keys = {"openai": settings.openai_admin_key, "anthropic": settings.anthropic_admin_key}
    if wanted:
        missing = [p for p in wanted if not keys.get(p)]
        if missing:
            variables = " and ".join(billing.READERS[p][0] for p in missing)
            raise ReconcileError(
                f"no admin key for {', '.join(missing)}: set {variables} (an admin key, not an API key)"
            )
        return {p: keys[p] for p in wanted if keys[p]}  # type: ignore[misc]
    found = {p: k for p, k in keys.items() if k}
    if not found:
        raise ReconcileError(
            "no admin key: set OPENAI_ADMIN_KEY and/or ANTHROPIC_ADMIN_KEY (an organization admin key, not an API key)"
        )
    return found


def run(
    settings: ReconcileSettings,
    source: str,
    since: float,
    until: float,
    now: float,
    wanted: tuple[str, ...] = (),
    base_urls: Mapping[str, str | None] | None = None,
) -> Result:
    """Read the bills and the computed spend over the days of the window and compare them."""
    keys = providers_with_keys(settings, wanted)
    start, end = window(since, until)
    bills = []
    for provider in keys:
        reason = billing.unsupported(provider)
        if reason is not None:
            raise ReconcileError(reason)
    for provider, key in keys.items():
        _, make_client, read = billing.READERS[provider]
        client = make_client(key, (base_urls or {}).get(provider))
        try:
            bills.append(read(client, start, end, key))
        finally:
            client.close()
    ours = computed.read(source, start, end, keys)
    lines = compare(bills, ours, now, settings.settle, settings.tolerance)
    return Result(start, end, tuple(keys), lines, bills)
