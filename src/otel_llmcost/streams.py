"""Stream proxies shared by every provider: the caller gets the SDK's stream, we see each chunk go by.

A proxy forwards everything it does not override (so ``isinstance``, helpers and attributes behave as
without us), keeps only a running summary (never the chunks), and ends the call exactly once: on
exhaustion, error, ``close()``/``aclose()``, context-manager exit, or garbage collection. Provider knowledge
lives in the accumulator each adapter supplies; telemetry lives in ``Call``.

A proxy has exactly the surface of the object it wraps (issue 21): an SDK ``Stream`` is a context manager
with ``close()``, Ollama's and google-genai's streams are plain (async) generators with ``close()`` /
``aclose()`` and ``send``/``throw`` only. So ``StreamProxy(stream, ...)`` builds an instance of a subclass
made for what ``stream`` has (cached per wrapped type and capabilities, named after the wrapped type so that
the TypeError of ``with`` on a generator reads as without us); ``hasattr``, ``dir()`` and ``with`` answer as
for the SDK's object. Not a ``wrapt.ObjectProxy``: that one always has ``__enter__``/``__aenter__``. Iterating
costs the same whatever the variant: ``__next__``/``__anext__`` live on the two bases.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import wrapt

from .calls import Call
from .guard import internal_error
from .records import Response, Usage

_perf = time.perf_counter


class Accumulator(Protocol):
    """Provider-specific running summary of a stream."""

    def add(self, chunk: Any) -> bool:
        """Take one chunk; return False to hide it from the caller (a usage chunk we asked for)."""

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        """Response, usage (None when unknown) and, when unknown, why."""


def _end(call: Call, acc: Accumulator, error: BaseException | None, abandoned: str | None) -> None:
    try:
        response, usage, reason = acc.result(error is None and abandoned is None)
    except Exception:
        internal_error("stream_result")
        response, usage, reason = None, None, "internal error"
    if (error is not None or abandoned is not None) and response is not None and not response.finish_reasons:
        response.finish_reasons = ["error"]  # cut short: the conventions' finish reason for it
    if error is not None:
        call.fail(error, response, usage)
    elif abandoned is not None:
        call.abandon(response, usage, reason or abandoned)
    else:
        call.finish(response, usage, reason)


class _ClosingResponse(wrapt.ObjectProxy):  # type: ignore[misc,type-arg]
    """The stream's HTTP response; SDK helpers close the stream through it, so closing ends the call."""

    def __init__(self, wrapped: Any, on_close: Any) -> None:
        super().__init__(wrapped)
        self._self_on_close = on_close

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_on_close()

    async def aclose(self) -> Any:
        try:
            return await self.__wrapped__.aclose()
        finally:
            self._self_on_close()


_OWN = frozenset(("__wrapped__", "_self_call", "_self_acc"))


class _StreamProxyBase:
    """A transparent proxy of one SDK stream (attributes, ``isinstance``, ``dir()``, ``repr`` are the stream's)."""

    __slots__ = ("__weakref__", "__wrapped__", "_self_acc", "_self_call")
    __wrapped__: Any
    _self_call: Call
    _self_acc: Accumulator

    def __new__(cls, wrapped: Any, call: Call, acc: Accumulator) -> Any:
        return object.__new__(_variant(cls, wrapped))

    def __init__(self, wrapped: Any, call: Call, acc: Accumulator) -> None:
        object.__setattr__(self, "__wrapped__", wrapped)
        object.__setattr__(self, "_self_call", call)
        object.__setattr__(self, "_self_acc", acc)

    # --- transparency ---------------------------------------------------------------------------------
    @property  # type: ignore[misc]
    def __class__(self) -> Any:  # isinstance(proxy, SDKStream) is True, as without us
        return self.__wrapped__.__class__

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.__wrapped__, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self.__wrapped__, name)

    def __dir__(self) -> Any:
        return dir(self.__wrapped__)

    def __repr__(self) -> str:
        return repr(self.__wrapped__)

    def __str__(self) -> str:
        return str(self.__wrapped__)

    def __copy__(self) -> Any:
        return self.__wrapped__

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__wrapped__

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.__wrapped__.__reduce_ex__(protocol)

    # --- the call's end -------------------------------------------------------------------------------
    def _self_end(self, error: BaseException | None = None, abandoned: str | None = None) -> None:
        _end(self._self_call, self._self_acc, error, abandoned)

    def _self_closed(self, error: BaseException | None = None) -> None:
        """Closed (by close(), a with block's exit...): ``error`` the exception that ended it (raised in the
        caller's with block, or by a failing close()), which marks the call failed."""
        if error is not None and isinstance(error, Exception):
            self._self_end(error)
        else:
            self._self_end(abandoned="stream closed before the end")

    def _self_take(self, chunk: Any) -> bool:
        call = self._self_call
        if call.first_chunk is None:
            call.first_chunk = _perf()
        try:
            return self._self_acc.add(chunk)
        except Exception:
            internal_error("stream_chunk")
            return True

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self._self_end(abandoned="stream dropped before the end")


def closed_by_caller(stream: Any, error: BaseException) -> None:
    """``stream``, if it is one of our proxies, is being closed because the caller's code raised ``error`` (in the
    with-block of an object that holds it, e.g. Anthropic's stream manager): its call ends failed with it."""
    if isinstance(stream, _StreamProxyBase):  # (isinstance sees a proxy's own type as well as its __class__)
        stream._self_closed(error)


class StreamProxy(_StreamProxyBase):
    """Proxy of a synchronous SDK stream (an instance is of a subclass made for what the stream has)."""

    __slots__ = ()

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        wrapped = self.__wrapped__
        while True:
            try:
                chunk = wrapped.__next__()
            except StopIteration:
                self._self_end()
                raise
            except BaseException as exc:
                self._self_end(exc)
                raise
            if self._self_take(chunk):
                return chunk


class AsyncStreamProxy(_StreamProxyBase):
    """Proxy of an asynchronous SDK stream (an instance is of a subclass made for what the stream has)."""

    __slots__ = ()

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        wrapped = self.__wrapped__
        while True:
            try:
                chunk = await wrapped.__anext__()
            except StopAsyncIteration:
                self._self_end()
                raise
            except BaseException as exc:
                self._self_end(exc)
                raise
            if self._self_take(chunk):
                return chunk


# --- what a proxy has when the stream it wraps has it -----------------------------------------------------
def _response(self: Any) -> Any:
    return _ClosingResponse(self.__wrapped__.response, self._self_closed)


def _enter(self: Any) -> Any:
    self.__wrapped__.__enter__()
    return self


def _exit(self: Any, *exc_info: Any) -> Any:
    try:
        result = self.__wrapped__.__exit__(*exc_info)
    except BaseException as exc:  # a failing exit ends the call failed
        self._self_closed(exc)
        raise
    self._self_closed(exc_info[1])  # an exception in the caller's with block ends it failed too
    return result


def _close(self: Any) -> Any:
    try:
        result = self.__wrapped__.close()
    except BaseException as exc:  # a failing close ends the call failed
        self._self_closed(exc)
        raise
    self._self_closed()
    return result


def _sent(self: Any, step: Callable[..., Any], *args: Any) -> Any:
    """A generator's ``send``/``throw``: the chunk it yields is seen as ``__next__``'s would be."""
    try:
        chunk = step(*args)
    except StopIteration:
        self._self_end()
        raise
    except BaseException as exc:
        self._self_end(exc)
        raise
    return chunk if self._self_take(chunk) else self.__next__()


def _send(self: Any, value: Any) -> Any:
    return _sent(self, self.__wrapped__.send, value)


def _throw(self: Any, *args: Any) -> Any:
    return _sent(self, self.__wrapped__.throw, *args)


async def _aenter(self: Any) -> Any:
    await self.__wrapped__.__aenter__()
    return self


async def _closed_by(self: Any, closing: Any, exc_info: tuple[Any, ...] = ()) -> Any:
    """Await the stream's own ``__aexit__``/``close``/``aclose``; a failure there, or an exception that ended the
    caller's ``async with`` block, ends the call failed."""
    try:
        result = await closing(*exc_info)
    except BaseException as exc:
        self._self_closed(exc)
        raise
    self._self_closed(exc_info[1] if exc_info else None)
    return result


async def _aexit(self: Any, *exc_info: Any) -> Any:
    return await _closed_by(self, self.__wrapped__.__aexit__, exc_info)


async def _aclose_as_close(self: Any) -> Any:
    return await _closed_by(self, self.__wrapped__.close)


async def _aclose(self: Any) -> Any:
    return await _closed_by(self, self.__wrapped__.aclose)


async def _asent(self: Any, step: Callable[..., Any], *args: Any) -> Any:
    try:
        chunk = await step(*args)
    except StopAsyncIteration:
        self._self_end()
        raise
    except BaseException as exc:
        self._self_end(exc)
        raise
    return chunk if self._self_take(chunk) else await self.__anext__()


async def _asend(self: Any, value: Any) -> Any:
    return await _asent(self, self.__wrapped__.asend, value)


async def _athrow(self: Any, *args: Any) -> Any:
    return await _asent(self, self.__wrapped__.athrow, *args)


# (attribute the stream has, what the proxy gets): a method (or the ``response`` property) of the same name.
_SYNC: tuple[tuple[str, dict[str, Any]], ...] = (
    ("__enter__", {"__enter__": _enter}),
    ("__exit__", {"__exit__": _exit}),
    ("close", {"close": _close}),
    ("send", {"send": _send}),
    ("throw", {"throw": _throw}),
    ("response", {"response": property(_response)}),
)
_ASYNC: tuple[tuple[str, dict[str, Any]], ...] = (
    ("__aenter__", {"__aenter__": _aenter}),
    ("__aexit__", {"__aexit__": _aexit}),
    ("close", {"close": _aclose_as_close}),
    ("aclose", {"aclose": _aclose}),
    ("asend", {"asend": _asend}),
    ("athrow", {"athrow": _athrow}),
    ("response", {"response": property(_response)}),
)
_variants: dict[tuple[type, type, tuple[bool, ...]], type] = {}


def _variant(base: type, wrapped: Any) -> type:
    """The subclass of ``base`` with exactly the optional methods ``wrapped`` has (made once per combination)."""
    if base is not StreamProxy and base is not AsyncStreamProxy:
        return base  # a subclass of our own: as it is
    table = _SYNC if base is StreamProxy else _ASYNC
    has = tuple(hasattr(wrapped, name) for name, _ in table)
    kind = type(wrapped)
    key = (base, kind, has)
    found = _variants.get(key)
    if found is None:
        namespace: dict[str, Any] = {"__slots__": (), "__module__": __name__}
        for present, (_, methods) in zip(has, table, strict=True):
            if present:
                namespace.update(methods)
        # Named as the wrapped type: ``with`` on a proxy of a generator raises "'generator' object does not
        # support the context manager protocol", word for word as without us.
        name = getattr(kind, "__name__", base.__name__)
        namespace["__qualname__"] = name
        found = type(name, (base,), namespace)
        if len(_variants) > 256:  # wrapped types are few; never grow without bound
            _variants.clear()
        _variants[key] = found
    return found
