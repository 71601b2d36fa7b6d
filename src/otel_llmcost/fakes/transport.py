"""The fakes over httpx's MockTransport: the HTTP library an SDK uses, streamed bodies, the deterministic handler.

The SDKs use ``httpx2`` (openai 3.x, anthropic 1.x/2.x) or ``httpx`` (older releases, ollama, google-genai may use
either). Both may be installed at once, so the module a fake answers with follows what the SDK itself imports,
never mere importability: a response of the wrong library fails the SDK's isinstance checks.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .wire import TRUNCATED_MESSAGE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence

    from .wire import Reply


def for_sdk(sdk: str) -> ModuleType | None:
    """httpx2 or httpx: whichever the SDK's base client imports; None when the SDK is not installed."""
    try:
        base = importlib.import_module(f"{sdk}._base_client")
    except ImportError:
        return None
    for name in ("httpx2", "httpx"):
        module = getattr(base, name, None)
        if isinstance(module, ModuleType):
            return module
    return None


def default_http() -> ModuleType:
    """The module the installed anthropic (else openai) SDK uses; else httpx2, else httpx."""
    found = for_sdk("anthropic") or for_sdk("openai")
    if found is not None:
        return found
    try:
        return importlib.import_module("httpx2")
    except ImportError:
        return importlib.import_module("httpx")


class _FrameIteration:
    """Hands frames over one by one to sync and async readers, then maybe fails mid-body."""

    def __init__(self, frames: Sequence[bytes], fail_with: BaseException | None = None) -> None:
        self.frames = list(frames)
        self.fail_with = fail_with

    def __iter__(self) -> Iterator[bytes]:
        yield from self.frames
        if self.fail_with is not None:
            raise self.fail_with

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self.frames:
            yield frame
        if self.fail_with is not None:
            raise self.fail_with


@functools.cache
def _stream_class(module: ModuleType) -> type[_FrameIteration]:
    """Subclass the module's stream bases: httpx checks isinstance, and ByteStream yields one blob."""
    return type("FrameStream", (_FrameIteration, module.SyncByteStream, module.AsyncByteStream), {})


def frame_stream(module: ModuleType, frames: Sequence[bytes], fail_with: BaseException | None = None) -> Any:
    """A body of ``module`` (httpx2 or httpx) sent frame by frame, sync and async, unread until the client reads it;
    ``fail_with`` is raised after the last frame, like a dropped connection."""
    return _stream_class(module)(frames, fail_with)


def dropped(module: ModuleType) -> BaseException:
    """The error a client sees when the server closes the connection mid-body."""
    error: BaseException = module.RemoteProtocolError(TRUNCATED_MESSAGE)
    return error


def to_response(module: ModuleType, reply: Reply, request: Any) -> Any:
    """A :class:`~otel_llmcost.fakes.wire.Reply` as an httpx(2) Response: SSE event by event, cut when truncated."""
    if reply.streaming:
        stream = frame_stream(module, reply.chunks, dropped(module) if reply.truncated else None)
        return module.Response(reply.status, headers=reply.headers, stream=stream, request=request)
    return module.Response(reply.status, headers=reply.headers, content=reply.body, request=request)
