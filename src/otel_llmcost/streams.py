"""Stream proxies shared by every provider: the caller gets the SDK's stream, we see each chunk go by.

A proxy forwards everything it does not override (so ``isinstance``, helpers and attributes behave as
without us), keeps only a running summary (never the chunks), and ends the call exactly once: on
exhaustion, error, ``close()``, context-manager exit, or garbage collection. Provider knowledge lives
in the accumulator each adapter supplies; telemetry lives in ``Call``.
"""

from __future__ import annotations

import contextlib
import time
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


class _StreamProxyBase(wrapt.ObjectProxy):  # type: ignore[misc,type-arg]
    def __init__(self, wrapped: Any, call: Call, acc: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_acc = acc

    def _self_end(self, error: BaseException | None = None, abandoned: str | None = None) -> None:
        _end(self._self_call, self._self_acc, error, abandoned)

    def _self_closed(self) -> None:
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

    @property
    def response(self) -> Any:
        return _ClosingResponse(self.__wrapped__.response, self._self_closed)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self._self_end(abandoned="stream dropped before the end")

    def __copy__(self) -> Any:
        return self.__wrapped__

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__wrapped__

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.__wrapped__.__reduce_ex__(protocol)


class StreamProxy(_StreamProxyBase):
    """Proxy of a synchronous SDK stream."""

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

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_closed()

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_closed()


class AsyncStreamProxy(_StreamProxyBase):
    """Proxy of an asynchronous SDK stream."""

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

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_closed()

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_closed()

    async def aclose(self) -> Any:
        """An async generator's close (Ollama's and google-genai's async streams are async generators)."""
        closing = self.__wrapped__.aclose  # no such method: AttributeError, as without us
        try:
            return await closing()
        finally:
            self._self_closed()
