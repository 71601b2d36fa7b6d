"""The normalized call record: what one LLM API call used and returned, provider-neutral.

Provider adapters build these; pricing and telemetry read only these. Token counts follow the GenAI
semantic conventions: ``input_tokens`` INCLUDES cache reads and writes, ``output_tokens`` INCLUDES
reasoning. Nothing here knows about SDKs, prices or OpenTelemetry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})
NO_UNITS: Mapping[str, int] = MappingProxyType({})
"""The shared, empty ``Usage.units`` of a call that reported nothing beyond the fixed fields."""


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
    units: Mapping[str, int] = field(default_factory=lambda: NO_UNITS)
    """Every other priced unit the API reported, keyed by genai-prices' usage key (its unit registry):
    ``input_audio_tokens``, ``output_image_tokens``, ``cache_audio_read_tokens``, ``web_searches``,
    ``code_executions``, ... Each count is PART of its parent's (``input_audio_tokens`` of ``input_tokens``,
    ``cache_audio_read_tokens`` of both ``cache_read_tokens`` and ``input_audio_tokens``), as in genai-prices:
    pricing bills each token once, at the most specific unit the model has a price for. Adapters assign a new
    dict (never mutate the shared empty default); the fixed fields above are never repeated here."""

    iterations: tuple[tuple[str | None, Usage], ...] = ()
    """Billed work the top-level counts leave out, each priced on its own: (model, usage) pairs, model None for
    the call's own model. Anthropic ``usage.iterations``: a ``compaction`` entry (the call's model) and an
    ``advisor_message`` entry (its own ``model``) are not in the top-level totals; ``message`` entries are, and
    are never repeated here (each token is counted once)."""
    cache_reported: int = field(default=0, compare=False)
    """Which cache counts the API reported, 0 included (bit 1 read, bit 2 write): the span writes a reported 0
    as the official instrumentations do, and leaves out what the API never said."""

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the plain input rate (never negative, even for odd reports)."""
        rest = self.input_tokens - self.cache_read_tokens - self.cache_write_tokens
        return rest if rest > 0 else 0


MODALITIES = ("text", "image", "audio", "video")
MODALITY_UNKNOWN = "unknown"
# For each token type of the tokens metric, the genai-prices usage key of its part in each modality.
_MODALITY_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "input": tuple((m, f"input_{m}_tokens") for m in MODALITIES),
    "output": tuple((m, f"output_{m}_tokens") for m in MODALITIES),
    "cache_read": tuple((m, f"cache_{m}_read_tokens") for m in MODALITIES),
    "cache_write": tuple((m, f"cache_{m}_write_tokens") for m in MODALITIES),
    "reasoning": tuple((m, f"output_{m}_reasoning_tokens") for m in MODALITIES),
}


def by_modality(usage: Usage, token_type: str, total: int) -> list[tuple[str, int]]:
    """``total`` tokens of one type split by modality (text, image, audio, video) as the API reported them; what
    it did not attribute to a modality is ``unknown`` (all of it, for an API that reports no modalities). The
    parts add up to ``total`` whenever the report is consistent."""
    units = usage.units
    if not units:
        return [(MODALITY_UNKNOWN, total)]
    parts: list[tuple[str, int]] = []
    rest = total
    for modality, key in _MODALITY_KEYS.get(token_type, ()):
        count = units.get(key, 0)
        if count > 0:
            parts.append((modality, count))
            rest -= count
    if rest > 0:
        parts.append((MODALITY_UNKNOWN, rest))
    return parts


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
    inference_geo: str | None = None
    """The region the call asks to run in (Anthropic's ``inference_geo`` parameter): a budget's estimate before
    the call prices its multiplier; the call's cost uses the region the response reports."""
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
    tool_definitions: object = None
    """The tools offered to the model (gen_ai.tool.definitions), kept only when content capture is on."""
    attributes: Mapping[str, Any] = field(default_factory=lambda: _NO_ATTRIBUTES)
    """Recommended request attributes the adapter found (seed, stop sequences, choice count, top_k, output type,
    encoding formats, embedding dimensions...), by their names.py name."""


@dataclass(slots=True)
class Response:
    """What came back, apart from usage."""

    model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    output_messages: object = None
    """Completion content, kept only when content capture is on."""
    provider_cost: Decimal | None = None
    """What the provider says the call cost, in USD (OpenRouter ``usage.cost``, xAI ``usage.cost_in_usd_ticks``):
    recorded beside ours, the call's cost when we cannot price it."""
    provider_cost_source: str | None = None
    """The response field ``provider_cost`` came from (``usage.cost``, ``usage.cost_in_usd_ticks``)."""
    inference_geo: str | None = None
    """Where the provider says inference ran (Anthropic ``usage.inference_geo``): a price multiplier may apply."""
    attributes: Mapping[str, Any] = field(default_factory=lambda: _NO_ATTRIBUTES)
    """Recommended response attributes the adapter found (openai.response.system_fingerprint...)."""
