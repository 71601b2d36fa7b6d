"""The deterministic fake: one request in, the provider's reply out, decided by the request alone.

The demo's loopback servers and any test that wants realistic, reproducible replies without scripting them use
:func:`handle`; the ``x-mock-*`` request headers force usage, errors, tiers and stream shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import anthropic_api, openai_api
from .wire import BadRequestError, Controls, Reply, Request

if TYPE_CHECKING:
    from collections.abc import Mapping


def handle(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    base_url: str | None = None,
) -> Reply:
    """Answer one request like the real provider would, deterministically and without state.

    The provider is Anthropic when the request carries ``anthropic-version`` or targets ``/messages``;
    otherwise OpenAI. ``base_url`` is where this fake is reachable; it only shapes the Anthropic batch
    ``results_url`` (default ``https://api.anthropic.com``).

    Optional request headers:

    * ``x-mock-usage``: JSON object of exact usage numbers. OpenAI keys: ``prompt_tokens``,
      ``completion_tokens``, ``cached_tokens``, ``cache_write_tokens``, ``reasoning_tokens``.
      Anthropic keys: ``input_tokens`` (uncached), ``output_tokens``, ``cache_read_input_tokens``,
      ``cache_creation_input_tokens``, ``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``,
      ``thinking_tokens``, ``web_search_requests``, ``web_fetch_requests``. Keys left out keep
      their derived values (input: 8 + characters of text // 4; output: words generated; details 0).
    * ``x-mock-service-tier`` / ``x-mock-speed`` / ``x-mock-model``: reported tier, speed, model.
    * ``x-mock-error``: an HTTP status; the reply is that provider's error body.
    * ``x-mock-chunks``: content delta events per stream, also the reply's word count (default 5).
    * ``x-mock-no-usage: 1``: streams carry no usage (Anthropic: no message_delta/message_stop).
    * ``x-mock-truncate``: cut a stream after that many events, like a dropped connection.
    """
    req = Request.parse(method, path, headers, body)
    api = anthropic_api if anthropic_api.is_anthropic(req) else openai_api
    try:
        controls = Controls.parse(req.headers)
        if controls.error is not None:
            return api.error_reply(req, controls.error)
        if api is anthropic_api:
            reply = anthropic_api.route(req, controls, base_url)
        else:
            reply = openai_api.route(req, controls)
    except BadRequestError as exc:
        return api.error_reply(req, 400, str(exc))
    if reply is None:
        if api is anthropic_api:
            return api.error_reply(req, 404, f"Not found: {req.method} {req.path}")
        return api.error_reply(req, 404, f"Invalid URL ({req.method} {req.path})")
    return reply
