"""The Responses API (and Batch) read into Response and Usage: a result, its tools' usage (web searches, the
image generation tool's tokens), and the running summary of a stream.

``input_tokens`` already INCLUDES cached tokens, and ``output_tokens`` includes reasoning: the normalized record
takes them as they are, never adding cache twice. Pure: no SDK import, no calls or spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...records import Response, Usage
from .. import messages
from ..base import count, get
from .usage import cache_bits, has_count, reported_cost, response_of, unit_counts


def responses_usage(raw: Any, service_tier: Any = None, batch: bool = False) -> Usage | None:
    """Responses API (and Batch) usage: input_tokens includes cached_tokens."""
    if raw is None or not has_count(raw, "input_tokens", "output_tokens"):
        return None
    input_details = get(raw, "input_tokens_details")
    output_details = get(raw, "output_tokens_details")
    usage = Usage(
        input_tokens=count(get(raw, "input_tokens")),
        output_tokens=count(get(raw, "output_tokens")),
        cache_read_tokens=count(get(input_details, "cached_tokens")),
        cache_write_tokens=count(get(input_details, "cache_write_tokens")),
        reasoning_tokens=count(get(output_details, "reasoning_tokens")),
        service_tier=service_tier if isinstance(service_tier, str) else None,
        batch=batch,
        cache_reported=cache_bits(input_details),
    )
    ttl = get(input_details, "cache_write_tokens_details")
    # 30-minute and 12-hour cache writes: parts of cache_write_tokens, named as genai-prices names TTL units
    # (cache_write_5m_tokens). Until its registry has them they bill at the cache-write price; the day it
    # prices them, they bill at theirs with no change here.
    units = unit_counts(
        ("input_audio_tokens", get(input_details, "audio_tokens")),
        ("input_image_tokens", get(input_details, "image_tokens")),
        ("output_audio_tokens", get(output_details, "audio_tokens")),
        ("output_image_tokens", get(output_details, "image_tokens")),
        ("cache_write_30m_tokens", get(ttl, "ttl_30m_tokens")),
        ("cache_write_12h_tokens", get(ttl, "ttl_12h_tokens")),
    )
    if units:
        usage.units = units
    return usage


# The image model the Responses image_generation tool uses when the tool names none (the API's default).
IMAGE_GEN_DEFAULT_MODEL = "gpt-image-1"


def _tool_usage(obj: Any, usage: Usage) -> None:
    """``Response.tool_usage``: billable web searches (priced per search at the call's model), and the image
    generation tool's tokens, billed at the image model's token prices (an iteration of its own)."""
    tools = get(obj, "tool_usage")
    if tools is None:
        return
    searches = get(get(tools, "web_search"), "num_requests")
    if type(searches) is int and searches > 0:
        usage.units = {**usage.units, "web_searches": searches}
    image = get(tools, "image_gen")
    image_in, image_out = count(get(image, "input_tokens")), count(get(image, "output_tokens"))
    if image_in + image_out <= 0:
        return
    in_details = get(image, "input_tokens_details")
    out_details = get(image, "output_tokens_details")
    cached = get(image, "cached_tokens_details")
    part = Usage(
        input_tokens=image_in,
        output_tokens=image_out,
        cache_read_tokens=count(get(image, "cached_tokens")),
        service_tier=usage.service_tier,
        batch=usage.batch,
    )
    units = unit_counts(
        ("input_text_tokens", get(in_details, "text_tokens")),
        ("input_image_tokens", get(in_details, "image_tokens")),
        ("output_text_tokens", get(out_details, "text_tokens")),
        ("output_image_tokens", get(out_details, "image_tokens")),
        ("cache_text_read_tokens", get(cached, "cached_text_tokens")),
        ("cache_image_read_tokens", get(cached, "cached_image_tokens")),
    )
    if units:
        part.units = units
    usage.iterations = (*usage.iterations, (_image_model(obj), part))


def _image_model(obj: Any) -> str:
    tools = get(obj, "tools")
    for tool in tools if isinstance(tools, list) else ():
        if get(tool, "type") == "image_generation":
            model = get(tool, "model")
            if isinstance(model, str) and model:
                return model
    return IMAGE_GEN_DEFAULT_MODEL


def responses_result(obj: Any, capture: bool = False) -> tuple[Response, Usage | None]:
    reasons = messages.responses_finish_reason(obj)
    output = messages.openai_responses_output(obj, reasons) if capture else None
    raw = get(obj, "usage")
    usage = responses_usage(raw, get(obj, "service_tier"))
    if usage is not None:
        _tool_usage(obj, usage)
    return reported_cost(raw, response_of(obj, reasons, output)), usage


@dataclass(slots=True)
class ResponsesStreamSummary:
    """Running summary of a Responses stream: the final response event carries the usage."""

    final: Any = None
    first: Any = None
    capture: bool = False

    def add(self, event: Any) -> bool:
        kind = getattr(event, "type", None)  # a bare JSON value ("str", [], 3) is no event: skipped
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = getattr(event, "response", None)
        elif kind == "response.created":
            self.first = getattr(event, "response", None)
        return True

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        source = self.final if self.final is not None else self.first
        if source is None:
            return None, None, "stream ended before any response event"
        response, usage = responses_result(source, self.capture)
        if self.final is None:
            return response, None, "stream ended before response.completed"
        return response, usage, None
