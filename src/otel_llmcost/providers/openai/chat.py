"""Chat Completions (and embeddings, whose usage has the same shape) read into Response and Usage: a result,
and the running summary of a stream.

``prompt_tokens`` already INCLUDES cached tokens, and ``completion_tokens`` includes reasoning: the normalized
record takes them as they are, never adding cache twice. Also what compatible servers add: Gemini's thinking
tokens left out of ``completion_tokens``, Groq's ``x_groq.usage``. Pure: no SDK import, no calls or spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ... import names
from ...records import Response, Usage
from .. import messages
from ..base import count, get
from .usage import cache_bits, has_count, reported_cost, response_of, unit_counts


def chat_usage(raw: Any, service_tier: Any = None) -> Usage | None:
    """Chat Completions (and embeddings) usage: prompt_tokens includes cached_tokens."""
    if raw is None or not has_count(raw, "prompt_tokens", "completion_tokens"):
        return None
    prompt_details = get(raw, "prompt_tokens_details")
    completion_details = get(raw, "completion_tokens_details")
    usage = Usage(
        input_tokens=count(get(raw, "prompt_tokens")),
        output_tokens=count(get(raw, "completion_tokens")),
        cache_read_tokens=count(get(prompt_details, "cached_tokens")),
        cache_write_tokens=count(get(prompt_details, "cache_write_tokens")),
        reasoning_tokens=count(get(completion_details, "reasoning_tokens")),
        service_tier=service_tier if isinstance(service_tier, str) else None,
        cache_reported=cache_bits(prompt_details),
    )
    units = unit_counts(
        ("input_audio_tokens", get(prompt_details, "audio_tokens")),
        ("input_image_tokens", get(prompt_details, "image_tokens")),
        ("output_audio_tokens", get(completion_details, "audio_tokens")),
        ("output_image_tokens", get(completion_details, "image_tokens")),
    )
    if units:
        usage.units = units
    return usage


def gemini_compatible_usage(usage: Usage | None, raw: Any) -> Usage | None:
    """Gemini's OpenAI-compatible endpoint: thinking tokens may be left out of ``completion_tokens`` while
    ``total_tokens`` counts them (Gemini bills them as output). The gap is output, and reasoning."""
    total = get(raw, "total_tokens")
    if usage is None or type(total) is not int:
        return usage
    gap = total - usage.input_tokens - usage.output_tokens
    if gap > 0:
        usage.output_tokens += gap
        usage.reasoning_tokens = max(usage.reasoning_tokens, gap)
    return usage


def _finish_reasons(choices: Any) -> list[str]:
    reasons: list[str] = []
    for choice in choices if isinstance(choices, list) else ():
        reason = get(choice, "finish_reason")
        if isinstance(reason, str):
            reasons.append(reason)
    return reasons


def chat_result(obj: Any, capture: bool = False) -> tuple[Response, Usage | None]:
    choices = get(obj, "choices")
    output = messages.openai_chat_output(choices) if capture else None
    raw = get(obj, "usage")
    response = reported_cost(raw, response_of(obj, _finish_reasons(choices), output))
    return response, chat_usage(raw, get(obj, "service_tier"))


def embeddings_result(obj: Any, capture: bool = False) -> tuple[Response, Usage | None]:
    return response_of(obj, []), chat_usage(get(obj, "usage"))


def _groq_usage(chunk: Any) -> Any:
    """Groq's streamed usage, in the chunk's ``x_groq`` extension (sent without ``include_usage``)."""
    extension = getattr(chunk, "x_groq", None)
    return get(extension, "usage") if extension is not None else None


@dataclass(slots=True)
class ChatStreamSummary:
    """Running summary of a chat.completions stream: ids, finish reasons, the final usage chunk."""

    hide_usage_chunk: bool = False
    asked_for_usage: bool = False
    capture: bool = False
    provider: str = ""
    model: str | None = None
    response_id: str | None = None
    usage: Any = None
    service_tier: Any = None
    finish_reasons: list[str] = field(default_factory=list)
    choices: messages.ChatChoices | None = None
    fingerprint: Any = None

    def add(self, chunk: Any) -> bool:
        try:  # free in the common case (zero-cost try): the SDK hands over whatever a ``data:`` line held
            if self.response_id is None:
                self.response_id = chunk.id
                self.model = chunk.model
            if self.fingerprint is None:
                self.fingerprint = getattr(chunk, "system_fingerprint", None)
            choices = chunk.choices
            usage = chunk.usage
        except AttributeError:  # a bare JSON value ("str", [], 3): not a chunk, nothing to learn from it
            return True
        if choices and type(choices) is list:  # the SDK does not validate: anything may stand here
            for choice in choices:
                reason = getattr(choice, "finish_reason", None)
                if reason and type(reason) is str:
                    self.finish_reasons.append(reason)
                if self.capture:
                    if self.choices is None:
                        self.choices = messages.ChatChoices()
                    self.choices.add(choice)
            # DeepSeek, OpenRouter and Groq send the usage on the chunk that still carries the last choice.
            if usage is not None or (usage := _groq_usage(chunk)) is not None:
                self.usage = usage
                self.service_tier = getattr(chunk, "service_tier", None)
            return True
        usage = chunk.usage
        if usage is None:
            usage = _groq_usage(chunk)  # Groq: x_groq.usage, sent unasked
            if usage is None:
                return True
        self.usage = usage
        self.service_tier = getattr(chunk, "service_tier", None)
        return not self.hide_usage_chunk

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        output = (self.choices.messages() if self.choices is not None else []) if self.capture else None
        response = reported_cost(self.usage, Response(self.model, self.response_id, self.finish_reasons, output))
        if isinstance(self.fingerprint, str):
            response.attributes = {names.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: self.fingerprint}
        usage = chat_usage(self.usage, self.service_tier)
        if self.provider.startswith("gcp."):
            usage = gemini_compatible_usage(usage, self.usage)
        if usage is not None:
            return response, usage, None
        if not self.asked_for_usage:
            return response, None, "stream_options.include_usage not set"
        return response, None, "stream ended before the usage chunk" if complete else None
