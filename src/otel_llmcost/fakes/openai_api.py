"""A fake of the OpenAI HTTP API: its bodies, its deterministic routes, and a scripted fake for the tests.

One set of body builders (``chat_completion``, ``chat_chunks``, ``response_object``, ``response_events``,
``embeddings``, ``batch``, ``error``), with the field names of the SDK's own types (``ChatCompletion``,
``ChatCompletionChunk``, ``Response``, ``CreateEmbeddingResponse``, ``Batch``), serves two callers:

* :func:`route`, the deterministic fake the demo and the loopback server use: usage derived from the request,
  or forced by the ``x-mock-*`` headers (see :func:`otel_llmcost.fakes.routing.handle`);
* :class:`FakeOpenAI`, the scripted fake of the tests: a MockTransport handler whose attributes choose exact
  usage, failures and broken streams, and which records what the SDK sent.

No SDK is imported until a client is asked for.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .transport import for_sdk, frame_stream
from .wire import (
    CREATED,
    JSON,
    REASONING_TOKENS,
    WORDS,
    BadRequestError,
    Controls,
    Reply,
    Request,
    int_or,
    json_reply,
    prompt_tokens,
    reply_pieces,
    retry_now,
    split_ceil,
    sse,
    sse_reply,
    structured_text,
    word_count,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import openai

URL = "https://api.openai.com/v1"
FINGERPRINT = "fp_mock0000"
STRUCTURED = json.dumps({"city": "Paris", "population": 2100000})
"""The scripted fake's reply to a structured-output (json_schema) request."""
USAGE_KEYS = frozenset(
    {"prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens"}
)
"""The x-mock-usage keys of an OpenAI request."""
_MAX_DIMENSIONS = 4096
_DEFAULT_BATCH_MODEL = "gpt-4o-mini"
_MODELS = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")

# status -> (error type, error code, message), shaped like the real OpenAI errors.
ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (mock)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (mock)."),
    403: ("permission_error", None, "You are not allowed to access this resource (mock)."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist (mock)."),
    409: ("invalid_request_error", "conflict", "Conflicting request (mock)."),
    422: ("invalid_request_error", None, "Unprocessable request (mock)."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (mock)."),
    500: ("server_error", None, "The server had an error while processing your request (mock)."),
    503: ("server_error", None, "The engine is currently overloaded (mock)."),
}


# --------------------------------------------------------------------------- usage


@dataclass(frozen=True)
class Tokens:
    """Usage as OpenAI reports it: ``prompt`` INCLUDES ``cached`` and ``cache_write``; ``completion`` INCLUDES
    ``reasoning``."""

    prompt: int = 100
    completion: int = 20
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0

    def chat(self) -> JSON:
        """``CompletionUsage`` (Chat Completions)."""
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "prompt_tokens_details": {
                "cached_tokens": self.cached,
                "cache_write_tokens": self.cache_write,
                "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def responses(self) -> JSON:
        """``ResponseUsage`` (Responses API)."""
        return {
            "input_tokens": self.prompt,
            "input_tokens_details": {"cached_tokens": self.cached, "cache_write_tokens": self.cache_write},
            "output_tokens": self.completion,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.prompt + self.completion,
        }

    def batch(self) -> JSON:
        """A Batch's ``BatchUsage`` (no cache-write count)."""
        usage = self.responses()
        del usage["input_tokens_details"]["cache_write_tokens"]
        return usage

    @classmethod
    def forced(cls, controls: Controls, *, prompt: int, completion: int, reasoning: int = 0) -> Tokens:
        """The x-mock-usage numbers are exact; the rest stay derived, details capped so the totals stay consistent."""
        forced = controls.forced_usage(USAGE_KEYS)
        completion = forced.get("completion_tokens", completion)
        return cls(
            prompt=forced.get("prompt_tokens", prompt),
            completion=completion,
            cached=forced.get("cached_tokens", 0),
            cache_write=forced.get("cache_write_tokens", 0),
            reasoning=forced.get("reasoning_tokens", min(reasoning, completion)),
        )


# --------------------------------------------------------------------------- bodies


def chat_completion(
    model: str = "gpt-4o",
    tokens: Tokens | None = None,
    *,
    content: str = "".join(WORDS),
    finish_reason: str = "stop",
    service_tier: str | None = "default",
    response_id: str = "chatcmpl-test123",
    usage: Any = None,
    choices: int = 1,
) -> JSON:
    """A ``ChatCompletion``; ``usage`` (raw JSON) replaces the one built from ``tokens``."""
    message: JSON = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    body: JSON = {
        "id": response_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [
            {"index": i, "message": dict(message), "logprobs": None, "finish_reason": finish_reason}
            for i in range(choices)
        ],
        "usage": usage if usage is not None else (tokens or Tokens()).chat(),
    }
    if service_tier is not None:
        body["service_tier"] = service_tier
    return body


def chat_chunks(
    model: str = "gpt-4o",
    tokens: Tokens | None = None,
    *,
    include_usage: bool,
    pieces: tuple[str, ...] | list[str] = WORDS,
    service_tier: str = "default",
    response_id: str = "chatcmpl-stream123",
    finish_reason: str = "stop",
    choices: int = 1,
) -> list[JSON]:
    """The ``ChatCompletionChunk`` s of a streamed chat completion; with include_usage, ``usage: null`` on each and a
    final usage chunk with no choices (as the real API sends them)."""
    common: JSON = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "service_tier": service_tier,
    }

    def chunk(choice: list[JSON], usage: JSON | None = None) -> JSON:
        data = {**common, "choices": choice}
        if include_usage:
            data["usage"] = usage
        return data

    chunks: list[JSON] = []
    for index in range(choices):
        first = {"role": "assistant", "content": "", "refusal": None}
        chunks.append(chunk([{"index": index, "delta": first, "logprobs": None, "finish_reason": None}]))
        for i, piece in enumerate(pieces):
            finish = finish_reason if i == len(pieces) - 1 else None
            delta = {"content": piece}
            chunks.append(chunk([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]))
    if include_usage:
        chunks.append(chunk([], (tokens or Tokens()).chat()))
    return chunks


def message_item(text: str, status: str = "completed", item_id: str = "msg_test1") -> JSON:
    """A ``ResponseOutputMessage``: no content part while in progress with no text yet."""
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        if text or status == "completed"
        else []
    )
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def response_object(
    model: str = "gpt-4o",
    tokens: Tokens | None = None,
    *,
    text: str = "".join(WORDS),
    status: str = "completed",
    service_tier: str = "default",
    response_id: str = "resp_test123",
    item_id: str = "msg_test1",
    with_output: bool = True,
    with_usage: bool = True,
    request: Mapping[str, Any] | None = None,
) -> JSON:
    """A Responses API ``Response``; ``request`` (the request body) is echoed where the real API echoes it."""
    asked = request or {}
    output = [message_item(text, item_id=item_id)] if with_output else []
    reasoning = asked.get("reasoning")
    fmt = asked.get("text", {}).get("format") if isinstance(asked.get("text"), dict) else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "completed_at": CREATED + 1 if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": asked.get("instructions"),
        "max_output_tokens": asked.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": asked.get("parallel_tool_calls", True),
        "previous_response_id": asked.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort") if isinstance(reasoning, dict) else None, "summary": None},
        "service_tier": service_tier,
        "temperature": asked.get("temperature", 1.0),
        "text": {"format": fmt if isinstance(fmt, dict) else {"type": "text"}, "verbosity": "medium"},
        "tool_choice": asked.get("tool_choice", "auto"),
        "tools": asked.get("tools", []),
        "top_logprobs": 0,
        "top_p": asked.get("top_p", 1.0),
        "truncation": asked.get("truncation", "disabled"),
        "usage": (tokens or Tokens()).responses() if with_usage else None,
        "user": None,
        "metadata": asked.get("metadata") or {},
    }


def response_events(
    model: str = "gpt-4o",
    tokens: Tokens | None = None,
    *,
    pieces: tuple[str, ...] | list[str] = WORDS,
    service_tier: str = "default",
    response_id: str = "resp_test123",
    item_id: str = "msg_test1",
    with_usage: bool = True,
    request: Mapping[str, Any] | None = None,
) -> list[JSON]:
    """The events of a streamed Responses API call, numbered, ending in ``response.completed`` (with usage)."""
    text = "".join(pieces)
    snapshot = functools.partial(
        response_object,
        model,
        tokens,
        response_id=response_id,
        item_id=item_id,
        request=request,
        service_tier=service_tier,
    )
    start = snapshot(status="in_progress", with_output=False, with_usage=False)
    done = snapshot(text=text, with_usage=with_usage)
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    events: list[JSON] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
        {"type": "response.output_item.added", "output_index": 0, "item": message_item("", "in_progress", item_id)},
        {"type": "response.content_part.added", **where, "part": part},
    ]
    events += [{"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in pieces]
    events += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": message_item(text, item_id=item_id)},
        {"type": "response.completed", "response": done},
    ]
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]


def embeddings(
    model: str = "text-embedding-3-small",
    prompt_tokens: int = 8,
    inputs: int = 1,
    *,
    vectors: list[Any] | None = None,
) -> JSON:
    """A ``CreateEmbeddingResponse``: one ``Embedding`` per input (``vectors``, else a fixed 3-vector each)."""
    vectors = vectors if vectors is not None else [[0.1, -0.2, 0.3] for _ in range(inputs)]
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def batch(
    batch_id: str,
    model: str = "gpt-4o",
    tokens: Tokens | None = None,
    *,
    status: str = "completed",
    endpoint: str = "/v1/chat/completions",
    input_file_id: str = "file-in",
    completion_window: str = "24h",
    requests: int = 2,
    metadata: JSON | None = None,
) -> JSON:
    """A ``Batch``: usage (a ``BatchUsage``) once completed, none before."""
    done = status == "completed"
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": endpoint,
        "errors": None,
        "input_file_id": input_file_id,
        "completion_window": completion_window,
        "status": status,
        "output_file_id": "file-out" if done else None,
        "error_file_id": None,
        "created_at": CREATED,
        "in_progress_at": None if status == "validating" else CREATED + 1,
        "expires_at": CREATED + 86_400,
        "finalizing_at": CREATED + 299 if done else None,
        "completed_at": CREATED + 300 if done else None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": requests, "completed": requests if done else 0, "failed": 0},
        "metadata": metadata or {},
        "model": model,
        "usage": (tokens or Tokens()).batch() if done else None,
    }


def error(status: int, message: str | None = None) -> JSON:
    """The error body of an HTTP status (type and code as the real API words them); ``message`` replaces its text
    and drops the canned code (a diagnosis of our own)."""
    fallback = "server_error" if status >= 500 else "invalid_request_error"
    kind, code, text = ERRORS.get(status, (fallback, None, f"Mock error (HTTP {status})."))
    if message is not None:
        text, code = message, None
    return {"error": {"message": text, "type": kind, "param": None, "code": code}}


def sse_frames(events: list[Any], *, done: bool = True, event_names: bool = False) -> list[bytes]:
    """SSE frames, one per event (``event:`` lines for the Responses API), then ``[DONE]`` (Chat Completions)."""
    frames = [sse(e, str(e["type"]) if event_names and isinstance(e, dict) else None) for e in events]
    if done:
        frames.append(sse("[DONE]"))
    return frames


# --------------------------------------------------------------------------- deterministic routes


def headers(req: Request) -> dict[str, str]:
    """The response headers the SDK reads (x-request-id seeded by the request)."""
    return {
        "content-type": "application/json",
        "x-request-id": f"req_mock{req.digest[:24]}",
        "openai-processing-ms": "1",
        "openai-version": "2020-10-01",
    }


def error_reply(req: Request, status: int, message: str | None = None) -> Reply:
    """The real error body shape, so the SDK raises its proper exception class."""
    reply = json_reply(error(status, message), headers(req), status=status)
    retry_now(reply.headers, status)
    return reply


def _tier(controls: Controls, requested: object) -> str:
    """Echo the tier that 'served' the call: auto means default, fast is billed as priority."""
    if controls.service_tier:
        return controls.service_tier
    if requested in (None, "auto", "default") or not isinstance(requested, str):
        return "default"
    return "priority" if requested == "fast" else requested


def _chat(req: Request, controls: Controls) -> Reply:
    body = req.json_object()
    model = controls.model_of(body)
    n = max(1, min(int_or(body.get("n"), 1), 8))
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    pieces, cut = reply_pieces(controls, structured_text(body.get("response_format"), controls), limit)
    text = "".join(pieces)
    reasoning = REASONING_TOKENS if body.get("reasoning_effort") not in (None, "none") else 0
    tokens = Tokens.forced(
        controls,
        prompt=prompt_tokens(body.get("messages")),
        completion=n * (word_count(text) + reasoning),
        reasoning=n * reasoning,
    )
    common: JSON = {
        "model": model,
        "tokens": tokens,
        "response_id": f"chatcmpl-mock{req.digest[:25]}",
        "service_tier": _tier(controls, body.get("service_tier")),
        "finish_reason": "length" if cut else "stop",
        "choices": n,
    }
    if not body.get("stream"):
        return json_reply(chat_completion(content=text, **common), headers(req))
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    chunks = chat_chunks(include_usage=include_usage and not controls.no_usage, pieces=pieces, **common)
    return sse_reply(sse_frames(chunks), headers(req), controls.truncate)


def _responses(req: Request, controls: Controls) -> Reply:
    body = req.json_object()
    model = controls.model_of(body)
    text_config = body.get("text")
    fmt = text_config.get("format") if isinstance(text_config, dict) else None
    pieces, _ = reply_pieces(controls, structured_text(fmt, controls), None)
    text = "".join(pieces)
    asked = body.get("reasoning")
    reasoning = REASONING_TOKENS if isinstance(asked, dict) and asked.get("effort") != "none" else 0
    tokens = Tokens.forced(
        controls,
        prompt=prompt_tokens(body.get("instructions"), body.get("input")),
        completion=word_count(text) + reasoning,
        reasoning=reasoning,
    )
    common: JSON = {
        "service_tier": _tier(controls, body.get("service_tier")),
        "response_id": f"resp_mock{req.digest[:40]}",
        "item_id": f"msg_mock{req.digest[40:64]}",
        "request": body,
    }
    if not body.get("stream"):
        return json_reply(response_object(model, tokens, text=text, **common), headers(req))
    events = response_events(model, tokens, pieces=pieces, with_usage=not controls.no_usage, **common)
    return sse_reply(sse_frames(events, done=False, event_names=True), headers(req), controls.truncate)


def _embedding_vector(seed: str, dims: int) -> list[float]:
    """A unit vector derived from the input text: equal inputs embed equally."""
    raw = b""
    counter = 0
    while len(raw) < dims:
        raw += hashlib.sha256(f"{counter}:{seed}".encode()).digest()
        counter += 1
    values = [b / 127.5 - 1.0 for b in raw[:dims]]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]


def _embeddings(req: Request, controls: Controls) -> Reply:
    body = req.json_object()
    model = controls.model_of(body)
    raw = body.get("input")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        inputs: list[object] = [raw]
    elif isinstance(raw, list) and raw:
        inputs = list(raw)
    else:
        raise BadRequestError("'input' must be a non-empty string or array.")
    dims = int_or(body.get("dimensions"), 8)
    dims = dims if 0 < dims <= _MAX_DIMENSIONS else 8
    as_base64 = body.get("encoding_format") == "base64"
    vectors: list[Any] = []
    tokens = 0
    for item in inputs:
        tokens += max(1, len(item) // 4) if isinstance(item, str) else len(item) if isinstance(item, list) else 1
        vector = _embedding_vector(json.dumps(item), dims)
        vectors.append(base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector)
    prompt = controls.forced_usage(USAGE_KEYS).get("prompt_tokens", tokens)
    return json_reply(embeddings(model, prompt, vectors=vectors), headers(req))


def _batch(batch_id: str, controls: Controls, **extra: Any) -> JSON:
    """A Batch; usage comes from x-mock-usage (OpenAI keys, mapped) or a fixed default."""
    forced = controls.forced_usage(USAGE_KEYS)
    tokens = Tokens(
        prompt=forced.get("prompt_tokens", 1200),
        completion=forced.get("completion_tokens", 300),
        cached=forced.get("cached_tokens", 200),
        reasoning=forced.get("reasoning_tokens", 0),
    )
    return batch(batch_id, controls.model or _DEFAULT_BATCH_MODEL, tokens, input_file_id="file-mockinput", **extra)


def _batches(req: Request, controls: Controls) -> Reply:
    if req.method == "POST":
        body = req.json_object()
        created = _batch(
            f"batch_mock{req.digest[:24]}",
            controls,
            status="validating",
            requests=0,
            endpoint=body.get("endpoint", "/v1/chat/completions"),
            input_file_id=body.get("input_file_id", "file-mockinput"),
            completion_window=body.get("completion_window", "24h"),
            metadata=body.get("metadata") or {},
        )
        return json_reply(created, headers(req))
    if req.segments[-1] != "batches":
        return json_reply(_batch(req.segments[-1], controls), headers(req))
    batches = [_batch(f"batch_mock{i:04d}", controls) for i in (1, 2)]
    page = {"object": "list", "data": batches, "has_more": False}
    page.update(first_id=batches[0]["id"], last_id=batches[-1]["id"])
    return json_reply(page, headers(req))


def _models(req: Request) -> Reply:
    def model(model_id: str) -> JSON:
        return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "system"}

    if req.segments[-1] != "models":
        return json_reply(model(req.segments[-1]), headers(req))
    return json_reply({"object": "list", "data": [model(m) for m in _MODELS]}, headers(req))


def route(req: Request, controls: Controls) -> Reply | None:
    """Match on path *suffixes*, so any base-URL prefix (/v1, proxies, Azure-style) works; None: no such route."""
    method, segs = req.method, req.segments
    if method == "POST" and req.tail("chat", "completions"):
        return _chat(req, controls)
    if method == "POST" and req.tail("responses"):
        return _responses(req, controls)
    if method == "POST" and req.tail("embeddings"):
        return _embeddings(req, controls)
    batch_list = method in {"GET", "POST"} and req.tail("batches")
    if batch_list or (method == "GET" and len(segs) >= 2 and segs[-2] == "batches"):
        return _batches(req, controls)
    if method == "GET" and (req.tail("models") or (len(segs) >= 2 and segs[-2] == "models")):
        return _models(req)
    return None


# --------------------------------------------------------------------------- the scripted fake (tests)


@dataclass
class FakeOpenAI:
    """A scripted OpenAI API for MockTransport. Attributes choose what the next replies carry; ``requests`` records
    what was sent (and ``bodies`` their JSON)."""

    model: str | None = None
    """Model reported in responses; None echoes the request's model."""
    tokens: Tokens = field(default_factory=Tokens)
    service_tier: str | None = None
    """Tier reported in responses; None echoes the request's (default when absent)."""
    fail: tuple[int, str] | None = None
    """(HTTP status, message) to answer every request with."""
    stream_frames_before_failure: int | None = None
    """Break each stream after this many frames with ``stream_failure``."""
    stream_failure: BaseException | None = None
    stream_garbage: bytes | None = None
    """Appended after the first frames of a stream (with stream_frames_before_failure): an invalid SSE frame."""
    chat_body: Callable[[JSON], JSON] | None = None
    """Replace the chat.completion body built for a request."""
    batches: dict[str, JSON] = field(default_factory=dict)
    stream_usage: str = "final"
    """Where a chat stream carries its usage: "final" (OpenAI: a last chunk with no choices, only when asked with
    include_usage), "last_choice" (DeepSeek, OpenRouter: on the last choice's chunk, even unasked) or "x_groq"
    (Groq: in the last chunk's ``x_groq.usage``, unasked)."""
    usage_extra: JSON = field(default_factory=dict)
    """Keys added to every usage block: OpenRouter's ``cost``, xAI's ``cost_in_usd_ticks``, ..."""
    on_request: Callable[[Any], None] | None = None
    """Called with each request as it is sent (e.g. to look at the current span)."""
    requests: list[Any] = field(default_factory=list)
    bodies: list[JSON] = field(default_factory=list)

    @property
    def http(self) -> Any:
        """The HTTP library (httpx2 or httpx) of the installed openai SDK."""
        return for_sdk("openai")

    def __call__(self, request: Any) -> Any:
        http = self.http
        self.requests.append(request)
        body: JSON = json.loads(request.content) if request.content else {}
        self.bodies.append(body)
        if self.on_request is not None:
            self.on_request(request)
        if self.fail is not None:
            status, message = self.fail
            retry = {"retry-after-ms": "1"} if status == 429 or status >= 500 else {}  # instant SDK retries
            return http.Response(status, json=error(status, message), request=request, headers=retry)
        path = request.url.path
        model = self.model or body.get("model") or "gpt-4o"
        asked = body.get("service_tier")
        tier: str = self.service_tier or (str(asked) if asked not in (None, "auto") else "default")
        if path.endswith("/chat/completions"):
            structured = (body.get("response_format") or {}).get("type") == "json_schema"
            if body.get("stream"):
                options = body.get("stream_options") or {}
                pieces = split_ceil(STRUCTURED) if structured else WORDS
                include = bool(options.get("include_usage")) and self.stream_usage == "final"
                chunks = chat_chunks(model, self.tokens, include_usage=include, pieces=pieces, service_tier=tier)
                if include:
                    chunks[-1]["usage"].update(self.usage_extra)
                elif self.stream_usage == "last_choice":
                    chunks[-1]["usage"] = {**self.tokens.chat(), **self.usage_extra}
                elif self.stream_usage == "x_groq":
                    chunks[-1]["x_groq"] = {"id": "req_groq", "usage": {**self.tokens.chat(), **self.usage_extra}}
                return self._stream(request, sse_frames(chunks))
            usage = {**self.tokens.chat(), **self.usage_extra}
            reply = chat_completion(
                model, service_tier=tier, content=STRUCTURED if structured else "".join(WORDS), usage=usage
            )
            if self.chat_body is not None:
                reply = self.chat_body(reply)
            return http.Response(200, json=reply, request=request, headers={"x-request-id": "req_chat"})
        if path.endswith("/responses/compact"):
            reply = {
                "id": "cmp_test1",
                "object": "response.compaction",
                "created_at": CREATED,
                "output": [],
                "usage": {**self.tokens.responses(), **self.usage_extra},
                "service_tier": tier,
            }
            return http.Response(200, json=reply, request=request, headers={"x-request-id": "req_compact"})
        if path.endswith("/responses"):
            structured = ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema"
            if body.get("stream"):
                pieces = split_ceil(STRUCTURED) if structured else WORDS
                events = response_events(model, self.tokens, pieces=pieces, service_tier=tier)
                return self._stream(request, sse_frames(events, done=False, event_names=True))
            text = STRUCTURED if structured else "".join(WORDS)
            reply = response_object(model, self.tokens, text=text, service_tier=tier)
            reply["usage"].update(self.usage_extra)
            return http.Response(200, json=reply, request=request, headers={"x-request-id": "req_responses"})
        if path.endswith("/embeddings"):
            inputs = body.get("input")
            count = len(inputs) if isinstance(inputs, list) else 1
            reply = embeddings(model, self.tokens.prompt, count)
            return http.Response(200, json=reply, request=request, headers={"x-request-id": "req_emb"})
        if "/batches" in path:
            tail = path.rsplit("/", 1)[-1]
            if tail == "batches":
                page = list(self.batches.values())
                after = request.url.params.get("after")  # as the API pages: the batches after that id
                if after in self.batches:
                    page = page[list(self.batches).index(after) + 1 :]
                return http.Response(200, json={"object": "list", "data": page, "has_more": False}, request=request)
            return http.Response(200, json=self.batches[tail], request=request)
        return http.Response(404, json=error(404, f"no route for {path}"), request=request)

    def _stream(self, request: Any, frames: list[bytes]) -> Any:
        failure = None
        if self.stream_frames_before_failure is not None:
            frames = frames[: self.stream_frames_before_failure]
            if self.stream_garbage is not None:
                frames = [*frames, self.stream_garbage]
            failure = self.stream_failure
        headers = {"content-type": "text/event-stream", "x-request-id": "req_stream"}
        stream = frame_stream(self.http, frames, failure)
        return self.http.Response(200, headers=headers, stream=stream, request=request)

    def client(self, base_url: str = URL, **options: Any) -> openai.OpenAI:
        import openai

        http = self.http
        return openai.OpenAI(
            api_key="sk-test", base_url=base_url, http_client=http.Client(transport=http.MockTransport(self)), **options
        )

    def async_client(self, base_url: str = URL, **options: Any) -> openai.AsyncOpenAI:
        import openai

        http = self.http
        client = http.AsyncClient(transport=http.MockTransport(self))
        return openai.AsyncOpenAI(api_key="sk-test", base_url=base_url, http_client=client, **options)

    def azure_client(self, endpoint: str = "https://myres.openai.azure.com", **options: Any) -> openai.AzureOpenAI:
        import openai

        http = self.http
        return openai.AzureOpenAI(
            api_key="az-test",
            api_version="2024-10-21",
            azure_endpoint=endpoint,
            http_client=http.Client(transport=http.MockTransport(self)),
            **options,
        )

    def last_body(self) -> JSON:
        return self.bodies[-1]
