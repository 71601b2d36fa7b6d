"""``with_raw_response`` and ``with_streaming_response`` for the Stainless-generated SDKs (openai, anthropic).

Those variants return a response wrapper instead of the parsed object; usage appears only when the
caller calls ``.parse()``. So the method wrapper leaves the call pending on the wrapper object, and a
patch of the wrappers' ``parse`` ends it with the parsed result (or proxies the parsed stream). A
``parse()`` that raises (a blank body, an HTML error page served as JSON, JSON cut short, bytes that are not
UTF-8) ends the call as failed with that error (``error.type``), and the caller gets the error unchanged. A
wrapper that is never parsed ends its call when it is garbage-collected, with usage unavailable.
"""

from __future__ import annotations

import importlib
import weakref
from collections.abc import Callable
from typing import Any

from ..calls import Call
from ..guard import internal_error
from .base import Target

# What to do with the parsed object: end the call and return what the caller should get.
OnParsed = Callable[[Any], Any]

# Each pending wrapper's call, parse handler and the finalizer that ends its call if it is never parsed.
_pending: weakref.WeakKeyDictionary[Any, tuple[Call, OnParsed, weakref.finalize[Any, Any]]] = (
    weakref.WeakKeyDictionary()
)

# (module, class) of each response wrapper in a Stainless SDK.
_CLASSES = (("_legacy_response", "LegacyAPIResponse"), ("_response", "APIResponse"), ("_response", "AsyncAPIResponse"))


_classes: dict[str, tuple[type, ...]] = {}


def response_classes(sdk: str) -> tuple[type, ...]:
    """The SDK's raw/streaming response wrapper classes that exist in the installed version (cached)."""
    cached = _classes.get(sdk)
    if cached is not None:
        return cached
    found: list[type] = []
    for module_name, class_name in _CLASSES:
        try:
            cls = getattr(importlib.import_module(f"{sdk}.{module_name}"), class_name)
        except (ImportError, AttributeError):
            continue
        found.append(cls)
    _classes[sdk] = result = tuple(found)
    return result


def _body_already_read(response: Any) -> bool:
    """A non-streaming ``with_raw_response`` result: its body is in memory and parse() is cached."""
    return type(response).__name__ == "LegacyAPIResponse" and not getattr(response, "_stream", True)


def defer(call: Call, response: Any, on_parsed: OnParsed) -> Any:
    """Tie ``call`` to a response wrapper; returns the wrapper itself, unchanged."""
    if _body_already_read(response):
        try:
            parsed = response.parse()
        except Exception as error:  # the caller's own parse() raises the same error; the call failed with it
            call.fail(error)
            return response
        on_parsed(parsed)
        return response
    finalizer = weakref.finalize(response, call.abandon, None, None, "raw response never parsed")
    _pending[response] = (call, on_parsed, finalizer)
    return response


def _take(instance: Any) -> tuple[Call, OnParsed] | None:
    if not _pending:  # the SDK parses every response through here: most have nothing pending
        return None
    try:
        entry = _pending.pop(instance, None)
    except TypeError:
        return None
    if entry is None:
        return None
    call, on_parsed, finalizer = entry
    finalizer.detach()  # parsed: the call now ends from what parse() returned, not when the wrapper is dropped
    return call, on_parsed


def _after_parse(on_parsed: OnParsed, parsed: Any) -> Any:
    try:
        return on_parsed(parsed)
    except Exception:
        internal_error("raw_response")
        return parsed


def _parse_failed(call: Call, error: BaseException) -> None:
    """The body could not be read (the caller gets ``error`` as without us): the sent call ends, failed."""
    try:
        call.fail(error)
    except Exception:
        internal_error("raw_response")


def _sync_parse(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    pending = _take(instance)
    if pending is None:
        return wrapped(*args, **kwargs)
    try:
        parsed = wrapped(*args, **kwargs)
    except BaseException as error:
        _parse_failed(pending[0], error)
        raise
    return _after_parse(pending[1], parsed)


async def _async_parse(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    pending = _take(instance)
    if pending is None:
        return await wrapped(*args, **kwargs)
    try:
        parsed = await wrapped(*args, **kwargs)
    except BaseException as error:
        _parse_failed(pending[0], error)
        raise
    return _after_parse(pending[1], parsed)


def parse_targets(sdk: str) -> list[Target]:
    """The ``parse`` of each of the SDK's response wrappers (``base.Target``s), without importing anything:
    each is patched when its module is imported."""
    found: list[Target] = []
    for module_name, class_name in _CLASSES:
        wrapper = _async_parse if class_name.startswith("Async") else _sync_parse
        found.append((f"{sdk}.{module_name}", (f"{class_name}.parse",), wrapper))
    return found
