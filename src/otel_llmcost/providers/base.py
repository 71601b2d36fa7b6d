"""What every provider adapter shares: the wrapt wrappers around an SDK method, and small readers.

A wrapper asks its ``Handler`` (the provider-specific part) to describe the request, calls the SDK
exactly as the caller asked, and lets the handler turn the result into usage. The SDK's return value
and exceptions reach the caller unchanged; a failure of ours is logged, counted and swallowed.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, Protocol

from ..calls import Call, Runtime
from ..guard import internal_error

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


class Handler(Protocol):
    """The provider-specific part of one instrumented method."""

    def begin(self, runtime: Runtime, instance: Any, kwargs: dict[str, Any]) -> tuple[Call, dict[str, Any]] | None:
        """Start the call (or None to leave it alone); may return amended kwargs."""

    def result(self, call: Call, result: Any) -> Any:
        """End the call from the SDK's result, or hand the caller a proxy that ends it later."""


# True while an instrumented method runs: a wrapped method it calls itself (openai < 1.92's
# beta.chat.completions.parse calls chat.completions.create) is the same API call, not a second one.
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_llmcost_inside", default=False)


def _begin(
    runtime: Runtime, handler: Handler, instance: Any, kwargs: dict[str, Any]
) -> tuple[Call, dict[str, Any]] | None:
    if not runtime.active or not runtime.enabled() or _inside.get():
        return None
    try:
        return handler.begin(runtime, instance, kwargs)
    except Exception:
        internal_error("request")
        return None


def _result(handler: Handler, call: Call, result: Any) -> Any:
    try:
        return handler.result(call, result)
    except Exception:
        internal_error("result")
        call.abandon(None, None, "internal error")
        return result


def sync_wrapper(runtime: Runtime, handler: Handler) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = _begin(runtime, handler, instance, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        call, call_kwargs = started
        token = call.activate()
        inside = _inside.set(True)
        try:
            result = wrapped(*args, **call_kwargs)
        except BaseException as exc:
            _inside.reset(inside)
            call.deactivate(token)
            call.fail(exc)
            raise
        _inside.reset(inside)
        call.deactivate(token)
        return _result(handler, call, result)

    return wrapper


def async_wrapper(runtime: Runtime, handler: Handler) -> Wrapper:
    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        started = _begin(runtime, handler, instance, kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        call, call_kwargs = started
        token = call.activate()
        inside = _inside.set(True)
        try:
            result = await wrapped(*args, **call_kwargs)
        except BaseException as exc:
            _inside.reset(inside)
            call.deactivate(token)
            call.fail(exc)
            raise
        _inside.reset(inside)
        call.deactivate(token)
        return _result(handler, call, result)

    return wrapper


# --- tolerant readers: odd or partial SDK objects must never make us raise ------------------------
def count(value: Any) -> int:
    """A token count, or 0 for anything that is not a non-negative int (None, bools, strings)."""
    if type(value) is int and value > 0:
        return value
    return 0


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
