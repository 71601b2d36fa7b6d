"""``LLMCostInstrumentor``: reads settings, builds the runtime, patches each SDK when the app imports it.

Found by ``opentelemetry-instrument`` through the ``opentelemetry_instrumentor`` entry point.

Start-up costs nothing for an SDK the app never imports: ``instrument()`` imports no SDK and no provider
adapter. It registers a post-import hook (wrapt's) per SDK package; when the app imports one, that hook
loads our adapter for it and registers one hook per module that holds a method we wrap, keyed on that
exact module (anthropic's Bedrock and Vertex modules are patched only if the app imports them). A module
already imported fires its hook at once, so the order of ``import openai`` and ``instrument()`` does not
matter; a module imported later is patched when its own import finishes, before any of its methods can be
called. The price data (genai-prices) is loaded by the first call that needs a price. Each method is
patched on its own, so a method missing from one SDK version disables only that method. ``uninstrument()``
restores exactly what was patched and disarms the hooks still waiting for a module.

Configuration errors: called from code, ``instrument()`` raises ``ConfigError``. Called by
``opentelemetry-instrument`` (recognised by the ``skip_dep_check=True`` that its loader,
``_load_instrumentors``, passes every instrumentor, and that no application needs to pass), it must not
abort the launcher's start-up (other instrumentations would be skipped): the error is one ERROR log
line, costs are not recorded, and budgets fail as configured. With a budget configured and
``OTEL_LLMCOST_BUDGET_STORE_FAILURE=closed`` every LLM call is refused with ``BudgetUnavailableError``
naming the error; otherwise a WARNING says budgets are off.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from . import names, patching
from .errors import BudgetUnavailableError, ConfigError

if TYPE_CHECKING:
    from .calls import Admission, Call, Runtime
    from .metrics import BudgetGauges, Instruments
    from .records import Request
    from .telemetry import Outcome

logger = logging.getLogger(__name__)

# The top-level package of each SDK -> its adapter module under providers/ (``providers.base.Adapter``): the SDK's
# hook loads the adapter and registers the per-module hooks. Adding a provider = one adapter module + one line here.
ADAPTERS: dict[str, str] = {"openai": "openai", "anthropic": "anthropic", "google.genai": "gemini", "ollama": "ollama"}
SDKS: tuple[str, ...] = tuple(ADAPTERS)

# (module, attribute paths in order of preference, wrapper): the first path the module has is wrapped.
Target = tuple[str, tuple[str, ...], Callable[..., Any]]

# How ``instrument()`` tells ``_instrument()`` that opentelemetry-instrument called it (BaseInstrumentor
# drops skip_dep_check before calling ``_instrument``).
_LAUNCHED = "_otel_llmcost_launched"

# Patching and unpatching, from import hooks in any thread and from uninstrument(): never held across an import.
_lock = threading.RLock()
_atexit_registered = False


def switched_off(env: Mapping[str, str]) -> str | None:
    """Why OpenTelemetry's own switches turn us off (then nothing is patched: no spans, metrics or budget
    checks, and the SDK methods stay the SDK's), or None. ``OTEL_SDK_DISABLED`` is read as the SDK reads it."""
    if env.get(names.ENV_SDK_DISABLED, "").strip().lower() == "true":
        return f"{names.ENV_SDK_DISABLED}=true"
    disabled = {item.strip() for item in env.get(names.ENV_DISABLED_INSTRUMENTATIONS, "").split(",")}
    if names.INSTRUMENTOR_NAME in disabled or "*" in disabled:
        return f"{names.ENV_DISABLED_INSTRUMENTATIONS} names {names.INSTRUMENTOR_NAME}"
    return None


class _Hooks:
    """The post-import hooks of one ``instrument()``: each runs at most once, none after ``cancel()``.

    wrapt has no way to unregister a hook, so a cancelled one stays registered and does nothing; it is also
    taken out of wrapt's table where that table is what this wrapt version has (best effort, memory only).
    """

    def __init__(self) -> None:
        self.active = True
        self._registered: list[tuple[str, Callable[[Any], None]]] = []
        self.seen: Any = None
        """The instrumentation's one record of batch results already priced (``providers.base.SeenOnce``),
        made when the first SDK is imported and shared by every adapter."""

    def when_imported(self, name: str, action: Callable[[Any], None]) -> None:
        """Run ``action(module)`` once ``name`` is imported (now, if it already is)."""

        def hook(module: Any) -> None:
            if not self.active:
                return
            try:
                action(module)
            except Exception:  # a hook that raises would fail the app's import: never
                from .guard import internal_error

                internal_error("patch")

        self._registered.append((name, hook))
        wrapt.register_post_import_hook(hook, name)

    def registered(self) -> list[tuple[str, Callable[[Any], None]]]:
        return list(self._registered)

    def cancel(self) -> None:
        self.active = False
        importer = getattr(wrapt, "importer", None)
        table = getattr(importer, "_post_import_hooks", None)
        lock = getattr(importer, "_post_import_hooks_lock", None)
        if isinstance(table, dict) and lock is not None:
            with lock:
                for name, hook in self._registered:
                    pending = table.get(name)
                    if isinstance(pending, list) and hook in pending:
                        pending.remove(hook)
        self._registered = []


class _ConfigurationBroken:
    """Stands in for the budget enforcer when the configuration could not be read, a budget is configured
    and the store failure rule is ``closed``: no call may be sent while budgets cannot be checked."""

    def __init__(self, reason: str) -> None:
        self.message = (
            f"otel-llmcost cannot check budgets: its configuration is invalid ({reason}); with "
            f"{names.ENV_BUDGET_STORE_FAILURE}=closed no LLM call is sent until it is fixed"
        )

    def admit(self, request: Request) -> Admission:
        from .calls import Admission

        return Admission(refusal=BudgetUnavailableError(self.message))

    def settle(self, call: Call, outcome: Outcome) -> list[Any]:
        """Nothing was reserved."""
        return []

    def state(self) -> list[tuple[str, float, float]]:
        return []

    def close(self) -> None:
        """Nothing to close."""


class LLMCostInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Cost-aware OpenTelemetry instrumentation for the OpenAI, Anthropic, Google Gen AI and Ollama SDKs."""

    # BaseInstrumentor is a singleton and __init__ runs on every LLMCostInstrumentor() call:
    # state lives in attributes set by _instrument, never reset by a constructor.
    _patched: list[tuple[Any, str]]
    _gauges: BudgetGauges | None = None
    _hooks: _Hooks | None = None
    runtime: Runtime | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        # Any one SDK is enough; BaseInstrumentor would refuse to run if any listed one were missing,
        # so nothing is listed and each SDK is patched if and when the app imports it.
        return ()

    def instrument(self, **kwargs: Any) -> Any:
        """As ``BaseInstrumentor.instrument``; ``skip_dep_check=True`` (what opentelemetry-instrument passes)
        also means a configuration error is logged instead of raised (see the module docstring)."""
        kwargs[_LAUNCHED] = bool(kwargs.get("skip_dep_check"))
        return super().instrument(**kwargs)

    def _instrument(self, **kwargs: Any) -> None:
        launched = bool(kwargs.pop(_LAUNCHED, False))
        self._patched = []
        self._hooks = None
        self._gauges = None
        self.runtime = None
        reason = switched_off(os.environ)
        if reason is not None:
            logger.debug("otel-llmcost: not instrumenting (%s)", reason)
            return
        providers = ("tracer_provider", "meter_provider", "logger_provider", "skip_dep_check")
        options = {k: kwargs[k] for k in kwargs if k not in providers}
        options = dict(options.pop("settings", None) or options)
        calls_only = False
        try:
            runtime, instruments = _build(options, kwargs)
        except ConfigError as error:
            if not launched:
                raise
            broken = _after_config_error(error, options, kwargs)
            if broken is None:
                return
            runtime, instruments = broken
            calls_only = True  # only what a budget refuses: no cost data from a configuration we could not read
        self._gauges = instruments.budget_gauges
        self.runtime = runtime
        hooks = self._hooks = _Hooks()
        for sdk in SDKS:
            hooks.when_imported(sdk, functools.partial(self._sdk_imported, hooks, runtime, sdk, calls_only))
        global _atexit_registered
        if not _atexit_registered:
            import atexit

            from .metrics import reveal_new_series

            # Runs before the SDK providers' own exit hooks (registered earlier): the final export
            # reports every counter series in full.
            atexit.register(reveal_new_series)
            _atexit_registered = True

    def _sdk_imported(self, hooks: _Hooks, runtime: Runtime, sdk: str, calls_only: bool, _module: Any) -> None:
        """The app imported an SDK: load our adapter for it, then patch each module when it is imported."""
        targets = _targets(sdk, runtime, calls_only, hooks)
        by_module: dict[str, list[tuple[tuple[str, ...], Callable[..., Any]]]] = {}
        for module, paths, wrapper in targets:
            by_module.setdefault(module, []).append((paths, wrapper))
        for module, items in by_module.items():
            hooks.when_imported(module, functools.partial(self._module_imported, hooks, items))

    def _module_imported(
        self, hooks: _Hooks, items: list[tuple[tuple[str, ...], Callable[..., Any]]], module: Any
    ) -> None:
        for paths, wrapper in items:
            found = next((f for f in map(functools.partial(_attribute, module), paths) if f is not None), None)
            if found is None:
                logger.debug("otel-llmcost: %s.%s not in this SDK version; skipped", module.__name__, paths[0])
                continue
            self._wrap(hooks, *found, wrapper)

    def _wrap(self, hooks: _Hooks, owner: Any, attribute: str, wrapper: Callable[..., Any]) -> None:
        with _lock:
            if not hooks.active or hooks is not self._hooks:  # uninstrument() ran meanwhile
                return
            if (owner, attribute) in self._patched:  # the same method reached by two paths
                return
            current = owner.__dict__.get(attribute)
            if patching.is_ours(current):
                # A copy of a method we wrapped elsewhere (anthropic's Bedrock and Vertex Messages copy the
                # first-party methods when they are imported): this class gets a wrapper of its own, which
                # uninstrument() takes off this class alone.
                setattr(owner, attribute, current.__wrapped__)
            # Never wrap twice, but do wrap over another instrumentation's wrapper.
            if patching.wrap(owner, attribute, wrapper):
                self._patched.append((owner, attribute))

    def import_targets(self) -> None:
        """Import every installed module that holds a method this instrumentation patches, so that all are
        patched now instead of when the app imports them: for ``otel-llmcost check``, which lists them. An
        application never needs this (it is what would make start-up cost what it used to)."""
        tried: set[str] = set()
        while self._hooks is not None:
            # An SDK's hook registers the hooks of its modules: repeat until no new name appears.
            names_ = [name for name, _ in self._hooks.registered() if name not in tried]
            if not names_:
                return
            for name in names_:
                tried.add(name)
                try:
                    importlib.import_module(name)
                except Exception:  # not installed, or not in this SDK version
                    logger.debug("otel-llmcost: %s not imported", name, exc_info=True)

    def _uninstrument(self, **kwargs: Any) -> None:
        with _lock:
            if self._hooks is not None:
                self._hooks.cancel()
                self._hooks = None
            if self.runtime is not None:
                self.runtime.active = False
                for hook in self.runtime.after_call:
                    owner: Any = getattr(hook, "__self__", None)
                    if hasattr(owner, "shutdown"):  # the roll-up processor stays on its provider: inert
                        owner.shutdown()
                        owner.clear()
                if self.runtime.budgets is not None:
                    if self._gauges is not None:
                        self._gauges.source = None
                        self._gauges.members = None
                    self.runtime.budgets.close()
                if self.runtime.ledger is not None:
                    self.runtime.ledger.close()  # flushed: to the database, or the spill file
            for owner, attribute in reversed(getattr(self, "_patched", [])):
                patching.unwrap(owner, attribute)
            self._patched = []
            self.runtime = None


def _attribute(module: Any, path: str) -> tuple[Any, str] | None:
    """(owner, attribute) for "Class.method" (or "function") in an imported module, or None when absent."""
    owner = module
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent, None)
        if owner is None:
            return None
    if attribute not in getattr(owner, "__dict__", {}):
        return None
    return owner, attribute


def _build(options: dict[str, Any], kwargs: Mapping[str, Any]) -> tuple[Runtime, Instruments]:
    """Settings, prices, telemetry and budgets; raises ``ConfigError`` before anything is applied."""
    from .calls import Runtime
    from .config import Settings
    from .pricing import HardwareRate, PriceBook

    settings = Settings.load(options)
    expensive = None
    if settings.expensive_request_usd is not None or settings.expensive_request_usd_by_feature or settings.budget_file:
        from .expensive import build as expensive_requests

        expensive = expensive_requests(settings)  # the budget file's thresholds too: a conflict fails here
    overrides = None
    if settings.price_file:
        from .pricing.overrides import PriceOverrides

        overrides = PriceOverrides.load(settings.price_file)
    hardware = HardwareRate(settings.hardware_usd_per_gpu_hour, settings.hardware_usd_per_mtok)
    # The price data is loaded by the first call that needs a price (PriceBook does it when asked).
    prices = PriceBook(overrides, settings.model_aliases, hardware, settings.local_models)
    telemetry, instruments = _telemetry(settings, kwargs)
    enforcer = None  # budgets are imported only by an app that has one (or a store that keeps a ledger)
    if settings.budgets or settings.budget_file or settings.budget_store.strip() not in ("", "memory", "memory:"):
        from . import budgets

        enforcer = budgets.build(settings, prices, instruments)  # a bad budget file fails here, before any patch
    runtime = Runtime(settings, prices, telemetry, enforcer)
    if settings.ledger:
        from .ledgers.writer import LedgerWriter  # psycopg only for an app that has a PostgreSQL ledger

        runtime.ledger = LedgerWriter(
            settings.ledger, spill=settings.ledger_spill, queue_size=settings.ledger_queue_size
        )
    _after_call(runtime, settings, instruments, kwargs, expensive)
    instruments.budget_gauges.source = enforcer.state if enforcer is not None else None
    instruments.budget_gauges.members = enforcer.members_over if enforcer is not None else None
    return runtime, instruments


def _after_call(
    runtime: Runtime, settings: Any, instruments: Instruments, kwargs: Mapping[str, Any], expensive: Any
) -> None:
    """Hook roll-ups (issue 18) and the expensive-request check into every call's end."""
    if expensive is not None:
        runtime.after_call.append(expensive.check)
    from .conversations import remember

    runtime.after_call.append(remember)  # a Responses previous_response_id chain is one conversation
    pending = _PendingRollups(runtime, instruments, settings, kwargs.get("tracer_provider"))
    runtime.after_call.append(pending.add)
    pending.attach()


class _PendingRollups:
    """Attaches the roll-up span processor to the tracer provider, at once or, when the global provider is not
    set yet (the app sets it after instrument()), at the first call that finds an SDK provider."""

    def __init__(self, runtime: Runtime, instruments: Instruments, settings: Any, provider: Any) -> None:
        self._runtime, self._instruments, self._settings = runtime, instruments, settings
        self._provider = provider
        self.rollups: Any = None

    def attach(self) -> None:
        from opentelemetry import trace

        provider = self._provider or trace.get_tracer_provider()
        if not hasattr(provider, "add_span_processor"):
            return
        from .rollups import attach  # the SDK's trace module: only with an SDK provider

        self.rollups = attach(provider, self._instruments, self._settings)
        if self.rollups is not None:
            hooks = self._runtime.after_call
            hooks[hooks.index(self.add)] = self.rollups.add

    def add(self, call: Call, outcome: Outcome) -> None:
        if self.rollups is None:
            self.attach()
        if self.rollups is not None:
            self.rollups.add(call, outcome)


def _telemetry(settings: Any, kwargs: Mapping[str, Any]) -> tuple[Any, Instruments]:
    from opentelemetry import metrics, trace

    from .metrics import instruments_for
    from .telemetry import Telemetry
    from .version import __version__

    tracer = trace.get_tracer(names.INSTRUMENTATION_SCOPE, __version__, tracer_provider=kwargs.get("tracer_provider"))
    meter = metrics.get_meter(names.INSTRUMENTATION_SCOPE, __version__, meter_provider=kwargs.get("meter_provider"))
    latest = settings.semconv_stability_opt_in != names.SEMCONV_DEFAULT  # OTEL_SEMCONV_STABILITY_OPT_IN
    instruments = instruments_for(meter, settings.request_cost_buckets, latest)
    content_logger = None
    if settings.capture_content and settings.content_destination != "span":  # content as log events
        from opentelemetry import _logs

        content_logger = _logs.get_logger(
            names.INSTRUMENTATION_SCOPE, __version__, logger_provider=kwargs.get("logger_provider")
        )
    return Telemetry(tracer, instruments, settings, content_logger), instruments


def _one_line(error: BaseException) -> str:
    return " ".join(part.strip() for part in str(error).splitlines() if part.strip())


def _after_config_error(
    error: ConfigError, options: Mapping[str, Any], kwargs: Mapping[str, Any]
) -> tuple[Runtime, Instruments] | None:
    """Under opentelemetry-instrument: log the error once, and keep budgets failing as configured.

    Returns the runtime that refuses every call (a budget configured, failure rule ``closed``), or None.
    What is configured is read from the raw options and environment, since the settings may be what is bad.
    """
    reason = _one_line(error)
    env = os.environ
    budgeted = bool(options.get("budgets") or options.get("budget_file") or env.get(names.ENV_BUDGET_FILE, "").strip())
    rule = options.get("budget_store_failure") or env.get(names.ENV_BUDGET_STORE_FAILURE, "")
    closed = budgeted and str(rule).strip().lower() == "closed"
    if closed:
        logger.error(
            "otel-llmcost: configuration error, LLM calls are refused (BudgetUnavailableError) until it is "
            "fixed, as %s=closed asks: %s",
            names.ENV_BUDGET_STORE_FAILURE,
            reason,
        )
    else:
        logger.error("otel-llmcost: configuration error, LLM calls are not priced or recorded: %s", reason)
    if not closed:
        if budgeted:
            logger.warning(
                "otel-llmcost: budgets are off: the configuration could not be read (see the error above); "
                "with %s=open calls go ahead unchecked. Set it to closed to refuse calls instead",
                names.ENV_BUDGET_STORE_FAILURE,
            )
        return None
    from .calls import Runtime
    from .config import Settings
    from .pricing import PriceBook

    defaults = Settings.load({}, {})
    telemetry, instruments = _telemetry(defaults, kwargs)
    runtime = Runtime(defaults, PriceBook(), telemetry, _ConfigurationBroken(reason))
    return runtime, instruments


def _targets(sdk: str, runtime: Runtime, calls_only: bool, hooks: _Hooks) -> list[Target]:
    """What to patch for an SDK the app imported: its adapter (imported now) says, the same way for every SDK
    (``providers.base.Adapter``).

    ``calls_only``: just the methods that send a request (for the runtime that refuses them all).
    """
    adapter = importlib.import_module(f".providers.{ADAPTERS[sdk]}", __package__)
    if hooks.seen is None:
        from .providers.base import SeenOnce

        hooks.seen = SeenOnce()
    return list(adapter.targets(runtime, calls_only, hooks.seen))
