"""The deterministic fake of the four provider APIs: one request in, the provider's reply out, by the request alone.

The demo's loopback servers and any test that wants realistic, reproducible replies without scripting them use
:func:`handle`; the ``x-mock-*`` request headers force usage, errors, tiers and stream shapes.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from . import anthropic_api, gemini_api, ollama_api, openai_api
from .transport import to_response
from .wire import BadRequestError, Controls, Reply, Request

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import ModuleType


def _api(req: Request) -> str:
    """Which provider's API a request is for: by its path, else Anthropic's header; OpenAI otherwise."""
    if gemini_api.method_of(req) is not None:
        return "gemini"
    if ollama_api.is_ollama(req):
        return "ollama"
    return "anthropic" if anthropic_api.is_anthropic(req) else "openai"


_ERRORS: dict[str, Callable[[Request, int, str | None], Reply]] = {
    "openai": openai_api.error_reply,
    "anthropic": anthropic_api.error_reply,
    "gemini": gemini_api.error_reply,
    "ollama": ollama_api.error_reply,
}


def _route(api: str, req: Request, controls: Controls, base_url: str | None) -> Reply | None:
    if api == "anthropic":
        return anthropic_api.route(req, controls, base_url)
    if api == "gemini":
        return gemini_api.route(req, controls)
    if api == "ollama":
        return ollama_api.route(req, controls)
    return openai_api.route(req, controls)


def handle(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    base_url: str | None = None,
) -> Reply:
    """Answer one request like the real provider would, deterministically and without state.

    The provider follows from the request: Gemini for ``.../models/{model}:{method}`` (the Gemini API and
    Vertex AI), Ollama for ``/api/chat|generate|embed|embeddings``, Anthropic when it carries
    ``anthropic-version`` or targets ``/messages``, otherwise OpenAI. ``base_url`` is where this fake is
    reachable; it only shapes the Anthropic batch ``results_url`` (default ``https://api.anthropic.com``).

    Optional request headers:

    * ``x-mock-usage``: JSON object of exact usage numbers, in the provider's own names. OpenAI:
      ``prompt_tokens``, ``completion_tokens``, ``cached_tokens``, ``cache_write_tokens``, ``reasoning_tokens``.
      Anthropic: ``input_tokens`` (uncached), ``output_tokens``, ``cache_read_input_tokens``,
      ``cache_creation_input_tokens``, ``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``,
      ``thinking_tokens``, ``web_search_requests``, ``web_fetch_requests``. Gemini: ``promptTokenCount``,
      ``candidatesTokenCount``, ``cachedContentTokenCount``, ``thoughtsTokenCount``, ``toolUsePromptTokenCount``.
      Ollama: ``prompt_eval_count``, ``eval_count``. Keys left out keep their derived values (input: 8 +
      characters of text // 4; output: words generated; details 0); an unknown key is a 400.
    * ``x-mock-service-tier`` / ``x-mock-speed`` / ``x-mock-model``: reported tier (Gemini: trafficType),
      speed, model.
    * ``x-mock-error``: an HTTP status; the reply is that provider's error body.
    * ``x-mock-chunks``: content delta events per stream, also the reply's word count (default 5).
    * ``x-mock-no-usage: 1``: streams carry no usage (Anthropic: no message_delta/message_stop).
    * ``x-mock-truncate``: cut a stream after that many events, like a dropped connection.
    """
    req = Request.parse(method, path, headers, body)
    api = _api(req)
    error_reply = _ERRORS[api]
    try:
        controls = Controls.parse(req.headers)
        if controls.error is not None:
            return error_reply(req, controls.error, None)
        reply = _route(api, req, controls, base_url)
    except BadRequestError as exc:
        return error_reply(req, 400, str(exc))
    if reply is None:
        unknown = "Not found: {} {}" if api == "anthropic" else "Invalid URL ({} {})"
        return error_reply(req, 404, unknown.format(req.method, req.path))
    return reply


def _module_of(request: object) -> ModuleType:
    """Answer with the request's own library (httpx2, or plain httpx), so isinstance checks hold."""
    root = type(request).__module__.partition(".")[0]
    if root in {"httpx2", "httpx"} and root in sys.modules:
        return sys.modules[root]
    try:
        return importlib.import_module("httpx2")
    except ImportError:
        return importlib.import_module("httpx")


def mock_transport_handler(request: Any) -> Any:
    """The deterministic fake (:func:`handle`) as a ``MockTransport`` handler.

    MockTransport awaits a handler's result only when it is awaitable, so this sync handler also serves
    ``AsyncClient``; SSE bodies are streamed event by event in both cases.
    """
    reply = handle(request.method, request.url.raw_path.decode("ascii"), request.headers, request.content)
    return to_response(_module_of(request), reply, request)


async def async_mock_transport_handler(request: Any) -> Any:
    """Async twin of :func:`mock_transport_handler`, for code that insists on a coroutine."""
    return mock_transport_handler(request)
