"""What Anthropic's usage means, normalized into our Usage and Response: pure functions of the API's data.

Anthropic's ``input_tokens`` EXCLUDES cache reads and writes: the normalized input is the sum of the three.
Cache writes split into 5-minute and 1-hour parts (priced 1.25x and 2x input); thinking tokens are reasoning;
``service_tier`` and ``speed`` (fast mode) select the price; batch results bill at the batch rate.

Everything here reads a Message (an SDK model, or the same JSON decoded into dicts) through ``get``, field by
field: it imports nothing of the SDK and knows nothing of how calls are wrapped or whose span records them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ... import names
from ...records import Response, Usage
from ..base import count, counted, get

if TYPE_CHECKING:
    from ...calls import Call

OPERATION_CHAT = "chat"
OPERATION_COUNT_TOKENS = "count_tokens"
OPERATION_BATCH_RESULTS = "batch_results"


_field = get  # a field of an SDK model or of a decoded JSON dict (None when absent)


# --- usage normalization: one function per API shape ----------------------------------------------
def message_usage(raw: Any, batch: bool = False) -> Usage | None:
    """Messages API usage (a Message's ``usage``, or a stream's message_start usage updated by message_delta).

    ``input_tokens`` excludes the cache: input = input + cache_read + cache_creation. The 5m/1h split of
    cache writes comes from ``cache_creation``; without it every write is a 5-minute one (the default TTL).
    A batch result (``batch``, or service_tier "batch") is billed at the batch rate.
    """
    if raw is None:
        return None
    read = count(_field(raw, "cache_read_input_tokens"))
    write = count(_field(raw, "cache_creation_input_tokens"))
    split = _field(raw, "cache_creation")
    write_5m = count(_field(split, "ephemeral_5m_input_tokens"))
    write_1h = count(_field(split, "ephemeral_1h_input_tokens"))
    if write_5m + write_1h > write:
        write = write_5m + write_1h  # the detailed counts win over an inconsistent total
    elif write_5m + write_1h == 0:
        write_5m = write
    tier = _field(raw, "service_tier")
    tier = tier if isinstance(tier, str) else None
    speed = _field(raw, "speed")
    return Usage(
        input_tokens=count(_field(raw, "input_tokens")) + read + write,
        output_tokens=count(_field(raw, "output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=count(_field(_field(raw, "output_tokens_details"), "thinking_tokens")),
        service_tier=tier,
        speed=speed if isinstance(speed, str) else None,
        batch=batch or tier == "batch",
    )


def message_attributes(usage: Any, stop_reason: Any) -> dict[str, Any]:
    """What a Message adds to our span beyond the normalized record: the server tools it used (counted, not
    priced) and the Anthropic fields anthropic's own span records under its names (ours stands in for it)."""
    attrs: dict[str, Any] = {}
    if isinstance(stop_reason, str):
        attrs[names.ANTHROPIC_MESSAGE_STOP_REASON] = stop_reason
    if usage is None:
        return attrs
    split = _field(usage, "cache_creation")
    if split is not None:
        for key, name in ((names.ANTHROPIC_CACHE_WRITE_5M_TOKENS, "ephemeral_5m_input_tokens"),
                          (names.ANTHROPIC_CACHE_WRITE_1H_TOKENS, "ephemeral_1h_input_tokens")):
            value = _field(split, name)
            if counted(value):
                attrs[key] = value
    tier = _field(usage, "service_tier")
    if isinstance(tier, str):
        attrs[names.ANTHROPIC_RESPONSE_SERVICE_TIER] = tier
    tools = _field(usage, "server_tool_use")
    if tools is not None:
        searches = count(_field(tools, "web_search_requests"))
        if searches:
            attrs[names.LLMCOST_WEB_SEARCH_REQUESTS] = searches
        fetches = count(_field(tools, "web_fetch_requests"))
        if fetches:
            attrs[names.LLMCOST_WEB_FETCH_REQUESTS] = fetches
    return attrs


def _text_of(content: Any) -> str:
    parts: list[str] = []
    for block in content if isinstance(content, list) else ():
        if _field(block, "type") == "text":
            text = _field(block, "text")
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def message_result(message: Any, capture: bool = False, batch: bool = False) -> tuple[Response, Usage | None]:
    """Response and usage of a Message (model object, ParsedMessage, BetaMessage, or a decoded dict)."""
    model = _field(message, "model")
    response_id = _field(message, "id")
    stop = _field(message, "stop_reason")
    response = Response(
        model=model if isinstance(model, str) else None,
        response_id=response_id if isinstance(response_id, str) else None,
        finish_reasons=[stop] if isinstance(stop, str) else [],
        output_messages=[{"role": "assistant", "content": _text_of(_field(message, "content"))}] if capture else None,
    )
    return response, message_usage(_field(message, "usage"), batch)


# --- stream accumulators --------------------------------------------------------------------------
# message_start carries the whole usage; message_delta carries running totals that REPLACE the start's
# values (never added), and omits the optional ones that did not change. The SDK's accumulator merges
# exactly these fields, so a stream and the same call without streaming report the same usage.
_START_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens_details",
    "server_tool_use",
    "service_tier",
    "speed",
)
_DELTA_FIELDS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "server_tool_use",
    "output_tokens_details",
)


@dataclass(slots=True)
class MessageStreamSummary:
    """Running summary of a Messages event stream: ids, stop reason, usage (never the content, unless captured)."""

    call: Call | None = None
    capture: bool = False
    started: bool = False
    model: str | None = None
    response_id: str | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)

    def add(self, event: Any) -> bool:
        kind = _field(event, "type")
        if kind == "content_block_delta":
            if self.capture:
                delta = _field(event, "delta")
                if _field(delta, "type") == "text_delta" and isinstance(_field(delta, "text"), str):
                    self.text.append(_field(delta, "text"))
        elif kind == "message_start":
            message = _field(event, "message")
            model = _field(message, "model")
            response_id = _field(message, "id")
            self.model = model if isinstance(model, str) else None
            self.response_id = response_id if isinstance(response_id, str) else None
            usage = _field(message, "usage")
            self.usage = {key: _field(usage, key) for key in _START_FIELDS}
            self.started = True
        elif kind == "message_delta":
            usage = _field(event, "usage")
            merged = self.usage
            merged["output_tokens"] = _field(usage, "output_tokens")  # a running total: assign, never add
            for key in _DELTA_FIELDS:
                value = _field(usage, key)
                if value is not None:
                    merged[key] = value
            stop = _field(_field(event, "delta"), "stop_reason")
            if isinstance(stop, str):
                self.stop_reason = stop
        return True

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        if not self.started:
            return None, None, "stream ended before message_start"
        output = [{"role": "assistant", "content": "".join(self.text)}] if self.capture else None
        reasons = [self.stop_reason] if self.stop_reason else []
        response = Response(self.model, self.response_id, reasons, output)
        call = self.call
        if call is not None:
            extra = message_attributes(self.usage, self.stop_reason)
            if extra:
                call.annotate(extra)
        return response, message_usage(self.usage), None
