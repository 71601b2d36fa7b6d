"""``LLMCostInstrumentor``: reads settings and prices, builds the runtime, patches the installed SDKs.

Found by ``opentelemetry-instrument`` through the ``opentelemetry_instrumentor`` entry point. Each
SDK is optional and each method is patched on its own, so a method missing from one SDK version
disables only that method. ``uninstrument()`` restores exactly what was patched.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import logging
import os
from collections.abc import Collection, Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from . import budgets, names, patching
from .calls import Runtime
from .config import Settings
from .metrics import BudgetGauges, instruments_for, reveal_new_series
from .pricing import HardwareRate, PriceBook, PriceOverrides
from .providers import anthropic as anthropic_adapter
from .providers import gemini as gemini_adapter
from .providers import ollama as ollama_adapter
from .providers import openai as openai_adapter
from .providers import stainless
from .providers.base import async_wrapper, sync_wrapper
from .telemetry import Telemetry
from .version import __version__

logger = logging.getLogger(__name__)

_atexit_registered = False


def _resolve(module: str, path: str) -> tuple[Any, str] | None:
    """(owner class, attribute) for "Class.method" in module, or None when this SDK version lacks it."""
    try:
        owner: Any = importlib.import_module(module)
    except ImportError:
        return None
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent, None)
        if owner is None:
            return None
    if attribute not in getattr(owner, "__dict__", {}):
        return None
    return owner, attribute


def _installed(module: str) -> bool:
    """True when a (possibly dotted) module can be imported; ``google`` alone may be another package."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
def switched_off(env: Mapping[str, str]) -> str | None:
    """Why OpenTelemetry's own switches turn us off (then nothing is patched: no spans, metrics or budget
    checks, and the SDK methods stay the SDK's), or None. ``OTEL_SDK_DISABLED`` is read as the SDK reads it."""
    if env.get(names.ENV_SDK_DISABLED, "").strip().lower() == "true":
        return f"{names.ENV_SDK_DISABLED}=true"
    disabled = {item.strip() for item in env.get(names.ENV_DISABLED_INSTRUMENTATIONS, "").split(",")}
    if names.INSTRUMENTOR_NAME in disabled or "*" in disabled:
        return f"{names.ENV_DISABLED_INSTRUMENTATIONS} names {names.INSTRUMENTOR_NAME}"
    return None


class LLMCostInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Cost-aware OpenTelemetry instrumentation for the OpenAI, Anthropic, Google Gen AI and Ollama SDKs."""

    # BaseInstrumentor is a singleton and __init__ runs on every LLMCostInstrumentor() call:
    # state lives in attributes set by _instrument, never reset by a constructor.
    _patched: list[tuple[Any, str]]
    _gauges: BudgetGauges
    runtime: Runtime | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        # Either SDK is enough; BaseInstrumentor would refuse to run if any listed one were missing,
        # so nothing is listed and each SDK is checked for on its own in _instrument().
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        self._patched = []
        self.runtime = None
        reason = switched_off(os.environ)
        if reason is not None:
            logger.debug("otel-llmcost: not instrumenting (%s)", reason)
            return
        options = {k: kwargs[k] for k in kwargs if k not in ("tracer_provider", "meter_provider", "skip_dep_check")}
        settings = Settings.load(options.pop("settings", None) or options)
        overrides = PriceOverrides.load(settings.price_file) if settings.price_file else None
        hardware = HardwareRate(settings.hardware_usd_per_gpu_hour, settings.hardware_usd_per_mtok)
        prices = PriceBook(overrides, settings.model_aliases, hardware)
        prices.warm_up()
        tracer = trace.get_tracer(
            names.INSTRUMENTATION_SCOPE, __version__, tracer_provider=kwargs.get("tracer_provider")
        )
        meter = metrics.get_meter(names.INSTRUMENTATION_SCOPE, __version__, meter_provider=kwargs.get("meter_provider"))
        instruments = instruments_for(meter, settings.request_cost_buckets)
        enforcer = budgets.build(settings, prices, instruments)  # a bad budget file fails here, before any patch
        runtime = Runtime(settings, prices, Telemetry(tracer, instruments, settings))
        runtime.budgets = enforcer
        instruments.budget_gauges.source = enforcer.state if enforcer is not None else None
        self._gauges = instruments.budget_gauges
        self.runtime = runtime
        if importlib.util.find_spec("openai") is not None:
            self._patch_openai(runtime)
        if importlib.util.find_spec("anthropic") is not None:
            self._patch_anthropic(runtime)
        if _installed("google.genai"):
            self._patch_gemini(runtime)
        if _installed("ollama"):
            self._patch_ollama(runtime)
        global _atexit_registered
        if not _atexit_registered:
            # Runs before the SDK providers' own exit hooks (registered earlier): the final export
            # reports every counter series in full.
            atexit.register(reveal_new_series)
            _atexit_registered = True

    def _wrap(self, module: str, path: str, wrapper: Any) -> None:
        found = _resolve(module, path)
        if found is None:
            logger.debug("otel-llmcost: %s.%s not in this SDK version; skipped", module, path)
            return
        owner, attribute = found
        # Never wrap twice (a method reached by two paths), but do wrap over another instrumentation's wrapper.
        if patching.wrap(owner, attribute, wrapper):
            self._patched.append((owner, attribute))

    def _patch_openai(self, runtime: Runtime) -> None:
        for module, path, operation, api in openai_adapter.METHODS:
            is_async = path.startswith("Async")
            handler = openai_adapter.OpenAIMethod(operation, api, is_async)
            self._wrap(module, path, (async_wrapper if is_async else sync_wrapper)(runtime, handler))
        watcher = openai_adapter.BatchWatcher()  # one per instrument(): sync and async share what was seen
        for module, path in openai_adapter.BATCH_METHODS:
            self._wrap(module, path, openai_adapter.batch_wrapper(runtime, watcher, path.startswith("Async")))
        self._patched.extend(stainless.patch_parse("openai"))

    def _patch_anthropic(self, runtime: Runtime) -> None:
        for module, path, wrapper in anthropic_adapter.wrappers(runtime):
            self._wrap(module, path, wrapper)
        runtime.listeners.append(anthropic_adapter.sdk_span_listener(runtime))
        self._patched.extend(stainless.patch_parse("anthropic"))

    def _patch_gemini(self, runtime: Runtime) -> None:
        for module, paths, wrapper in gemini_adapter.wrappers(runtime):
            # The per-request method where this SDK version has it, else the public one.
            path = next((p for p in paths if _resolve(module, p) is not None), None)
            if path is not None:
                self._wrap(module, path, wrapper)
        runtime.listeners.append(gemini_adapter.foreign_span_listener(runtime))

    def _patch_ollama(self, runtime: Runtime) -> None:
        for module, path, wrapper in ollama_adapter.wrappers(runtime):
            self._wrap(module, path, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self.runtime is not None:
            self.runtime.active = False
            if self.runtime.budgets is not None:
                self._gauges.source = None
                self.runtime.budgets.close()
        for owner, attribute in reversed(getattr(self, "_patched", [])):
            patching.unwrap(owner, attribute)
        self._patched = []
        self.runtime = None
