"""One fake of each provider API, for the demo, the tests and the benchmarks; never imported by ``otel_llmcost``.

One module per provider API holds its body builders (named after the SDK's own types and fields) and what serves
them: ``openai_api``, ``anthropic_api`` (a deterministic ``route`` driven by ``x-mock-*`` headers and a scripted
``Fake*`` class for the tests), ``gemini_api``, ``ollama_api`` (scripted fakes). Around them:

* ``wire``: the reply and request types, SSE framing, the ``x-mock-*`` controls, generated content;
* ``routing``: :func:`handle`, the deterministic fake of OpenAI and Anthropic (one request in, one reply out), and
  :func:`mock_transport_handler`, the same for an httpx MockTransport;
* ``transport``: httpx glue (the SDK's own httpx2/httpx, frame-by-frame bodies, dropped streams);
* ``server``: :class:`MockLLMServer`, the deterministic fake on a loopback HTTP server.

Provider SDKs are imported only when a scripted fake is asked for a client.
"""

from __future__ import annotations

from .routing import async_mock_transport_handler, handle, mock_transport_handler
from .server import MockLLMServer
from .wire import RecordedRequest, Reply

__all__ = [
    "MockLLMServer",
    "RecordedRequest",
    "Reply",
    "async_mock_transport_handler",
    "handle",
    "mock_transport_handler",
]
