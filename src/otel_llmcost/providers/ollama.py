"""The Ollama SDK (``ollama``) adapter: ``chat``, ``generate``, ``embed`` (and the older ``embeddings``), sync
and async, plain and streaming, on any ``Client``/``AsyncClient`` and the module-level functions.

Usage: ``prompt_eval_count`` is the input, ``eval_count`` the output (thinking included: Ollama counts every
generated token); a streamed call reports them, with the server's durations, on its final (``done``) chunk.
A model served by the user's own Ollama costs $0 in API spend (``llmcost.price.source=local``, the same path
as a local OpenAI-compatible server); a configured hardware rate turns its ``total_duration`` or tokens into
an internal cost reported apart from API spend (see ``pricing/hardware.py``). Ollama's hosted service
(ollama.com) is not local: its models are priced like any other, through the price file.
Knows nothing about metrics: it fills ``Request``/``Response``/``Usage`` and hands them to the ``Call``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..calls import Call, Runtime
from ..fingerprints import describe
from ..records import Request, Response, Usage
from ..streams import AsyncStreamProxy, StreamProxy
from . import messages
from .base import SeenOnce, Started, Target, count, get, given, method_wrapper, number, whole
from .endpoints import Endpoint, endpoint_of, mapped
from .endpoints import client_endpoint as cached_endpoint

PROVIDER = "ollama"
_CLOUD_HOSTS = ("ollama.com",)


# --- usage normalization ----------------------------------------------------------------------------
def ollama_usage(raw: Any) -> Usage | None:
    """A chat/generate/embed response (or a stream's final chunk) as the normalized record; None when it
    reports no count (a chunk before the end, the deprecated ``embeddings``): unknown, never $0."""
    prompt = get(raw, "prompt_eval_count")
    generated = get(raw, "eval_count")
    if type(prompt) is not int and type(generated) is not int:
        return None
    return Usage(
        input_tokens=count(prompt),  # absent when the whole prompt came from the server's KV cache
        output_tokens=count(generated),
        server_duration_ns=count(get(raw, "total_duration")),
    )


def _response(raw: Any, capture: bool = False, operation: str = "chat", tool_calls: bool = False,
              message: Any = None) -> Response:
    """Response of a reply (or a stream's final chunk); ``message`` the whole streamed message when captured."""
    model = get(raw, "model")
    message = message if message is not None else get(raw, "message")
    finish = messages.ollama_finish_reason(get(raw, "done_reason"), tool_calls or bool(get(message, "tool_calls")))
    output = None
    if capture:
        if operation == "chat":
            parts = messages.ollama_messages([message])[0]["parts"] if message is not None else []
        else:
            parts = messages.text_parts(get(raw, "response"))
        output = [{"role": "assistant", "parts": parts, "finish_reason": finish or "error"}]
    return Response(
        model=model if isinstance(model, str) and model else None,
        finish_reasons=[finish] if finish else [],
        output_messages=output,
    )


def _text(raw: Any, operation: str) -> str | None:
    text = get(get(raw, "message"), "content") if operation == "chat" else get(raw, "response")
    return text if isinstance(text, str) else None


# --- stream accumulator -----------------------------------------------------------------------------
@dataclass(slots=True)
class OllamaStreamSummary:
    """Running summary of a stream: the final ``done`` chunk carries usage and durations."""

    operation: str
    capture: bool = False
    model: str | None = None
    final: Any = None
    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_calls: list[Any] = field(default_factory=list)

    def add(self, chunk: Any) -> bool:
        if self.model is None:
            model = get(chunk, "model")
            self.model = model if isinstance(model, str) and model else None
        if self.capture:
            text = _text(chunk, self.operation)
            if text:
                self.text.append(text)
            message = get(chunk, "message")
            thinking = get(message, "thinking")
            if isinstance(thinking, str) and thinking:
                self.thinking.append(thinking)
            self.tool_calls.extend(get(message, "tool_calls") or ())
        if get(chunk, "done") is True:
            self.final = chunk
        return True

    def result(self, complete: bool) -> tuple[Response | None, Usage | None, str | None]:
        message = {"role": "assistant", "content": "".join(self.text), "thinking": "".join(self.thinking),
                   "tool_calls": self.tool_calls}
        if self.final is None:  # cut short: what arrived, finished by error
            response = _response({"model": self.model}, self.capture, self.operation, bool(self.tool_calls), message)
            if self.capture and self.operation != "chat":
                response.output_messages = [{"role": "assistant", "parts": messages.text_parts("".join(self.text)),
                                             "finish_reason": "error"}]
            return response, None, "stream ended before the final chunk"
        usage = ollama_usage(self.final)
        response = _response(self.final, False, self.operation, bool(self.tool_calls))
        if self.capture:
            parts = (messages.ollama_messages([message])[0]["parts"] if self.operation == "chat"
                     else messages.text_parts("".join(self.text)))
            finish = response.finish_reasons[0] if response.finish_reasons else "error"
            response.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": finish}]
        return response, usage, None if usage is not None else "final chunk carried no usage"


# --- which server a client talks to -----------------------------------------------------------------
def client_endpoint(runtime: Runtime, client: Any) -> Endpoint:
    """The user's own Ollama server is local ($0 API spend) wherever it runs, since this SDK speaks only
    Ollama's API; ollama.com, or a host the user maps, is not."""
    base_url = get(get(client, "_client"), "base_url")
    return cached_endpoint(client, base_url, runtime.settings.provider_hosts, _resolve)


def _resolve(client: Any, base_url: str, hosts: Mapping[str, str]) -> Endpoint:
    found = endpoint_of(base_url, PROVIDER)
    address, port = found.address, found.port
    provider = mapped(hosts, address, port)
    if provider:
        return Endpoint(provider, address, port, False)
    cloud = address is not None and any(address == h or address.endswith("." + h) for h in _CLOUD_HOSTS)
    return Endpoint(PROVIDER, address, port, not cloud)


# --- the method handler -----------------------------------------------------------------------------
# method name -> (gen_ai.operation.name, its content argument: the second, after the model)
_METHODS = {
    "chat": ("chat", "messages"),
    "generate": ("text_completion", "prompt"),
    "embed": ("embeddings", "input"),
    "embeddings": ("embeddings", "prompt"),
}


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, position: int) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None


@dataclass(frozen=True)
class OllamaMethod:
    """One wrapped Ollama method (``Client.chat``, ``AsyncClient.generate``, ``ollama.embed``, ...)."""

    method: str
    is_async: bool

    def started(
        self, runtime: Runtime, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Started:
        """``base.Method``: the call this request begins, on the client it goes to (kwargs sent unchanged)."""
        call = self.begin(runtime, _bound_client(wrapped, instance), args, kwargs)
        return call, call, kwargs

    def begin(self, runtime: Runtime, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        operation, content_arg = _METHODS[self.method]
        provider, address, port, local = client_endpoint(runtime, client)
        model = _argument(args, kwargs, "model", 0)
        options = kwargs.get("options")
        request = Request(
            provider=provider,
            operation=operation,
            model=model if isinstance(model, str) and model else None,
            server_address=address,
            server_port=port,
            stream=kwargs.get("stream") is True,
            local=local,
            max_tokens=whole(get(options, "num_predict")),
            temperature=number(get(options, "temperature")),
            top_p=number(get(options, "top_p")),
        )
        content = _argument(args, kwargs, content_arg, 1)
        head = (kwargs.get("tools"), kwargs.get("system"))
        describe(runtime.settings, request, head, content, {**kwargs, "model": model})
        if runtime.settings.capture_content:
            content = _argument(args, kwargs, content_arg, 1)
            if operation == "chat":
                if given(content):  # converted only when a span or event is written (never for an unsampled call)
                    request.input_messages = functools.partial(messages.ollama_messages, content)
            elif given(content) and operation != "embeddings":
                request.input_messages = [{"role": "user", "parts": messages.text_parts(content)}]
            system = kwargs.get("system")
            request.system_instructions = messages.text_parts(system) if given(system) else None
            tools = kwargs.get("tools")
            request.tool_definitions = messages.plain_tools(tools) if given(tools) and tools else None
        return runtime.begin(request)

    def result(self, call: Call, result: Any) -> Any:
        operation = call.request.operation
        capture = call.captures and operation != "embeddings"
        if hasattr(result, "__next__") or hasattr(result, "__anext__"):
            summary = OllamaStreamSummary(operation, capture)
            return (AsyncStreamProxy if self.is_async else StreamProxy)(result, call, summary)
        usage = ollama_usage(result)
        response = _response(result, capture, operation)
        call.finish(response, usage, None if usage is not None else "response carried no usage")
        return result



def _bound_client(wrapped: Any, instance: Any) -> Any:
    """The client a call goes to: the instance, or for a module-level function (``ollama.chat``, a bound
    method of the SDK's default client) the object it is bound to."""
    return instance if instance is not None else getattr(wrapped, "__self__", None)


MODULE = "ollama._client"
PACKAGE = "ollama"


def targets(runtime: Runtime, calls_only: bool, seen: SeenOnce | None = None) -> Iterator[Target]:
    """The adapter's entry point (``base.Adapter``): every method to patch (each one sends a request): the
    client classes' methods, and the package's module-level functions, which are bound to its default client
    at import (so a patch of the class does not reach them)."""
    for method in _METHODS:
        for owner, is_async in (("Client", False), ("AsyncClient", True)):
            yield MODULE, (f"{owner}.{method}",), method_wrapper(runtime, OllamaMethod(method, is_async))
        yield PACKAGE, (method,), method_wrapper(runtime, OllamaMethod(method, False))
