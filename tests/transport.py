"""The HTTP library the installed SDKs use, for mock transports (see ``otel_llmcost.fakes.transport``).

    from transport import http                  # the module the installed anthropic (else openai) SDK uses
    client = anthropic.Anthropic(http_client=http.Client(transport=http.MockTransport(handler)))

``for_sdk("openai")`` gives the module a given SDK uses; ``Client``, ``AsyncClient``, ``MockTransport``,
``Response``, ``ByteStream``, ``SyncByteStream``, ``AsyncByteStream`` and ``Request`` are taken from ``http``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from otel_llmcost.fakes.transport import default_http, for_sdk

__all__ = ["for_sdk", "http"]

http: ModuleType = default_http()
Client: Any = http.Client
AsyncClient: Any = http.AsyncClient
MockTransport: Any = http.MockTransport
Response: Any = http.Response
Request: Any = http.Request
ByteStream: Any = http.ByteStream
SyncByteStream: Any = http.SyncByteStream
AsyncByteStream: Any = http.AsyncByteStream
