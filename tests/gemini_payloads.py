"""The Gemini fake for the tests: it lives in ``otel_llmcost.fakes.gemini_api`` (re-exported here)."""

from __future__ import annotations

from typing import Any

from otel_llmcost.fakes.gemini_api import (
    FakeGemini,
    Tokens,
    batch_job,
    client,
    content,
    embed_reply,
    gemini_client,
    http_module,
    http_options,
    vertex_client,
)
from otel_llmcost.fakes.wire import JSON, WORDS

__all__ = [
    "JSON",
    "WORDS",
    "FakeGemini",
    "Tokens",
    "batch_job",
    "client",
    "content",
    "embed_reply",
    "gemini_client",
    "http",
    "http_options",
    "vertex_client",
]

http: Any = http_module()
