"""The HTTP library the installed SDKs use, for mock transports: ``httpx2`` (openai 3.x, anthropic 1.x/2.x) or
``httpx`` (older releases). Both may be installed at once (something else can pull in httpx2), so the choice
follows what the SDK itself imports, never mere importability.

    from transport import http                  # the module the installed anthropic (else openai) SDK uses
    client = anthropic.Anthropic(http_client=http.Client(transport=http.MockTransport(handler)))

``for_sdk("openai")`` gives the module a given SDK uses; ``Client``, ``AsyncClient``, ``MockTransport``,
``Response``, ``ByteStream``, ``SyncByteStream``, ``AsyncByteStream`` and ``Request`` are taken from ``http``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


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


def _default() -> ModuleType:
    found = for_sdk("anthropic") or for_sdk("openai")
    if found is not None:
        return found
    try:
        return importlib.import_module("httpx2")
    except ImportError:
        return importlib.import_module("httpx")


http: ModuleType = _default()
Client: Any = http.Client
AsyncClient: Any = http.AsyncClient
MockTransport: Any = http.MockTransport
Response: Any = http.Response
Request: Any = http.Request
ByteStream: Any = http.ByteStream
SyncByteStream: Any = http.SyncByteStream
AsyncByteStream: Any = http.AsyncByteStream
