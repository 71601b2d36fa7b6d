"""The Ollama fake for the tests: it lives in ``otel_llmcost.fakes.ollama_api`` (re-exported here)."""

from __future__ import annotations

from otel_llmcost.fakes.ollama_api import HOST, FakeOllama, async_client, sync_client
from otel_llmcost.fakes.wire import JSON, WORDS

__all__ = ["HOST", "JSON", "WORDS", "FakeOllama", "async_client", "sync_client"]
