"""The normalized call record: what one LLM API call used and returned, provider-neutral.

Provider adapters build these; pricing and telemetry read only these. Token counts follow the GenAI
semantic conventions: ``input_tokens`` INCLUDES cache reads and writes, ``output_tokens`` INCLUDES
reasoning. Nothing here knows about SDKs, prices or OpenTelemetry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})


@dataclass(slots=True)
class Usage:
    """Token usage of one call, normalized so that every provider means the same thing."""

    input_tokens: int = 0
    """All input tokens, cached or not (the semconv's gen_ai.usage.input_tokens)."""
    output_tokens: int = 0
    """All output tokens, reasoning included."""
    cache_read_tokens: int = 0
    """Part of input_tokens read from the prompt cache."""
    cache_write_tokens: int = 0
    """Part of input_tokens written to the prompt cache (all TTLs)."""
    cache_write_5m_tokens: int = 0
    """Part of cache_write_tokens with a 5-minute TTL, where the API says so."""
    cache_write_1h_tokens: int = 0
    """Part of cache_write_tokens with a 1-hour TTL, where the API says so."""
    reasoning_tokens: int = 0
    """Part of output_tokens spent on reasoning / thinking."""
    service_tier: str | None = None
    """The tier that served (and bills) the call: default, flex, priority, scale, ..."""
    speed: str | None = None
    """Anthropic fast mode ("fast"); selects its own price."""
    batch: bool = False
    """Billed at the batch rate."""
    server_duration_ns: int = 0
    """Wall time the server reports for the call (Ollama's total_duration), 0 when not reported: what a
    GPU-hour rate prices a self-hosted call by."""

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the plain input rate (never negative, even for odd reports)."""
        rest = self.input_tokens - self.cache_read_tokens - self.cache_write_tokens
        return rest if rest > 0 else 0


@dataclass(slots=True)
class Request:
    """What the caller asked for, known before the call is sent."""

    provider: str
    """gen_ai.provider.name, derived from the client (and its base URL)."""
    operation: str
    """gen_ai.operation.name: chat, embeddings, ..."""
    model: str | None
    server_address: str | None = None
    server_port: int | None = None
    stream: bool = False
    local: bool = False
    """Served by a self-hosted / local endpoint: API cost is $0."""
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    service_tier: str | None = None
    input_messages: object = None
    """Prompt content, kept only when content capture is on."""
    system_instructions: object = None
    prompt: object = None
    """References to the prompt arguments (messages, system, tools...), never copied: a block budget's estimate
    of the input reads them before the call is sent."""
    attribution: Mapping[str, str] = field(default_factory=lambda: _NO_ATTRIBUTES)
    """Who the call is for (llmcost.feature, llmcost.team, user.id, ...), set when the call begins."""
    fingerprints: Any = None
    """Keyed hashes of the request and its prefixes (``fingerprints.Fingerprints``), None when off."""
    origin: str | None = None
    """Where the call ran: server, local or none (``fingerprints.origin``)."""
    """Who the call is for (llmcost.feature, llmcost.team, user.id, ...), set when the call begins."""
    conversation_id: str | None = None
    """The conversation the SDK call names (OpenAI Responses ``conversation``)."""
    previous_response_id: str | None = None
    """The response this call continues (OpenAI Responses ``previous_response_id``): its conversation is this one's."""


@dataclass(slots=True)
class Response:
    """What came back, apart from usage."""

    model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    output_messages: object = None
    """Completion content, kept only when content capture is on."""
