"""The OpenAI SDK adapter: which methods to wrap, what a request asks, and what its usage means.

One module per job, so that each says what it holds:

* ``usage``: what every result shape shares: a usage block's real counts, cache bits and extra units, the cost a
  provider reports in it (xAI, OpenRouter), the Response fields every result carries.
* ``chat``: Chat Completions (and embeddings) results and streams -> Response/Usage, with what compatible servers
  add (Gemini's uncounted thinking tokens, Groq's ``x_groq.usage``).
* ``responses``: Responses API (and Batch) results and streams -> Response/Usage, tool usage included.
* ``endpoints``: which provider and server a client talks to (Azure, a known host, a mapped one, local).
* ``batches``: ``batches.retrieve`` / ``list`` watched, a completed batch priced once.
* ``methods``: which methods are wrapped (``METHODS``), ``OpenAIMethod`` (what a request asks, raw responses,
  stream_options injection, streams) and ``targets``, the adapter's entry point.

``usage``, ``chat`` and ``responses`` are pure: no SDK import, no calls or spans. Nothing here knows metrics or
spans. Works with openai 1.x/2.x (httpx) and 3.x (httpx2); importing this package imports no SDK. It keeps the
surface the former ``providers/openai.py`` module had (the instrumentor's ``targets``, the tests' ``METHODS``,
``BATCH_METHODS``, ``chat_result``, ``responses_result``...); everything else is named by its module.
"""

from __future__ import annotations

from . import batches, chat, endpoints, methods, responses, usage
from .batches import BATCH_METHODS, BatchWatcher, batch_wrapper
from .chat import ChatStreamSummary, chat_result, chat_usage, embeddings_result, gemini_compatible_usage
from .methods import METHODS, SDK, OpenAIMethod, targets
from .responses import IMAGE_GEN_DEFAULT_MODEL, ResponsesStreamSummary, responses_result, responses_usage
from .usage import reported_cost

__all__ = [
    "BATCH_METHODS",
    "IMAGE_GEN_DEFAULT_MODEL",
    "METHODS",
    "SDK",
    "BatchWatcher",
    "ChatStreamSummary",
    "OpenAIMethod",
    "ResponsesStreamSummary",
    "batch_wrapper",
    "batches",
    "chat",
    "chat_result",
    "chat_usage",
    "embeddings_result",
    "endpoints",
    "gemini_compatible_usage",
    "methods",
    "reported_cost",
    "responses",
    "responses_result",
    "responses_usage",
    "targets",
    "usage",
]
