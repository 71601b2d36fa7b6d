"""What every provider adapter shares: the wrapt wrappers around an SDK method, and small readers.

A wrapper asks its ``Method`` (the provider-specific part) to describe the request, lets the budgets
admit it (the one place a call can be refused before it is sent), calls the SDK exactly as the caller
asked, and lets the handler turn the result into usage. The SDK's return value
and exceptions reach the caller unchanged; a failure of ours is logged, counted and swallowed.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol

from ..calls import Call, Runtime
from ..guard import internal_error

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

Target = tuple[str, tuple[str, ...], Wrapper]
"""(module, attribute paths in order of preference, wrapper): the first path the module has is wrapped."""


class Adapter(Protocol):
    """What one provider adapter module is (``providers/openai/``, ``anthropic/``, ``gemini.py``,
    ``ollama.py``); the instrumentor loads it when the app imports its SDK (``instrumentor.ADAPTERS``) and asks
    every adapter the same thing: ``targets``.

    Each method that sends a request is a ``Method`` run by the one skeleton (``method_wrapper`` around
    ``call_sync``/``call_async``); a method that only reads (a batch job) is a ``Watcher`` run by
    ``watch_wrapper``, de-duplicated by the ``SeenOnce`` the instrumentor makes once per ``instrument()``."""

    def targets(self, runtime: Runtime, calls_only: bool, seen: SeenOnce) -> Iterable[Target]:
        """Everything to patch for ``runtime``; ``calls_only``: just the methods that send a request (what a
        budget admits or refuses), no batch watchers or SDK hooks; ``seen``: this instrumentation's record of
        batch results already priced (``seen.within(provider)`` keeps each provider's keys apart)."""


Started = tuple[Any, Call, dict[str, Any]]
"""What a ``Method`` begins: (its state, handed back to ``result``; the call; the kwargs to send)."""


class Method(Protocol):
    """The provider-specific part of one instrumented SDK method: the one protocol every adapter implements."""

    @property
    def is_async(self) -> bool:
        """A coroutine method (run by ``call_async``)."""

    def started(
        self, runtime: Runtime, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Started | None:
        """Describe the request and begin its call (``Runtime.begin``), or None to leave the call alone."""

    def result(self, state: Any, result: Any) -> Any:
        """End the call from the SDK's result, or hand the caller a stream proxy (``streams.py``) whose
        accumulator ends it later."""


# The state of the instrumented call whose SDK method is running in this context (None outside one).
# A wrapped method the SDK calls from inside another (openai < 1.92's beta.chat.completions.parse calls
# chat.completions.create) is the same API call and passes straight through; SDK-internal hooks (the
# Anthropic adapter's) find their call here.
_current: contextvars.ContextVar[Any] = contextvars.ContextVar("otel_llmcost_current", default=None)


def current() -> Any:
    """The state of the instrumented call running in this context, or None."""
    return _current.get()


def _started(
    runtime: Runtime, method: Method, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Started | None:
    if not runtime.active or not runtime.enabled() or _current.get() is not None:
        return None
    try:
        return method.started(runtime, wrapped, instance, args, kwargs)
    except Exception:
        internal_error("request")
        return None


def _ended(method: Method, state: Any, call: Call, result: Any) -> Any:
    try:
        return method.result(state, result)
    except Exception:
        internal_error("result")
        call.abandon(None, None, "internal error")
        return result


def call_sync(
    runtime: Runtime,
    method: Method,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    send: Callable[[], Any] | None = None,
) -> Any:
    """Run ``wrapped(*args, **kwargs)`` (or ``send()``, what actually sends the request when that is not the
    method itself) as one instrumented call of ``method``: the one skeleton of every sync call."""
    started = _started(runtime, method, wrapped, instance, args, kwargs)
    if started is None:
        return wrapped(*args, **kwargs) if send is None else send()
    state, call, call_kwargs = started
    if runtime.budgets is not None:
        call.admit()  # raises BudgetError (the call ended, nothing sent) when a budget refuses
    token = call.activate()
    mark = _current.set(state)
    try:
        result = wrapped(*args, **call_kwargs) if send is None else send()
    except BaseException as exc:
        _current.reset(mark)
        call.deactivate(token)
        call.fail(exc)
        raise
    _current.reset(mark)
    call.deactivate(token)
    return _ended(method, state, call, result)


async def call_async(
    runtime: Runtime,
    method: Method,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    send: Callable[[], Any] | None = None,
) -> Any:
    """The async twin of ``call_sync`` (``send()`` returns an awaitable)."""
    started = _started(runtime, method, wrapped, instance, args, kwargs)
    if started is None:
        return await (wrapped(*args, **kwargs) if send is None else send())
    state, call, call_kwargs = started
    if runtime.budgets is not None:
        call.admit()
    token = call.activate()
    mark = _current.set(state)
    try:
        result = await (wrapped(*args, **call_kwargs) if send is None else send())
    except BaseException as exc:
        _current.reset(mark)
        call.deactivate(token)
        call.fail(exc)
        raise
    _current.reset(mark)
    call.deactivate(token)
    return _ended(method, state, call, result)


def method_wrapper(runtime: Runtime, method: Method) -> Wrapper:
    """The wrapt wrapper of one instrumented method, sync or async as ``method`` is."""
    if method.is_async:

        async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return await call_async(runtime, method, wrapped, instance, args, kwargs)

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return call_sync(runtime, method, wrapped, instance, args, kwargs)

    return wrapper


class Watcher(Protocol):
    """Looks at what a read-only SDK method returned (a batch job) and records what it reveals, once."""

    def batches_in(self, result: Any) -> list[Any]:
        """The batch objects in a result (one, or a page of them)."""

    def record(self, runtime: Runtime, instance: Any, batch: Any) -> None:
        """Price what a batch reveals the first time it does."""


def watched(runtime: Runtime, watcher: Watcher, instance: Any, result: Any) -> None:
    """Let ``watcher`` record what a read-only method returned (never raises)."""
    if not runtime.active or not runtime.enabled():
        return
    try:
        for batch in watcher.batches_in(result):
            watcher.record(runtime, instance, batch)
    except Exception:
        internal_error("batch")


def watch_wrapper(runtime: Runtime, watcher: Watcher, is_async: bool) -> Wrapper:
    """Wrapper of a method whose call costs nothing (retrieving a batch): the SDK call runs untouched, then
    the watcher looks at what came back."""
    if is_async:

        async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            result = await wrapped(*args, **kwargs)
            watched(runtime, watcher, instance, result)
            return result

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        watched(runtime, watcher, instance, result)
        return result

    return wrapper


class SeenOnce:
    """Keys already recorded (batch ids, batch results), so each is priced once; bounded so that a
    long-lived process stays small (the oldest half is forgotten past the limit)."""

    def __init__(self, limit: int = 500_000) -> None:
        self._limit = limit
        self._keys: dict[Hashable, None] = {}
        self._lock = threading.Lock()

    def first_time(self, key: Hashable) -> bool:
        with self._lock:
            if key in self._keys:
                return False
            if len(self._keys) >= self._limit:
                for old in list(self._keys)[: self._limit // 2]:
                    del self._keys[old]
            self._keys[key] = None
            return True

    def within(self, scope: str) -> SeenOnce:
        """The same record, with keys kept apart from every other scope's (one per provider)."""
        return _Scoped(self, scope)


class _Scoped(SeenOnce):
    """A provider's view of the instrumentation's one ``SeenOnce``."""

    def __init__(self, shared: SeenOnce, scope: str) -> None:  # no state of its own: the shared record keeps it
        self._shared = shared
        self._scope = scope

    def first_time(self, key: Hashable) -> bool:
        return self._shared.first_time((self._scope, key))

    def within(self, scope: str) -> SeenOnce:
        return _Scoped(self._shared, scope)


# --- tolerant readers: odd or partial SDK objects must never make us raise ------------------------
MAX_TOKENS = 2**40
"""More tokens than any call or batch can use: a larger count is garbage, and one such value in a
cumulative counter would push it past OTLP's int64 and fail every later metrics export."""


def count(value: Any) -> int:
    """A token count, or 0 for anything that is not one (None, bools, strings, negatives, > MAX_TOKENS)."""
    if type(value) is int and 0 < value <= MAX_TOKENS:
        return value
    return 0


def counted(value: Any) -> bool:
    """True when ``value`` is a token count as an API reports it (0 included)."""
    return type(value) is int and 0 <= value <= MAX_TOKENS


def get(obj: Any, name: str) -> Any:
    """Attribute of an SDK object or key of a decoded JSON dict, None when absent (the hot-path reader:
    an ``isinstance(obj, Mapping)`` check alone costs ~1 µs)."""
    return obj.get(name) if type(obj) is dict else getattr(obj, name, None)


def given(value: Any) -> bool:
    """True for a real argument value (not None, not the SDK's NOT_GIVEN / Omit sentinels)."""
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def whole(value: Any) -> int | None:
    return value if type(value) is int else None
