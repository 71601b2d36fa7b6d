"""The Google Gen AI SDK (``google-genai``) adapter: Gemini Developer API and Vertex AI clients, sync and async.

Usage comes from ``usage_metadata``: ``prompt_token_count`` INCLUDES ``cached_content_token_count``;
``candidates_token_count`` EXCLUDES ``thoughts_token_count`` (thinking is billed as output), and
``tool_use_prompt_token_count`` (tool results fed back to the model) is input beside the prompt. So the
normalized record has input = prompt + tool-use prompt (cache read a part of it) and output = candidates +
thoughts (reasoning a part of it). Within one streamed request each chunk's usage is the running total:
the last one wins, never a sum.

``embed_content`` is priced from its ``usage_metadata`` (or Vertex AI's per-embedding token counts), and
``batches.get``/``list`` price the inlined responses of a succeeded job once, at the batch rate.

One span per API request. The SDK's public ``generate_content`` / ``generate_content_stream`` may send
several requests for one call (automatic function calling, automatic continuation), each billed on its
own, with long-context tiers applied per request: so the per-request methods (``_generate_content``,
``_generate_content_stream``) are wrapped, and the public ones only when an SDK version lacks those.
When OpenTelemetry's own google-genai instrumentation (or another one of this SDK) has a CLIENT span open
around the call, we make none: the call's cost and usage go onto that span (summed over its requests)
and the metrics are ours, so each call still has exactly one CLIENT span.
Knows nothing about metrics: it fills ``Request``/``Response``/``Usage`` and hands them to the ``Call``.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from .. import names
from ..calls import Call, Foreign, Runtime
from ..fingerprints import describe
from ..records import Request, Response, Usage
from ..streams import AsyncStreamProxy, StreamProxy
from . import messages
from .base import (
    SeenOnce,
    Started,
    Target,
    count,
    get,
    given,
    method_wrapper,
    number,
    watch_wrapper,
    whole,
)
from .endpoints import Endpoint, endpoint_of, mapped
from .endpoints import client_endpoint as cached_endpoint

OPERATION = "generate_content"
OPERATION_EMBEDDINGS = "embeddings"
PROVIDER_GEMINI = "gcp.gemini"
PROVIDER_VERTEX = "gcp.vertex_ai"


# --- usage normalization ----------------------------------------------------------------------------
def _field(raw: Any, snake: str, camel: str) -> Any:
    """A usage field of the SDK's model (snake_case) or of a decoded REST body (camelCase)."""
    if type(raw) is dict:
        value = raw.get(camel)
        return raw.get(snake) if value is None else value
    return getattr(raw, snake, None)


def _enum_value(value: Any) -> str | None:
    """The string of an SDK enum (``TrafficType.ON_DEMAND_FLEX``) or of a plain string, lower-cased."""
    value = getattr(value, "value", value)
    return value.lower() if isinstance(value, str) and value else None


# Vertex AI's traffic types as the service tier they bill at.
_TRAFFIC_TIERS = {
    "on_demand": "standard",
    "on_demand_flex": "flex",
    "on_demand_priority": "priority",
    "provisioned_throughput": "provisioned_throughput",
}


# A modality of the API's token details as genai-prices' unit modality (a DOCUMENT is billed as image, as
# genai-prices' Gemini extractor reads it).
_MODALITIES = {"text": "text", "image": "image", "audio": "audio", "video": "video", "document": "image"}


def _by_modality(details: Any, template: str, into: dict[str, int]) -> None:
    """Add each ``{modality, token_count}`` entry of a token details list to ``into[template % modality]``."""
    for entry in details if isinstance(details, list) else ():
        modality = _MODALITIES.get(_enum_value(_field(entry, "modality", "modality")) or "")
        tokens = _field(entry, "token_count", "tokenCount")
        if modality is not None and type(tokens) is int and tokens > 0:
            key = template % modality
            into[key] = into.get(key, 0) + tokens


def _modality_units(raw: Any, tool_prompt: int) -> dict[str, int]:
    """Per-modality token counts (prompt, tool-use prompt, candidates, cache) as genai-prices usage keys."""
    units: dict[str, int] = {}
    _by_modality(_field(raw, "prompt_tokens_details", "promptTokensDetails"), "input_%s_tokens", units)
    tool_details = _field(raw, "tool_use_prompt_tokens_details", "toolUsePromptTokensDetails")
    _by_modality(tool_details, "input_%s_tokens", units)
    _by_modality(tool_details, "input_%s_tool_tokens", units)
    if tool_prompt:
        units["input_tool_tokens"] = tool_prompt
    _by_modality(_field(raw, "candidates_tokens_details", "candidatesTokensDetails"), "output_%s_tokens", units)
    cache = _field(raw, "cache_tokens_details", "cacheTokensDetails")
    _by_modality(cache, "cache_%s_read_tokens", units)
    return units


def gemini_usage(raw: Any, service_tier: str | None = None, batch: bool = False) -> Usage | None:
    """``usage_metadata`` (SDK model, or the REST body's camelCase ``usageMetadata``) as the normalized record.

    None when the block has no count at all: unknown usage, never $0."""
    if raw is None:
        return None
    prompt = _field(raw, "prompt_token_count", "promptTokenCount")
    candidates = _field(raw, "candidates_token_count", "candidatesTokenCount")
    total = _field(raw, "total_token_count", "totalTokenCount")
    if type(prompt) is not int and type(candidates) is not int and type(total) is not int:
        return None
    thoughts = count(_field(raw, "thoughts_token_count", "thoughtsTokenCount"))
    tool_prompt = count(_field(raw, "tool_use_prompt_token_count", "toolUsePromptTokenCount"))
    traffic = _enum_value(_field(raw, "traffic_type", "trafficType"))
    tier = _TRAFFIC_TIERS.get(traffic or "") or service_tier
    usage = Usage(
        input_tokens=count(prompt) + tool_prompt,
        output_tokens=count(candidates) + thoughts,
        cache_read_tokens=count(_field(raw, "cached_content_token_count", "cachedContentTokenCount")),
        reasoning_tokens=thoughts,
        service_tier=tier,
        batch=batch,
    )
    units = _modality_units(raw, tool_prompt)
    if units:
        usage.units = units
    return usage


def _finish_reasons(candidates: Any, into: list[str]) -> list[str]:
    """Each candidate's finish reason as the conventions name it (STOP stop, MAX_TOKENS length, SAFETY...
    content_filter)."""
    for candidate in candidates or ():
        reason = messages.gemini_finish_reason(_field(candidate, "finish_reason", "finishReason"))
        if reason:
            into.append(reason)
    return into


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def content_result(obj: Any, capture: bool = False, service_tier: str | None = None) -> tuple[Response, Usage | None]:
    """A GenerateContentResponse (or its REST body) as response + usage."""
    raw = get(obj, "usage_metadata")
    body: Any = obj
    if raw is None:
        body = _raw_body(obj)  # config.should_return_http_response: only the HTTP body came back
        if body is None:
            body = obj
        raw = _field(body, "usage_metadata", "usageMetadata")
    candidates = get(body, "candidates")
    output = messages.gemini_output(candidates) if capture else None
    response = Response(
        model=_str(_field(body, "model_version", "modelVersion")),
        response_id=_str(_field(body, "response_id", "responseId")),
        finish_reasons=_finish_reasons(candidates, []),
        output_messages=output,
    )
    return response, gemini_usage(raw, service_tier)


def embed_result(obj: Any) -> tuple[Response, Usage | None]:
    """An EmbedContentResponse: ``usage_metadata`` where the API gives it, else Vertex AI's per-embedding
    ``statistics.token_count`` summed (all input)."""
    usage = gemini_usage(get(obj, "usage_metadata"))
    if usage is None:
        counts = [get(get(e, "statistics"), "token_count") for e in get(obj, "embeddings") or ()]
        numbers = [c for c in counts if isinstance(c, (int, float)) and not isinstance(c, bool)]
        if numbers:
            usage = Usage(input_tokens=sum(int(c) for c in numbers if c > 0))
    return Response(), usage


def _raw_body(obj: Any) -> Any:
    """The decoded JSON body of a response returned as raw HTTP (``should_return_http_response``), or None."""
    body = get(get(obj, "sdk_http_response"), "body")
    if not isinstance(body, str) or '"usageMetadata"' not in body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


# --- stream accumulator -----------------------------------------------------------------------------
@dataclass(slots=True)
class ContentStreamSummary:
    """Running summary of one streamed request: ids, finish reasons, the latest usage (a running total)."""

    capture: bool = False
    service_tier: str | None = None
    model: str | None = None
    response_id: str | None = None
    usage: Any = None
    finish_reasons: list[str] = field(default_factory=list)
    parts: list[Any] = field(default_factory=list)
    """The first candidate's parts as they arrive (captured content only)."""

    def add(self, chunk: Any) -> bool:
        if self.response_id is None:
            self.response_id = _str(get(chunk, "response_id"))
        if self.model is None:
            self.model = _str(get(chunk, "model_version"))
        usage = get(chunk, "usage_metadata")
        if usage is not None:
            self.usage = usage  # the running total of this request: assign, never add
        candidates = get(chunk, "candidates")
        if candidates:
            _finish_reasons(candidates, self.finish_reasons)
            if self.capture:
                self.parts.extend(get(get(candidates[0], "content"), "parts") or ())
        return True

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        output = None
        if self.capture:
            finish = self.finish_reasons[0] if self.finish_reasons else "error"
            output = [{"role": "assistant", "parts": messages.gemini_parts(self.parts), "finish_reason": finish}]
        response = Response(self.model, self.response_id, self.finish_reasons, output)
        usage = gemini_usage(self.usage, self.service_tier)
        if usage is not None:
            return response, usage, None
        return response, None, "stream carried no usage" if complete else "stream ended before any usage"


# --- which provider a client talks to ---------------------------------------------------------------
def client_endpoint(runtime: Runtime, api_client: Any) -> Endpoint:
    """``gcp.vertex_ai`` for a Vertex AI client, ``gcp.gemini`` otherwise, unless the user maps the host (a
    gateway) to another provider. Never a local $0 endpoint: a Gemini SDK pointed at localhost is a proxy in
    front of the paid API far more often than a local model."""
    base_url = get(get(api_client, "_http_options"), "base_url")
    return cached_endpoint(api_client, base_url, runtime.settings.provider_hosts, _resolve)


def _resolve(api_client: Any, base_url: str, hosts: Mapping[str, str]) -> Endpoint:
    provider = PROVIDER_VERTEX if get(api_client, "vertexai") else PROVIDER_GEMINI
    found = endpoint_of(base_url, provider)
    return Endpoint(mapped(hosts, found.address, found.port) or provider, found.address, found.port, False)


# --- another instrumentation's span around the call --------------------------------------------------
# Spans of another instrumentation of this SDK that our calls annotate -> the attributes written so far.
_FOREIGN: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
# Attributes that add up over the requests of one call (tokens, dollars); the rest are the latest request's.
_ADDITIVE = frozenset(
    {
        names.GEN_AI_USAGE_INPUT_TOKENS,
        names.GEN_AI_USAGE_OUTPUT_TOKENS,
        names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        names.GEN_AI_USAGE_COST,
        names.GEN_AI_USAGE_COST_AMOUNT,  # gen_ai_latest_experimental
        names.LLMCOST_COST_INPUT,
        names.LLMCOST_COST_OUTPUT,
        names.LLMCOST_COST_CACHE_READ,
        names.LLMCOST_COST_CACHE_WRITE,
        names.LLMCOST_SAVINGS_CACHE,
        names.LLMCOST_SAVINGS_BATCH,
    }
)


def foreign_span() -> Any:
    """The recording CLIENT span another instrumentation of google-genai has open for this call, or None."""
    span = trace.get_current_span()
    if not span.is_recording() or getattr(span, "kind", None) is not SpanKind.CLIENT:
        return None
    scope = getattr(getattr(span, "instrumentation_scope", None), "name", None) or ""
    return span if "google_genai" in scope or "google.genai" in scope else None


def _write_foreign(span: Any, request: Request, attrs: dict[str, Any]) -> None:
    """Writes a finished call's attributes onto the other instrumentation's span it ran under: counts and costs
    add up over the calls that span carries."""
    written = _FOREIGN.setdefault(span, {})
    for key, value in attrs.items():
        previous = written.get(key)
        if key in _ADDITIVE and isinstance(previous, (int, float)) and isinstance(value, (int, float)):
            attrs[key] = previous + value
    written.update(attrs)
    span.set_attributes(written)


# --- the method handler -----------------------------------------------------------------------------
def _recommended(config: Any) -> dict[str, Any]:
    """The conventions' recommended request attributes a GenerateContentConfig gives."""
    found: dict[str, Any] = {}
    top_k = number(get(config, "top_k"))
    if top_k is not None:
        found[names.GEN_AI_REQUEST_TOP_K] = top_k
    seed = whole(get(config, "seed"))
    if seed is not None:
        found[names.GEN_AI_REQUEST_SEED] = seed
    stop = get(config, "stop_sequences")
    if isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
        found[names.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
    choices = whole(get(config, "candidate_count"))
    if choices is not None and choices != 1:
        found[names.GEN_AI_REQUEST_CHOICE_COUNT] = choices
    mime = get(config, "response_mime_type")
    if isinstance(mime, str) and mime:
        found[names.GEN_AI_OUTPUT_TYPE] = "json" if mime == "application/json" else "text"
    return found


def _service_tier(config: Any) -> str | None:
    tier = _enum_value(get(config, "service_tier"))
    return None if tier in (None, "unspecified") else tier


@dataclass(frozen=True)
class GeminiMethod:
    """``Models._generate_content`` / ``_generate_content_stream`` / ``_embed_content`` (or the public ones)."""

    operation: str
    stream: bool
    is_async: bool

    def started(
        self, runtime: Runtime, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Started:
        """``base.Method``: the call this request begins (kwargs sent unchanged)."""
        call, kwargs = self.begin(runtime, instance, kwargs)
        return call, call, kwargs

    def begin(self, runtime: Runtime, instance: Any, kwargs: dict[str, Any]) -> tuple[Call, dict[str, Any]]:
        provider, address, port, _ = client_endpoint(runtime, getattr(instance, "_api_client", None))
        model = kwargs.get("model")
        config = kwargs.get("config")
        request = Request(
            provider=provider,
            operation=self.operation,
            model=model if isinstance(model, str) else None,
            server_address=address,
            server_port=port,
            stream=self.stream,
            max_tokens=whole(get(config, "max_output_tokens")),
            temperature=number(get(config, "temperature")),
            top_p=number(get(config, "top_p")),
            service_tier=_service_tier(config),
            attributes=_recommended(config),
        )
        head = (get(config, "tools"), get(config, "system_instruction"))
        describe(runtime.settings, request, head, kwargs.get("contents"), {"model": model, "config": config})
        if runtime.settings.capture_content and self.operation == OPERATION:
            # converted only when a span or event is written (an unsampled call never converts it)
            request.input_messages = functools.partial(messages.gemini_input, kwargs.get("contents"))
            system = get(config, "system_instruction")
            request.system_instructions = messages.gemini_system(system) if given(system) else None
            tools = get(config, "tools")
            request.tool_definitions = messages.plain_tools(tools) if given(tools) and tools else None
        span = foreign_span()
        if span is None:
            return runtime.begin(request), kwargs
        _FOREIGN.setdefault(span, {})
        return runtime.begin(request, Foreign(span, _write_foreign)), kwargs

    def result(self, call: Call, result: Any) -> Any:
        capture = call.captures
        tier = call.request.service_tier
        if hasattr(result, "__next__") or hasattr(result, "__anext__"):
            summary = ContentStreamSummary(capture=capture, service_tier=tier)
            return (AsyncStreamProxy if self.is_async else StreamProxy)(result, call, summary)
        if self.operation == OPERATION_EMBEDDINGS:
            response, usage = embed_result(result)
        else:
            response, usage = content_result(result, capture, tier)
        call.finish(response, usage, None if usage is not None else "response carried no usage")
        return result


# --- batch jobs ---------------------------------------------------------------------------------------
_SUCCEEDED = ("job_state_succeeded", "job_state_partially_succeeded")


@dataclass
class BatchWatcher:
    """``batches.get`` / ``batches.list``: the first time a succeeded job shows its inlined responses, each
    response is priced at the batch rate on its own (its long-context tier is its own), once per job name.

    Metrics only (a job is read, not called): like Anthropic's batch results. Results written to a file or
    BigQuery are not seen by the SDK call, so not priced here."""

    seen: SeenOnce = field(default_factory=SeenOnce)
    """Job names already priced: the instrumentation's one record (``targets``' ``seen``)."""

    def batches_in(self, result: Any) -> list[Any]:
        if get(result, "dest") is not None or get(result, "state") is not None:
            return [result]
        page = get(result, "page")  # a Pager of jobs: its current page only, never fetching more
        return list(page) if isinstance(page, list) else []

    def record(self, runtime: Runtime, instance: Any, job: Any) -> None:
        if _enum_value(get(job, "state")) not in _SUCCEEDED:
            return
        name = get(job, "name")
        responses = get(get(job, "dest"), "inlined_responses")
        if not isinstance(name, str) or not responses or not self.seen.first_time(name):
            return
        provider, address, port, _ = client_endpoint(runtime, getattr(instance, "_api_client", None))
        model = get(job, "model")
        for item in responses:
            answer = get(item, "response")
            if answer is None:
                continue  # a failed request of the job: not billed
            request = Request(provider, OPERATION, model if isinstance(model, str) else None, address, port)
            call = runtime.begin(request, Foreign())  # metrics only
            response, usage = content_result(answer)
            if usage is not None:
                usage.batch = True
            call.finish(response, usage, None if usage is not None else "batch response carried no usage")


# (class, per-request method, public fallback, operation, stream) of every method wrapped.
METHODS: tuple[tuple[str, str, str, str, bool], ...] = tuple(
    (owner, per_request, public, operation, stream)
    for owner in ("Models", "AsyncModels")
    for per_request, public, operation, stream in (
        ("_generate_content", "generate_content", OPERATION, False),
        ("_generate_content_stream", "generate_content_stream", OPERATION, True),
        ("_embed_content", "embed_content", OPERATION_EMBEDDINGS, False),
    )
)
MODULE = "google.genai.models"
BATCH_MODULE = "google.genai.batches"
BATCH_METHODS = ("Batches.get", "Batches.list", "AsyncBatches.get", "AsyncBatches.list")


def targets(runtime: Runtime, calls_only: bool, seen: SeenOnce | None = None) -> Iterator[Target]:
    """The adapter's entry point (``base.Adapter``): every method to patch for this runtime. (module, attribute
    paths in order of preference, wrapper): the first path the SDK has is wrapped."""
    for owner, per_request, public, operation, stream in METHODS:
        wrapper = method_wrapper(runtime, GeminiMethod(operation, stream, owner.startswith("Async")))
        yield MODULE, (f"{owner}.{per_request}", f"{owner}.{public}"), wrapper
    if calls_only:
        return
    watcher = BatchWatcher((seen or SeenOnce()).within("google.genai"))  # sync and async share what was seen
    for path in BATCH_METHODS:
        yield BATCH_MODULE, (path,), watch_wrapper(runtime, watcher, path.startswith("Async"))
