"""What Anthropic's usage means, normalized into our Usage and Response: pure functions of the API's data.

Anthropic's ``input_tokens`` EXCLUDES cache reads and writes: the normalized input is the sum of the three.
Cache writes split into 5-minute and 1-hour parts (priced 1.25x and 2x input); thinking tokens are reasoning;
``service_tier`` and ``speed`` (fast mode) select the price; batch results bill at the batch rate.

Everything here reads a Message (an SDK model, or the same JSON decoded into dicts) through ``get``, field by
field: it imports nothing of the SDK and knows nothing of how calls are wrapped or whose span records them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ... import names
from ...records import Response, Usage
from ..base import count, counted, get
from ..messages import anthropic_finish_reason, anthropic_output

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
    usage = Usage(
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
        cache_reported=(type(_field(raw, "cache_read_input_tokens")) is int)
        | (type(_field(raw, "cache_creation_input_tokens")) is int) << 1,
    )
    searches = count(_field(_field(raw, "server_tool_use"), "web_search_requests"))
    if searches:
        usage.units = {"web_searches": searches}
    iterations = _field(raw, "iterations")
    if iterations:
        usage.iterations = _billed_iterations(iterations, usage)
    return usage


# Iterations whose tokens the top-level usage leaves out: billed on top of it, compaction at the call's model,
# an advisor at its own. ``message`` (and ``fallback_message``) entries are already in the top-level totals.
_EXTRA_ITERATIONS = frozenset({"compaction", "advisor_message"})


def _billed_iterations(iterations: Any, top: Usage) -> tuple[tuple[str | None, Usage], ...]:
    billed: list[tuple[str | None, Usage]] = []
    for entry in iterations if isinstance(iterations, list) else ():
        kind = _field(entry, "type")
        if kind not in _EXTRA_ITERATIONS:
            continue
        usage = message_usage({k: _field(entry, k) for k in _ITERATION_FIELDS})
        if usage is None:
            continue
        # The entry's tier and speed are the call's (an iteration reports neither).
        usage.service_tier, usage.speed, usage.batch = top.service_tier, top.speed, top.batch
        model = _field(entry, "model") if kind == "advisor_message" else None
        billed.append((model if isinstance(model, str) and model else None, usage))
    return tuple(billed)


_ITERATION_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                     "cache_creation")


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


def message_result(message: Any, capture: bool = False, batch: bool = False) -> tuple[Response, Usage | None]:
    """Response and usage of a Message (model object, ParsedMessage, BetaMessage, or a decoded dict)."""
    model = _field(message, "model")
    response_id = _field(message, "id")
    finish = anthropic_finish_reason(_field(message, "stop_reason"))
    response = Response(
        model=model if isinstance(model, str) else None,
        response_id=response_id if isinstance(response_id, str) else None,
        finish_reasons=[finish] if finish else [],
        output_messages=anthropic_output(_field(message, "content"), finish) if capture else None,
    )
    usage = _field(message, "usage")
    response.inference_geo = _geo(usage)
    return response, message_usage(usage, batch)


def _geo(usage: Any) -> str | None:
    """``usage.inference_geo``: where inference ran (US-only inference bills 1.1x: ``pricing.multipliers``)."""
    geo = _field(usage, "inference_geo")
    return geo if isinstance(geo, str) and geo else None


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
    "iterations",
    "inference_geo",
)
_DELTA_FIELDS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "server_tool_use",
    "output_tokens_details",
    "iterations",
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
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Captured content blocks by index (text, tool_use with its input JSON, thinking), as they arrive."""

    def add(self, event: Any) -> bool:
        kind = _field(event, "type")
        if kind == "content_block_delta":
            if self.capture:
                self._delta(_field(event, "index"), _field(event, "delta"))
        elif kind == "content_block_start":
            if self.capture:
                block = _field(event, "content_block")
                self.blocks[count(_field(event, "index"))] = {
                    "type": _field(block, "type"), "id": _field(block, "id"), "name": _field(block, "name"),
                    "chunks": [], "input": _field(block, "input"),
                }
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

    def _delta(self, index: Any, delta: Any) -> None:
        block = self.blocks.setdefault(count(index), {"type": "text", "id": None, "name": None, "chunks": []})
        for key in ("text", "partial_json", "thinking"):
            piece = _field(delta, key)
            if isinstance(piece, str):
                block["chunks"].append(piece)

    def _content(self) -> list[dict[str, Any]]:
        """The streamed blocks as the Message's content blocks would be."""
        content: list[dict[str, Any]] = []
        for _, block in sorted(self.blocks.items()):
            joined = "".join(block["chunks"])
            kind = block["type"]
            if kind in ("tool_use", "server_tool_use"):
                try:
                    arguments = json.loads(joined) if joined else block.get("input")
                except ValueError:
                    arguments = joined
                content.append({"type": kind, "id": block["id"], "name": block["name"], "input": arguments})
            elif kind == "thinking":
                content.append({"type": "thinking", "thinking": joined})
            else:
                content.append({"type": kind or "text", "text": joined})
        return content

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        if not self.started:
            return None, None, "stream ended before message_start"
        finish = anthropic_finish_reason(self.stop_reason)
        output = anthropic_output(self._content(), finish) if self.capture else None
        reasons = [finish] if finish else []
        response = Response(self.model, self.response_id, reasons, output)
        response.inference_geo = _geo(self.usage)
        call = self.call
        if call is not None:
            extra = message_attributes(self.usage, self.stop_reason)
            if extra:
                call.annotate(extra)
        return response, message_usage(self.usage), None
