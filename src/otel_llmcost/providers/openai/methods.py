"""The OpenAI SDK adapter: which methods to wrap, what a request asks, and what its usage means.

OpenAI's ``prompt_tokens`` / ``input_tokens`` already INCLUDE cached tokens, and the output count
includes reasoning: the normalized record takes them as they are, never adding cache twice.
Works with openai 1.x/2.x (httpx) and 3.x (httpx2) without importing either. Knows nothing about
metrics or spans: it fills ``Request``/``Response``/``Usage`` and hands them to the ``Call``.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ... import names
from ...calls import Call, Runtime
from ...fingerprints import describe
from ...guard import internal_error
from ...records import Request, Response, Usage
from ...streams import AsyncStreamProxy, StreamProxy
from .. import messages, stainless
from ..base import (
    SeenOnce,
    Started,
    Target,
    Wrapper,
    count,
    counted,
    get,
    given,
    method_wrapper,
    number,
    watch_wrapper,
    watched,
    whole,
)
from ..endpoints import Endpoint, client_endpoint, endpoint_of

SDK = "openai"
_OPENAI_HOST = "api.openai.com"


# --- usage normalization: one function per API shape ----------------------------------------------
def _reported(raw: Any, *keys: str) -> bool:
    """True when the usage block has a real count: a block of odd values is unknown usage, never $0."""
    return any(counted(get(raw, key)) for key in keys)


def _cache_reported(details: Any) -> int:
    """Bit 1: cached_tokens reported (0 included); bit 2: cache_write_tokens reported."""
    return (type(get(details, "cached_tokens")) is int) | (type(get(details, "cache_write_tokens")) is int) << 1


def chat_usage(raw: Any, service_tier: Any = None) -> Usage | None:
    """Chat Completions (and embeddings) usage: prompt_tokens includes cached_tokens."""
    if raw is None or not _reported(raw, "prompt_tokens", "completion_tokens"):
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
        cache_reported=_cache_reported(prompt_details),
    )
    units = _units(
        ("input_audio_tokens", get(prompt_details, "audio_tokens")),
        ("input_image_tokens", get(prompt_details, "image_tokens")),
        ("output_audio_tokens", get(completion_details, "audio_tokens")),
        ("output_image_tokens", get(completion_details, "image_tokens")),
    )
    if units:
        usage.units = units
    return usage


def _units(*pairs: tuple[str, Any]) -> dict[str, int]:
    """The reported (positive) counts of genai-prices usage keys."""
    return {key: value for key, value in pairs if type(value) is int and value > 0}


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


def responses_usage(raw: Any, service_tier: Any = None, batch: bool = False) -> Usage | None:
    """Responses API (and Batch) usage: input_tokens includes cached_tokens."""
    if raw is None or not _reported(raw, "input_tokens", "output_tokens"):
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
        cache_reported=_cache_reported(input_details),
    )
    ttl = get(input_details, "cache_write_tokens_details")
    # 30-minute and 12-hour cache writes: parts of cache_write_tokens, named as genai-prices names TTL units
    # (cache_write_5m_tokens). Until its registry has them they bill at the cache-write price; the day it
    # prices them, they bill at theirs with no change here.
    units = _units(
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
    units = _units(
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


_USD_PER_TICK = Decimal(1) / Decimal(10**10)  # xAI: 1 USD = 10^10 ticks (docs.x.ai, Cost Tracking)


def reported_cost(raw: Any, response: Response) -> Response:
    """The cost the provider puts in its usage block, onto ``response``: xAI ``cost_in_usd_ticks`` (an integer of
    1e-10 USD), OpenRouter ``cost`` (USD). Odd values (negative, non-numbers) are ignored, never a cost."""
    if raw is None:
        return response
    ticks = get(raw, "cost_in_usd_ticks")
    if type(ticks) is int and ticks >= 0:
        response.provider_cost = ticks * _USD_PER_TICK
        response.provider_cost_source = "usage.cost_in_usd_ticks"
        return response
    cost = get(raw, "cost")
    if type(cost) in (int, float) and cost >= 0 and cost != float("inf"):
        response.provider_cost = Decimal(str(cost))
        response.provider_cost_source = "usage.cost"
    return response


def _finish_reasons(choices: Any) -> list[str]:
    reasons: list[str] = []
    for choice in choices if isinstance(choices, list) else ():
        reason = get(choice, "finish_reason")
        if isinstance(reason, str):
            reasons.append(reason)
    return reasons


def _response_of(obj: Any, finish_reasons: list[str], output: Any = None) -> Response:
    model = get(obj, "model")
    response_id = get(obj, "id")
    fingerprint = get(obj, "system_fingerprint")
    return Response(
        model=model if isinstance(model, str) else None,
        response_id=response_id if isinstance(response_id, str) else None,
        finish_reasons=finish_reasons,
        output_messages=output,
        attributes={names.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: fingerprint} if isinstance(fingerprint, str) else {},
    )


def chat_result(obj: Any, capture: bool = False) -> tuple[Response, Usage | None]:
    choices = get(obj, "choices")
    output = messages.openai_chat_output(choices) if capture else None
    raw = get(obj, "usage")
    response = reported_cost(raw, _response_of(obj, _finish_reasons(choices), output))
    return response, chat_usage(raw, get(obj, "service_tier"))


def responses_result(obj: Any, capture: bool = False) -> tuple[Response, Usage | None]:
    reasons = messages.responses_finish_reason(obj)
    output = messages.openai_responses_output(obj, reasons) if capture else None
    raw = get(obj, "usage")
    usage = responses_usage(raw, get(obj, "service_tier"))
    if usage is not None:
        _tool_usage(obj, usage)
    return reported_cost(raw, _response_of(obj, reasons, output)), usage


def embeddings_result(obj: Any, capture: bool = False) -> tuple[Response, Usage | None]:
    return _response_of(obj, []), chat_usage(get(obj, "usage"))


_RESULTS = {"chat": chat_result, "responses": responses_result, "embeddings": embeddings_result}


# --- stream accumulators --------------------------------------------------------------------------
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


# --- the method handlers --------------------------------------------------------------------------
def _endpoint(runtime: Runtime, instance: Any) -> Endpoint:
    client = getattr(instance, "_client", None)
    return client_endpoint(client, getattr(client, "base_url", None), runtime.settings.provider_hosts, _resolve)


def _resolve(client: Any, base_url: str, hosts: Mapping[str, str]) -> Endpoint:
    """Azure clients are Azure wherever they point; any other client is named by its host."""
    if "Azure" in type(client).__name__:
        found = endpoint_of(base_url, "azure.ai.openai", tuple(hosts.items()))
        return Endpoint("azure.ai.openai", found.address, found.port, False)
    return endpoint_of(base_url, "openai", tuple(hosts.items()))


def _raw_body_requested(kwargs: dict[str, Any]) -> bool:
    """True for calls made through with_raw_response / with_streaming_response (the SDK marks them by header)."""
    headers = kwargs.get("extra_headers")
    return isinstance(headers, dict) and "X-Stainless-Raw-Response" in headers


@dataclass(frozen=True)
class OpenAIMethod:
    """One wrapped OpenAI method: chat / responses / embeddings, plain or parse."""

    operation: str
    """gen_ai.operation.name."""
    api: str
    """Which result shape: chat, responses, embeddings."""
    is_async: bool

    def started(
        self, runtime: Runtime, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Started:
        """``base.Method``: the call this request begins, and the kwargs to send."""
        call, kwargs = self.begin(runtime, instance, kwargs)
        return call, call, kwargs

    def begin(self, runtime: Runtime, instance: Any, kwargs: dict[str, Any]) -> tuple[Call, dict[str, Any]]:
        provider, address, port, local = _endpoint(runtime, instance)
        settings = runtime.settings
        model = kwargs.get("model")
        stream = kwargs.get("stream") is True
        limits = (whole(kwargs.get(k)) for k in ("max_completion_tokens", "max_tokens", "max_output_tokens"))
        max_tokens = next((limit for limit in limits if limit is not None), None)
        tier = kwargs.get("service_tier")
        extra_body = kwargs.get("extra_body")
        if not isinstance(tier, str) and isinstance(extra_body, dict):  # service_tier given through extra_body
            tier = extra_body.get("service_tier")
        request = Request(
            provider=provider,
            operation=self.operation,
            model=model if isinstance(model, str) else None,
            server_address=address,
            server_port=port,
            stream=stream,
            local=local,
            max_tokens=max_tokens,
            temperature=number(kwargs.get("temperature")),
            top_p=number(kwargs.get("top_p")),
            service_tier=tier if isinstance(tier, str) else None,
            prompt=self._prompt(kwargs),
            attributes=self._recommended(kwargs),
        )
        describe(settings, request, *self._parts(kwargs), kwargs)
        if self.api == "responses":  # the conversation the call names (gen_ai.conversation.id), issue 18
            conversation = kwargs.get("conversation")
            conversation = conversation.get("id") if isinstance(conversation, dict) else conversation
            request.conversation_id = conversation if isinstance(conversation, str) and conversation else None
            previous = kwargs.get("previous_response_id")
            request.previous_response_id = previous if isinstance(previous, str) and previous else None
        if settings.capture_content:
            if self.api == "chat":  # converted when written: an unsampled call builds none of it
                request.input_messages = functools.partial(messages.openai_chat_input, kwargs.get("messages"))
            elif self.api == "responses":
                request.input_messages = functools.partial(messages.openai_responses_input, kwargs.get("input"))
                instructions = kwargs.get("instructions")
                request.system_instructions = messages.text_parts(instructions) if given(instructions) else None
            tools = kwargs.get("tools")
            request.tool_definitions = tools if given(tools) and tools else None
        call = runtime.begin(request)
        # Only OpenAI's own API is known to accept stream_options: compatible servers and gateways (which
        # an unknown host defaults to "openai" for pricing) may answer it with HTTP 400.
        # Nor into with_raw_response / with_streaming_response calls: their caller may read the raw body,
        # where an injected usage chunk could not be hidden.
        if (
            stream
            and self.api == "chat"
            and settings.inject_stream_usage
            and address is not None
            and address.endswith(_OPENAI_HOST)  # api.openai.com and its data-residency hosts
            and not _raw_body_requested(kwargs)
        ):
            options = kwargs.get("stream_options")
            options = dict(options) if given(options) and isinstance(options, dict) else {}
            if "include_usage" not in options:
                options["include_usage"] = True
                kwargs = {**kwargs, "stream_options": options}
                call.usage_injected = True
        return call, kwargs

    def _recommended(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The conventions' recommended request attributes the call gives (seed, stop, n, output type...)."""
        found: dict[str, Any] = {}
        if self.api == "embeddings":
            encoding = kwargs.get("encoding_format")
            if isinstance(encoding, str):
                found[names.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
            dimensions = whole(kwargs.get("dimensions"))
            if dimensions is not None:
                found[names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
            return found
        seed = whole(kwargs.get("seed"))
        if seed is not None:
            found[names.GEN_AI_REQUEST_SEED] = seed
        stop = kwargs.get("stop")
        if isinstance(stop, str):
            found[names.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop]
        elif isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
            found[names.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
        choices = whole(kwargs.get("n"))
        if choices is not None and choices != 1:
            found[names.GEN_AI_REQUEST_CHOICE_COUNT] = choices
        for key, name in (("frequency_penalty", names.GEN_AI_REQUEST_FREQUENCY_PENALTY),
                          ("presence_penalty", names.GEN_AI_REQUEST_PRESENCE_PENALTY)):
            value = number(kwargs.get(key))
            if value is not None:
                found[name] = value
        output_format = kwargs.get("response_format") if self.api == "chat" else get(kwargs.get("text"), "format")
        kind = output_format if isinstance(output_format, str) else get(output_format, "type")
        if not isinstance(kind, str) and isinstance(output_format, type):  # parse(response_format=Model)
            kind = "json_schema"
        if isinstance(kind, str):
            found[names.GEN_AI_OUTPUT_TYPE] = "json" if kind.startswith("json") else kind
        return found

    def _prompt(self, kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The arguments billed as input (references, for a block budget's estimate)."""
        if self.api == "chat":
            return kwargs.get("messages"), kwargs.get("tools")
        if self.api == "responses":
            return kwargs.get("input"), kwargs.get("instructions"), kwargs.get("tools")
        return (kwargs.get("input"),)

    def _parts(self, kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], Any]:
        """The fingerprinted parts: (head: tools, instructions), messages (or the input)."""
        if self.api == "chat":
            return (kwargs.get("tools"),), kwargs.get("messages")
        if self.api == "responses":
            return (kwargs.get("tools"), kwargs.get("instructions")), kwargs.get("input")
        return (), kwargs.get("input")

    def _summary(self, call: Call, kwargs_usage: bool) -> Any:
        if self.api == "responses":
            return ResponsesStreamSummary(capture=call.captures)
        return ChatStreamSummary(
            hide_usage_chunk=call.usage_injected,
            asked_for_usage=kwargs_usage or call.usage_injected,
            capture=call.captures,
            provider=call.request.provider,
        )

    def result(self, call: Call, result: Any) -> Any:
        if isinstance(result, stainless.response_classes(SDK)):
            return stainless.defer(call, result, lambda parsed: self.result(call, parsed))
        if hasattr(result, "__next__") or hasattr(result, "__anext__") or self._is_stream(result):
            summary = self._summary(call, call.request.stream and self._asked_usage(result))
            proxy = AsyncStreamProxy if self.is_async else StreamProxy
            return proxy(result, call, summary)
        response, usage = _RESULTS[self.api](result, call.captures)
        if call.request.provider.startswith("gcp.") and self.api == "chat":
            usage = gemini_compatible_usage(usage, get(result, "usage"))
        call.finish(response, usage, None if usage is not None else "response carried no usage")
        return result

    @staticmethod
    def _is_stream(result: Any) -> bool:
        return type(result).__name__ in ("Stream", "AsyncStream")

    @staticmethod
    def _asked_usage(result: Any) -> bool:
        options = getattr(getattr(result, "_options", None), "json_data", None)
        if options is None:
            options = _sent_json(result)
        stream_options = get(options, "stream_options")
        return bool(get(stream_options, "include_usage"))


def _sent_json(stream: Any) -> Any:
    """The JSON body a stream's request sent, when it mentions include_usage (older SDKs keep no options)."""
    try:
        content = stream.response.request.content
        return json.loads(content) if b'"include_usage"' in content else None
    except Exception:
        return None


@dataclass
class BatchWatcher:
    """batches.retrieve / list: the first time a completed batch shows its usage, price it once.

    Retrieving a batch costs nothing by itself: no span unless it reveals usage."""

    seen: SeenOnce = field(default_factory=SeenOnce)
    """Batch ids already priced: the instrumentation's one record (``targets``' ``seen``)."""

    def record(self, runtime: Runtime, instance: Any, batch: Any) -> None:
        batch_id = get(batch, "id")
        usage_raw = get(batch, "usage")
        model = get(batch, "model")
        if get(batch, "status") != "completed" or usage_raw is None or not isinstance(model, str):
            return
        if not isinstance(batch_id, str) or not self.seen.first_time(batch_id):
            return
        provider, address, port, local = _endpoint(runtime, instance)
        endpoint = get(batch, "endpoint") or ""
        operation = "embeddings" if "embeddings" in str(endpoint) else "chat"
        request = Request(provider, operation, model, address, port, local=local)
        call = runtime.begin(request)
        call.annotate({names.LLMCOST_BATCH_ID: batch_id})
        call.finish(Response(model=model, response_id=batch_id), responses_usage(usage_raw, batch=True))

    def batches_in(self, result: Any) -> list[Any]:
        data = get(result, "data")
        return list(data) if isinstance(data, list) else [result]


def batch_wrapper(runtime: Runtime, watcher: BatchWatcher, is_async: bool) -> Wrapper:
    """Wraps batches.retrieve/list: the SDK call runs untouched, then we look at what came back.

    ``AsyncBatches.list`` is no coroutine function: it returns an ``AsyncPaginator`` the caller awaits (the
    first page) or iterates (every batch). That same paginator reaches the caller; its first page is looked
    at when the SDK fetches it (later pages are not, as with the sync ``list``).
    """
    if not is_async:
        return watch_wrapper(runtime, watcher, False)
    awaited = watch_wrapper(runtime, watcher, True)

    def watch_first_page(instance: Any, paginator: Any) -> None:
        fetch = getattr(paginator, "_get_page", None)  # the coroutine __await__ and __aiter__ both go through
        if fetch is None:
            return

        async def get_page() -> Any:
            page = await fetch()
            watched(runtime, watcher, instance, page)
            return page

        paginator._get_page = get_page

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(wrapped):  # retrieve: awaited, then looked at
            return awaited(wrapped, instance, args, kwargs)
        result = wrapped(*args, **kwargs)
        try:
            watch_first_page(instance, result)
        except Exception:
            internal_error("batch")
        return result

    return wrapper


# (module, attribute path, operation, api) of every method wrapped; missing ones are skipped.
METHODS: tuple[tuple[str, str, str, str], ...] = (
    ("openai.resources.chat.completions", "Completions.create", "chat", "chat"),
    ("openai.resources.chat.completions", "AsyncCompletions.create", "chat", "chat"),
    ("openai.resources.chat.completions", "Completions.parse", "chat", "chat"),
    ("openai.resources.chat.completions", "AsyncCompletions.parse", "chat", "chat"),
    ("openai.resources.beta.chat.completions", "Completions.parse", "chat", "chat"),
    ("openai.resources.beta.chat.completions", "AsyncCompletions.parse", "chat", "chat"),
    ("openai.resources.responses", "Responses.create", "chat", "responses"),
    ("openai.resources.responses", "AsyncResponses.create", "chat", "responses"),
    ("openai.resources.responses", "Responses.parse", "chat", "responses"),
    ("openai.resources.responses", "AsyncResponses.parse", "chat", "responses"),
    ("openai.resources.responses", "Responses.compact", "chat", "responses"),  # billed: its own usage
    ("openai.resources.responses", "AsyncResponses.compact", "chat", "responses"),
    ("openai.resources.beta.responses.responses", "Responses.create", "chat", "responses"),
    ("openai.resources.beta.responses.responses", "AsyncResponses.create", "chat", "responses"),
    ("openai.resources.beta.responses.responses", "Responses.compact", "chat", "responses"),
    ("openai.resources.beta.responses.responses", "AsyncResponses.compact", "chat", "responses"),
    ("openai.resources.embeddings", "Embeddings.create", "embeddings", "embeddings"),
    ("openai.resources.embeddings", "AsyncEmbeddings.create", "embeddings", "embeddings"),
)
BATCH_METHODS: tuple[tuple[str, str], ...] = (
    ("openai.resources.batches", "Batches.retrieve"),
    ("openai.resources.batches", "Batches.list"),
    ("openai.resources.batches", "AsyncBatches.retrieve"),
    ("openai.resources.batches", "AsyncBatches.list"),
)


def targets(runtime: Runtime, calls_only: bool, seen: SeenOnce | None = None) -> Iterator[Target]:
    """The adapter's entry point (``base.Adapter``): every method to patch for this runtime."""
    for module, path, operation, api in METHODS:
        yield module, (path,), method_wrapper(runtime, OpenAIMethod(operation, api, path.startswith("Async")))
    if calls_only:
        return
    watcher = BatchWatcher((seen or SeenOnce()).within(SDK))  # sync and async share what was seen
    for module, path in BATCH_METHODS:
        yield module, (path,), batch_wrapper(runtime, watcher, path.startswith("Async"))
    yield from stainless.parse_targets(SDK)
