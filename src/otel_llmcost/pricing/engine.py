"""The price book: finds the rates for a call (overrides first, then genai-prices) and caches them.

genai-prices resolves a model in ~130 µs; a call must cost microseconds. So the book resolves each
(provider, model, service tier, speed, batch, day) once, keeps the resulting ``Rates`` and prices every
later call with arithmetic only. Unknown models get no cost (never $0), one warning, and ``None``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .. import names
from ..records import Usage
from .hardware import HardwareRate
from .multipliers import Multipliers, scaled
from .prices import Price, price_of
from .rates import Cost, Rates, cost_of, plus, zero_cost

if TYPE_CHECKING:  # a price file's reader is imported only by a process that has one
    from .overrides import PriceOverrides

logger = logging.getLogger(__name__)

# gen_ai.provider.name -> genai-prices provider id.
_PRICES_PROVIDER = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "aws.bedrock": "aws",
    "anthropic": "anthropic",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "groq": "groq",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
    "together": "together",
    "fireworks": "fireworks",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "cerebras": "cerebras",
}
# Service tiers that bill the standard price.
_STANDARD_TIERS = frozenset({"default", "auto", "standard", "on_demand"})
_SECONDS_PER_DAY = 86400


def prices_provider_id(provider: str) -> str | None:
    """The genai-prices id of a semconv provider name, or None when genai-prices cannot know it."""
    return _PRICES_PROVIDER.get(provider)


def priced_providers() -> tuple[str, ...]:
    """Every gen_ai.provider.name the bundled prices cover."""
    return tuple(_PRICES_PROVIDER)


def price_context(usage: Usage) -> dict[str, str]:
    """The genai-prices price_context that selects the variant this usage is billed at."""
    context: dict[str, str] = {}
    tier = usage.service_tier
    if tier and tier not in _STANDARD_TIERS:
        context["service_tier"] = tier
    if usage.speed and usage.speed != "standard":
        context["speed"] = usage.speed
    if usage.batch:
        context["processing"] = "batch"
    return context


class PriceBook:
    """Turns (provider, model, usage) into a ``Cost``, with user overrides winning over bundled prices."""

    def __init__(
        self,
        overrides: PriceOverrides | None = None,
        aliases: Mapping[str, str] | None = None,
        hardware: HardwareRate | None = None,
        local_models: Sequence[str] = (),
    ) -> None:
        self._overrides = overrides  # None: no price file
        self._hardware = hardware
        self._local_patterns = tuple(p.lower() for p in local_models)
        self._declared: dict[str, bool] = {}
        self.multipliers = Multipliers(overrides.multipliers if overrides is not None else ())
        """Where-it-ran uplifts (data residency, US-only inference, regional endpoints): bundled, then the file's."""
        from_file = overrides.aliases if overrides is not None else {}
        self._aliases = {k.lower(): v for k, v in {**from_file, **(aliases or {})}.items()}
        self._cache: dict[tuple[str, str, str | None, str | None, bool], tuple[float, Rates | None]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._bundled_source: str | None = None

    def warm_up(self) -> None:
        """Import genai-prices and its data now (~0.2 s), at start-up rather than on the first call."""
        import genai_prices
        from genai_prices.data_snapshot import get_snapshot

        self._bundled_source = f"{names.PRICE_SOURCE_BUNDLED}@{genai_prices.__version__}"
        get_snapshot()

    def cost(
        self,
        provider: str,
        model: str | None,
        usage: Usage,
        *,
        local: bool = False,
        server_address: str | None = None,
        inference_geo: str | None = None,
    ) -> Cost | None:
        """The cost of one call, or None when no price is known for the model.

        ``local``: served from a local or private address. $0 in API spend there only for a model no hosted price
        list knows (a known one is a LiteLLM proxy or gateway in front of the paid API: its provider's price), or
        one the user declares local (OTEL_LLMCOST_LOCAL_MODELS, anywhere). The price file always wins.

        ``server_address`` and ``inference_geo`` say where it ran: a data-residency host, a regional endpoint or a
        reported region multiplies a priced (non-zero) cost here, the one place that does, so a call's cost, a
        budget's reservation before it and every report priced by this book agree. None of them: the global
        price. A multiplier that applies is one cached lookup and a product per component; none, one dict read."""
        cost = self._cost(provider, model, usage, local)
        if cost is not None and cost.exact:
            multiplier = self.multipliers.find(provider, server_address, inference_geo, cost.model_id)
            if multiplier is not None:
                return scaled(cost, multiplier)
        return cost

    def _cost(self, provider: str, model: str | None, usage: Usage, local: bool = False) -> Cost | None:
        """``cost`` before where it ran: the price of the tokens at the model's (global) rates."""
        declared = model is not None and self.declared_local(model)
        if local or declared:
            override = None
            if model and self._overrides is not None:
                override = self._overrides.rates(provider, model, price_context(usage))
            if override is not None:
                cost = cost_of(usage, override)
            elif not declared and model and (hosted := self.rates(provider, model, usage, warn=False)) is not None:
                return cost_of(usage, hosted)
            else:
                cost = zero_cost(names.PRICE_SOURCE_LOCAL, model or "")
            hardware = self._hardware.cost(usage) if self._hardware is not None else None
            return dataclasses.replace(cost, hardware=hardware) if hardware else cost
        if not model:
            return None
        rates = self.rates(provider, model, usage)
        if rates is None:
            return None
        cost = cost_of(usage, rates)
        if usage.iterations:
            for other_model, part in usage.iterations:
                # Each iteration is priced at its own model (an advisor) or the call's (a compaction); one
                # it cannot price leaves the whole call without a cost.
                part_cost = self._cost(provider, other_model or model, part)
                if part_cost is None:
                    return None
                cost = plus(cost, part_cost)
        if cost.unpriced:
            # A reported unit the model has no price for (a web search on a model whose search price is
            # not in the data): the bill is not known, so no cost rather than an undercount.
            self._warn_unpriced(provider, model, cost.unpriced)
            return None
        return cost

    def declared_local(self, model: str) -> bool:
        """True for a model the user declares self-hosted (exact ids or shell patterns, any case)."""
        if not self._local_patterns:
            return False
        known = self._declared.get(model)
        if known is None:
            lowered = model.lower()
            known = any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self._local_patterns)
            if len(self._declared) > 1024:
                self._declared.clear()
            self._declared[model] = known
        return known

    def rates(self, provider: str, model: str, usage: Usage, *, warn: bool = True) -> Rates | None:
        """Cached rates for the call's model and price context (``warn``: once, when nobody prices it)."""
        key = (provider, model, usage.service_tier, usage.speed, usage.batch)
        now = time.time()
        hit = self._cache.get(key)
        if hit is not None and now < hit[0]:
            return hit[1]
        rates = self._resolve(provider, model, usage, warn)
        # Prices change by date (and for a few models by time of day): a resolution holds until the
        # next UTC midnight, or the next minute for time-of-day prices.
        period = 60 if rates is not None and rates.time_of_day else _SECONDS_PER_DAY
        with self._lock:
            self._cache[key] = ((now // period + 1) * period, rates)
        return rates

    def _resolve(self, provider: str, model: str, usage: Usage, warn: bool = True) -> Rates | None:
        priced_model = self._aliases.get(model.lower(), model)
        context = price_context(usage)
        rates = self._overrides.rates(provider, priced_model, context) if self._overrides is not None else None
        if rates is not None:
            return rates
        try:
            rates = self._bundled(provider, priced_model, context)
        except LookupError:
            rates = None
        except Exception:  # a broken price entry must never break the call
            logger.debug("price lookup failed for %s/%s", provider, priced_model, exc_info=True)
            rates = None
        if rates is None and warn:
            self._warn_unknown(provider, model)
        return rates

    def _bundled(self, provider: str, model: str, context: dict[str, str]) -> Rates | None:
        from genai_prices.data_snapshot import get_snapshot

        if self._bundled_source is None:
            self.warm_up()
        provider_id = prices_provider_id(provider)
        if provider_id is None:
            return None
        snapshot = get_snapshot()
        prov, info = snapshot.find_provider_model(model, None, provider_id, None)
        when = datetime.now(tz=timezone.utc)
        own_model = any(info is m for m in prov.models)
        model_price = info.get_prices(when, context if own_model else None)
        rates = _rates_from(model_price, str(self._bundled_source), info.id, _has_time_of_day(info))
        if rates is None:
            return None
        if context.get("processing") == "batch":
            standard = _rates_from(info.get_prices(when, None), str(self._bundled_source), info.id)
            if standard is not None:
                rates = _with_standard(rates, standard)
        return rates

    def _warn_unpriced(self, provider: str, model: str, units: tuple[str, ...]) -> None:
        key = (provider, f"{model}\x00{','.join(units)}")
        if key in self._warned:
            return
        self._warned.add(key)
        logger.warning(
            "otel-llmcost: model %r of provider %r reported %s, which has no known price; these calls get no cost. "
            "Add its price to the price override file (%s).",
            model,
            provider,
            ", ".join(units),
            names.ENV_PRICE_FILE,
        )

    def _warn_unknown(self, provider: str, model: str) -> None:
        key = (provider, model)
        if key in self._warned:
            return
        self._warned.add(key)
        logger.warning(
            "otel-llmcost: no price known for model %r of provider %r; its calls get no cost. "
            "Add it to the price override file (%s).",
            model,
            provider,
            names.ENV_PRICE_FILE,
        )


_price = price_of


def _has_time_of_day(info: Any) -> bool:
    from genai_prices.types import TimeOfDateConstraint

    constraints = [c.constraint for c in info.prices] if isinstance(info.prices, list) else []
    constraints += [v.constraint for v in info.price_variants or ()]
    return any(isinstance(c, TimeOfDateConstraint) for c in constraints)


def _rates_from(model_price: Any, source: str, model_id: str, time_of_day: bool = False) -> Rates | None:
    """Our rates from a genai-prices ModelPrice; None when it has no per-token input price."""
    price_input = _price(getattr(model_price, "input_mtok", None))
    if price_input is None:
        return None
    from .plan import from_model_price

    zero = Price(Decimal(0))
    cache_write = _price(getattr(model_price, "cache_write_mtok", None)) or price_input
    plan, unpriced, fast = from_model_price(model_price)
    return Rates(
        input=price_input,
        output=_price(getattr(model_price, "output_mtok", None)) or zero,
        cache_read=_price(getattr(model_price, "cache_read_mtok", None)) or price_input,
        cache_write=cache_write,
        cache_write_5m=_price(getattr(model_price, "cache_write_5m_mtok", None)) or cache_write,
        cache_write_1h=_price(getattr(model_price, "cache_write_1h_mtok", None)) or cache_write,
        source=source,
        model_id=model_id,
        time_of_day=time_of_day,
        plan=plan,
        unpriced_units=unpriced,
        fast=fast,
    )


def _with_standard(rates: Rates, standard: Rates) -> Rates:
    return dataclasses.replace(rates, standard=standard)
