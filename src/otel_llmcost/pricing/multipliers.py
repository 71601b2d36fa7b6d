"""Where a call ran, as a price: the multipliers a data-residency host, a regional endpoint or a region the API
reports (Anthropic ``usage.inference_geo``) put on the whole token cost.

They are data, like the prices: ``multipliers.json`` beside this module holds each one with its source and the
day it was checked; a price file's ``multipliers:`` list adds entries or replaces one of the same name (factor 1
turns it off). One lookup per (provider, host, region), cached: the hot path pays a dict read and, when a
multiplier applies, one Decimal product per component. Knows hosts, regions and costs, nothing about SDKs.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .rates import Cost

_KEYS = frozenset(
    {"name", "provider", "host_suffix", "host", "inference_geo", "models", "factor", "source", "checked", "note"}
)


@dataclass(frozen=True, slots=True)
class Multiplier:
    """One uplift: which calls it applies to and by how much."""

    name: str
    factor: Decimal
    provider: str | None = None
    host: str | None = None
    """An exact server address."""
    host_suffix: str | None = None
    """The end of a server address (``.api.openai.com``)."""
    inference_geo: str | None = None
    """The region the response reports (Anthropic ``usage.inference_geo``)."""
    models: tuple[str, ...] = ()
    """Shell patterns of the priced model ids it applies to (lower case); empty: every model."""
    source: str = ""

    def applies(self, provider: str, host: str | None, geo: str | None, model: str | None = None) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        if self.models and not any(fnmatch.fnmatchcase((model or "").lower(), p) for p in self.models):
            return False
        if self.host is not None and host != self.host:
            return False
        if self.host_suffix is not None and (host is None or not host.endswith(self.host_suffix)):
            return False
        if self.inference_geo is not None and (geo or "").lower() != self.inference_geo:
            return False
        return self.host is not None or self.host_suffix is not None or self.inference_geo is not None


def parse(raw: Any, where: str) -> tuple[Multiplier, ...]:
    """Multiplier entries from the data file or a price file's ``multipliers`` list; a bad one raises ConfigError."""
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise ConfigError(f"{where}: 'multipliers' must be a list of {{name, factor, host_suffix|host|inference_geo}}.")
    found: list[Multiplier] = []
    for i, entry in enumerate(raw):
        at = f"{where}: multipliers[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{at}: must be a mapping with name, factor and host_suffix, host or inference_geo.")
        unknown = set(entry) - _KEYS
        if unknown:
            raise ConfigError(f"{at}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}.")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at}: 'name' is required (e.g. openai.data_residency).")
        factor = _factor(entry.get("factor"), f"{at} ({name!r})")
        texts = {k: entry.get(k) for k in ("provider", "host", "host_suffix", "inference_geo")}
        for key, value in texts.items():
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"{at} ({name!r}): {key!r} must be a non-empty string.")
        lowered = {k: v.strip().lower() if isinstance(v, str) else None for k, v in texts.items()}
        models = entry.get("models") or []
        if not isinstance(models, list) or not all(isinstance(m, str) and m.strip() for m in models):
            raise ConfigError(f"{at} ({name!r}): 'models' must be a list of model ids or shell patterns.")
        multiplier = Multiplier(
            name.strip(), factor, models=tuple(m.strip().lower() for m in models),
            source=str(entry.get("source") or ""), **lowered,
        )
        if multiplier.host is None and multiplier.host_suffix is None and multiplier.inference_geo is None:
            raise ConfigError(f"{at} ({name!r}): needs host, host_suffix or inference_geo (what it applies to).")
        found.append(multiplier)
    return tuple(found)


def _factor(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: 'factor' must be a number such as 1.1, got {value!r}.")
    try:
        factor = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: 'factor' must be a number such as 1.1, got {value!r}.") from None
    if not factor.is_finite() or factor <= 0 or (isinstance(value, float) and math.isnan(value)):
        raise ConfigError(f"{where}: 'factor' must be a finite number > 0, got {value!r}.")
    return factor


@lru_cache(maxsize=1)
def bundled() -> tuple[Multiplier, ...]:
    """The packaged multipliers (``multipliers.json``)."""
    path = Path(__file__).with_name("multipliers.json")
    return parse(json.loads(path.read_text(encoding="utf-8"))["multipliers"], str(path))


class Multipliers:
    """The multipliers in force: the price file's first (by name they replace bundled ones), then the bundled."""

    def __init__(self, from_file: Sequence[Multiplier] = ()) -> None:
        names = {m.name for m in from_file}
        self._all = (*from_file, *(m for m in bundled() if m.name not in names))
        self._providers = frozenset(m.provider for m in self._all) if all(m.provider for m in self._all) else None
        """The providers some multiplier names (None: one applies to any provider): others skip the lookup."""
        self._cache: dict[tuple[str, str | None, str | None, str | None], Multiplier | None] = {}

    def find(self, provider: str, host: str | None, geo: str | None, model: str | None = None) -> Multiplier | None:
        """The first multiplier that applies to a call, or None (factor 1 counts as none). A call with neither
        host nor region, or of a provider no multiplier names, returns at once (every multiplier needs one)."""
        if (host is None and geo is None) or (self._providers is not None and provider not in self._providers):
            return None
        key = (provider, host, geo, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = next((m for m in self._all if m.applies(provider, host, geo, model)), None)
        if found is not None and found.factor == 1:
            found = None
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[key] = found
        return found


def scaled(cost: Cost, multiplier: Multiplier) -> Cost:
    """A cost times a multiplier: every component and the exact total (savings too: they are in the same money).
    Built directly, not with ``dataclasses.replace`` (several times slower on the call path)."""
    exact = cost.exact * multiplier.factor
    f = float(multiplier.factor)
    return Cost(
        float(exact), cost.input * f, cost.output * f, cost.cache_read * f, cost.cache_write * f,
        cost.savings_cache * f, cost.savings_batch * f, cost.source, cost.model_id, cost.hardware, exact,
        tuple((name, value * f) for name, value in cost.components), cost.unpriced, multiplier=(multiplier.name, f),
    )
