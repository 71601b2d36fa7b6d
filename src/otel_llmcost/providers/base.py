"""What every provider adapter shares: the wrapt wrappers around an SDK method, and small readers.

A wrapper asks its ``Handler`` (the provider-specific part) to describe the request, lets the budgets
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
    """What one provider adapter module is (``providers/openai.py``, ``anthropic/``, ``gemini.py``,
    ``ollama.py``); the instrumentor loads it when the app imports its SDK (``instrumentor.ADAPTERS``).

    Each wrapped method runs through the one skeleton (``call_sync``/``call_async`` below, or
    ``sync_wrapper``/``async_wrapper`` around a ``Handler``): the handler describes the request
    (``Runtime.begin`` with a ``Request``), reads a result into ``Response``/``Usage``, or hands the caller a stream
    proxy (``streams.py``) with an accumulator that only reads chunks. Batch de-duplication (``SeenOnce``) is one
    set per ``instrument()``, made in ``targets``."""

    def targets(self, runtime: Runtime, calls_only: bool) -> Iterable[Target]:
        """Everything to patch for ``runtime``; ``calls_only``: just the methods that send a request (what a
        budget admits or refuses), no batch watchers or SDK hooks."""


class Handler(Protocol):
    """The provider-specific part of one instrumented method."""

    def begin(self, runtime: Runtime, instance: Any, kwargs: dict[str, Any]) -> tuple[Call, dict[str, Any]] | None:
        """Start the call (or None to leave it alone); may return amended kwargs."""

    def result(self, call: Call, result: Any) -> Any:
        """End the call from the SDK's result, or hand the caller a proxy that ends it later."""


# The state of the instrumented call whose SDK method is running in this context (None outside one).
# A wrapped method the SDK calls from inside another (openai < 1.92's beta.chat.completions.parse calls
# chat.completions.create) is the same API call and passes straight through; SDK-internal hooks (the
# Anthropic adapter's) find their call here.
_current: contextvars.ContextVar[Any] = contextvars.ContextVar("otel_llmcost_current", default=None)

# begin() -> (state, call, kwargs to send) or None to leave the call alone; finish(state, result).
Begin = Callable[[], "tuple[Any, Call, dict[str, Any]] | None"]
Finish = Callable[[Any, Any], Any]


def current() -> Any:
    """The state of the instrumented call running in this context, or None."""
    return _current.get()


def _started(runtime: Runtime, begin: Begin) -> tuple[Any, Call, dict[str, Any]] | None:
    if not runtime.active or not runtime.enabled() or _current.get() is not None:
        return None
    try:
        return begin()
    except Exception:
        internal_error("request")
        return None


def _ended(finish: Finish, state: Any, call: Call, result: Any) -> Any:
    try:
        return finish(state, result)
    except Exception:
        internal_error("result")
        call.abandon(None, None, "internal error")
        return result


def call_sync(
    runtime: Runtime,
    begin: Begin,
    finish: Finish,
    send: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run ``send(*args, **kwargs)`` as one instrumented call: the one skeleton of every sync wrapper."""
    started = _started(runtime, begin)
    if started is None:
        return send(*args, **kwargs)
    state, call, call_kwargs = started
    if runtime.budgets is not None:
        call.admit()  # raises BudgetError (the call ended, nothing sent) when a budget refuses
    token = call.activate()
    mark = _current.set(state)
    try:
        result = send(*args, **call_kwargs)
    except BaseException as exc:
        _current.reset(mark)
        call.deactivate(token)
        call.fail(exc)
        raise
    _current.reset(mark)
    call.deactivate(token)
    return _ended(finish, state, call, result)


async def call_async(
    runtime: Runtime,
    begin: Begin,
    finish: Finish,
    send: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """The async twin of ``call_sync``."""
    started = _started(runtime, begin)
    if started is None:
        return await send(*args, **kwargs)
    state, call, call_kwargs = started
    if runtime.budgets is not None:
        call.admit()
    token = call.activate()
    mark = _current.set(state)
    try:
        result = await send(*args, **call_kwargs)
    except BaseException as exc:
        _current.reset(mark)
        call.deactivate(token)
        call.fail(exc)
        raise
    _current.reset(mark)
    call.deactivate(token)
    return _ended(finish, state, call, result)


def _handler_begin(runtime: Runtime, handler: Handler, instance: Any, kwargs: dict[str, Any]) -> Begin:
    def begin() -> tuple[Any, Call, dict[str, Any]] | None:
        started = handler.begin(runtime, instance, kwargs)
        return None if started is None else (started[0], started[0], started[1])

    return begin


def sync_wrapper(runtime: Runtime, handler: Handler) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return call_sync(
            runtime, _handler_begin(runtime, handler, instance, kwargs), handler.result, wrapped, args, kwargs
        )

    return wrapper


def async_wrapper(runtime: Runtime, handler: Handler) -> Wrapper:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        begin = _handler_begin(runtime, handler, instance, kwargs)
        return await call_async(runtime, begin, handler.result, wrapped, args, kwargs)

    return wrapper


class Watcher(Protocol):
    """Looks at what a read-only SDK method returned (a batch job) and records what it reveals, once."""

    def batches_in(self, result: Any) -> list[Any]:
        """The batch objects in a result (one, or a page of them)."""

    def record(self, runtime: Runtime, instance: Any, batch: Any) -> None:
        """Price what a batch reveals the first time it does."""


def watch_wrapper(runtime: Runtime, watcher: Watcher, is_async: bool) -> Wrapper:
    """Wrapper of a method whose call costs nothing (retrieving a batch): the SDK call runs untouched, then
    the watcher looks at what came back."""

    def look(instance: Any, result: Any) -> None:
        if not runtime.active or not runtime.enabled():
            return
        try:
            for batch in watcher.batches_in(result):
                watcher.record(runtime, instance, batch)
        except Exception:
            internal_error("batch")

    if is_async:

        async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            result = await wrapped(*args, **kwargs)
            look(instance, result)
            return result

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        look(instance, result)
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
