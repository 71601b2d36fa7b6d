"""Which OpenAI methods are wrapped, and what each call asks and returns: chat.completions, responses and
embeddings, create / parse / compact, plain and beta, sync and async (``OpenAIMethod``); raw responses
(``with_raw_response`` / ``with_streaming_response``) and streams; ``targets``, the adapter's entry point.

Works with openai 1.x/2.x (httpx) and 3.x (httpx2) without importing either. Knows nothing about metrics or
spans: it fills ``Request``/``Response``/``Usage`` and hands them to the ``Call``; what a result's usage means is
``chat``'s and ``responses``'.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ... import names
from ...calls import Call, Runtime
from ...fingerprints import describe
from ...records import Request
from ...streams import AsyncStreamProxy, StreamProxy
from .. import messages, stainless
from ..base import SeenOnce, Started, Target, get, given, method_wrapper, number, whole
from .batches import BATCH_METHODS, BatchWatcher, batch_wrapper
from .chat import ChatStreamSummary, chat_result, embeddings_result, gemini_compatible_usage
from .endpoints import resource_endpoint
from .responses import ResponsesStreamSummary, responses_result

SDK = "openai"
_OPENAI_HOST = "api.openai.com"

_RESULTS = {"chat": chat_result, "responses": responses_result, "embeddings": embeddings_result}


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
        provider, address, port, local = resource_endpoint(runtime, instance)
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
