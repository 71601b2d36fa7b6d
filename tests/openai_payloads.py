"""Scripted OpenAI HTTP API for the tests: the real ``openai`` clients talk to it through ``MockTransport``.

Every reply has the JSON shape the real API sends (usage blocks above all), with exact, test-chosen
token counts. ``FakeOpenAI`` routes by path, records every request (so tests can read the body the
SDK really sent), and can be told to fail with an HTTP status or to break a stream half-way.
Nothing of otel_llmcost is imported here: these are the provider's bytes, nothing more.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from transport import for_sdk

# The HTTP library of the installed openai SDK: httpx2 (openai 3.x) or httpx (older releases).
http: Any = for_sdk("openai")
# What the installed openai release offers (the suite also runs against the oldest supported one, 1.40).
HAS_RESPONSES = importlib.util.find_spec("openai.resources.responses") is not None
needs_responses = pytest.mark.skipif(not HAS_RESPONSES, reason="this openai release has no Responses API")


def chat_helpers(client: Any) -> Any:
    """Where parse()/stream() live: client.chat.completions (openai >= 1.92), else client.beta.chat.completions."""
    completions = client.chat.completions
    return completions if hasattr(completions, "parse") else client.beta.chat.completions


JSON = dict[str, Any]

OPENAI_URL = "https://api.openai.com/v1"
CREATED = 1_735_689_600
WORDS = ("Hello", " there", ",", " friend", ".")
STRUCTURED = json.dumps({"city": "Paris", "population": 2100000})
"""The reply to a structured-output (json_schema) request."""


def _split(text: str, parts: int = 3) -> tuple[str, ...]:
    step = -(-len(text) // parts)
    return tuple(text[i : i + step] for i in range(0, len(text), step))


# --- usage blocks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tokens:
    """Usage as OpenAI reports it.

    ``prompt`` INCLUDES ``cached`` and ``cache_write``; ``completion`` INCLUDES ``reasoning``.
    """

    prompt: int = 100
    completion: int = 20
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0

    def chat(self) -> JSON:
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
        return {
            "input_tokens": self.prompt,
            "input_tokens_details": {"cached_tokens": self.cached, "cache_write_tokens": self.cache_write},
            "output_tokens": self.completion,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.prompt + self.completion,
        }


# --- bodies ---------------------------------------------------------------------------------------
def chat_completion(
    model: str = "gpt-4o",
    tokens: Tokens | None = None,
    *,
    content: str = "".join(WORDS),
    finish_reason: str = "stop",
    service_tier: str | None = "default",
    response_id: str = "chatcmpl-test123",
    usage: Any = None,
) -> JSON:
    """A chat.completion object; ``usage`` (raw JSON) replaces the one built from ``tokens``."""
    body: JSON = {
        "id": response_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
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
    pieces: tuple[str, ...] = WORDS,
    service_tier: str = "default",
    response_id: str = "chatcmpl-stream123",
) -> list[JSON]:
    """The chunks of a streamed chat completion; with include_usage, ``usage: null`` on each and a final usage chunk."""
    common: JSON = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_test",
        "service_tier": service_tier,
    }

    def chunk(choices: list[JSON], usage: JSON | None = None) -> JSON:
        data = {**common, "choices": choices}
        if include_usage:
            data["usage"] = usage
        return data

    chunks = [
        chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])
    ]
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        chunks.append(
            chunk(
                [{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": "stop" if last else None}]
            )
        )
    if include_usage:
        chunks.append(chunk([], (tokens or Tokens()).chat()))
    return chunks


def response_object(
    model: str = "gpt-4o",
    tokens: Tokens | None = None,
    *,
    text: str = "".join(WORDS),
    status: str = "completed",
    service_tier: str = "default",
    response_id: str = "resp_test123",
    with_output: bool = True,
    with_usage: bool = True,
) -> JSON:
    """A Responses API ``response`` object."""
    output = [message_item(text)] if with_output else []
    return {
        "id": response_id,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": service_tier,
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": (tokens or Tokens()).responses() if with_usage else None,
        "user": None,
        "metadata": {},
    }


def message_item(text: str, status: str = "completed") -> JSON:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        if text or status == "completed"
        else []
    )
    return {"id": "msg_test1", "type": "message", "status": status, "role": "assistant", "content": content}


def response_events(
    model: str = "gpt-4o",
    tokens: Tokens | None = None,
    *,
    pieces: tuple[str, ...] = WORDS,
    service_tier: str = "default",
) -> list[JSON]:
    """The event sequence of a streamed Responses API call, ending in ``response.completed`` with usage."""
    text = "".join(pieces)
    where = {"item_id": "msg_test1", "output_index": 0, "content_index": 0}
    start = response_object(
        model, tokens, status="in_progress", service_tier=service_tier, with_output=False, with_usage=False
    )
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    events: list[JSON] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
        {"type": "response.output_item.added", "output_index": 0, "item": message_item("", "in_progress")},
        {"type": "response.content_part.added", **where, "part": part},
    ]
    events += [{"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in pieces]
    events += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": message_item(text)},
        {
            "type": "response.completed",
            "response": response_object(model, tokens, text=text, service_tier=service_tier),
        },
    ]
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]


def embeddings(model: str = "text-embedding-3-small", prompt_tokens: int = 8, inputs: int = 1) -> JSON:
    data = [{"object": "embedding", "index": i, "embedding": [0.1, -0.2, 0.3]} for i in range(inputs)]
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
) -> JSON:
    done = status == "completed"
    usage = (tokens or Tokens()).responses()
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": endpoint,
        "errors": None,
        "input_file_id": "file-in",
        "completion_window": "24h",
        "status": status,
        "output_file_id": "file-out" if done else None,
        "error_file_id": None,
        "created_at": CREATED,
        "in_progress_at": CREATED + 1,
        "expires_at": CREATED + 86_400,
        "finalizing_at": CREATED + 299 if done else None,
        "completed_at": CREATED + 300 if done else None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 2, "completed": 2 if done else 0, "failed": 0},
        "metadata": {},
        "model": model,
        "usage": usage if done else None,
    }


def error(status: int, message: str) -> JSON:
    kind = {400: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def sse(events: list[Any], *, done: bool = True, event_names: bool = False) -> list[bytes]:
    """SSE frames, one per event (``event:`` lines for the Responses API), then ``[DONE]``."""
    frames = []
    for event in events:
        prefix = f"event: {event['type']}\n" if event_names and isinstance(event, dict) else ""
        frames.append(f"{prefix}data: {json.dumps(event)}\n\n".encode())
    if done:
        frames.append(b"data: [DONE]\n\n")
    return frames


# --- transport ------------------------------------------------------------------------------------
class FrameStream(http.SyncByteStream, http.AsyncByteStream):  # type: ignore[misc]
    """An SSE body sent frame by frame (sync and async), optionally failing like a dropped connection."""

    def __init__(self, frames: list[bytes], fail_with: BaseException | None = None) -> None:
        self.frames = frames
        self.fail_with = fail_with

    def __iter__(self) -> Iterator[bytes]:
        yield from self.frames
        if self.fail_with is not None:
            raise self.fail_with

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self.frames:
            yield frame
        if self.fail_with is not None:
            raise self.fail_with


@dataclass
class FakeOpenAI:
    """A scripted OpenAI API. Attributes choose what the next replies carry; ``requests`` records what was sent."""

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
    on_request: Callable[[Any], None] | None = None
    """Called with each request as it is sent (e.g. to look at the current span)."""
    requests: list[Any] = field(default_factory=list)
    bodies: list[JSON] = field(default_factory=list)

    # -- handler --
    def __call__(self, request: Any) -> Any:
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
        tier = self.service_tier or (
            body.get("service_tier") if body.get("service_tier") not in (None, "auto") else "default"
        )
        if path.endswith("/chat/completions"):
            structured = (body.get("response_format") or {}).get("type") == "json_schema"
            if body.get("stream"):
                options = body.get("stream_options") or {}
                pieces = _split(STRUCTURED) if structured else WORDS
                chunks = chat_chunks(
                    model,
                    self.tokens,
                    include_usage=bool(options.get("include_usage")),
                    pieces=pieces,
                    service_tier=tier,
                )
                return self._stream(request, sse(chunks))
            reply = chat_completion(model, self.tokens, service_tier=tier)
            if structured:
                reply["choices"][0]["message"]["content"] = STRUCTURED
            if self.chat_body is not None:
                reply = self.chat_body(reply)
            return http.Response(200, json=reply, request=request, headers={"x-request-id": "req_chat"})
        if path.endswith("/responses"):
            structured = ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema"
            if body.get("stream"):
                pieces = _split(STRUCTURED) if structured else WORDS
                events = response_events(model, self.tokens, pieces=pieces, service_tier=tier)
                return self._stream(request, sse(events, done=False, event_names=True))
            text = STRUCTURED if structured else "".join(WORDS)
            return http.Response(
                200,
                json=response_object(model, self.tokens, text=text, service_tier=tier),
                request=request,
                headers={"x-request-id": "req_responses"},
            )
        if path.endswith("/embeddings"):
            inputs = body.get("input")
            count = len(inputs) if isinstance(inputs, list) else 1
            return http.Response(
                200,
                json=embeddings(model, self.tokens.prompt, count),
                request=request,
                headers={"x-request-id": "req_emb"},
            )
        if "/batches" in path:
            tail = path.rsplit("/", 1)[-1]
            if tail == "batches":
                page = list(self.batches.values())
                after = request.url.params.get("after")  # as the API pages: the batches after that id
                if after in self.batches:
                    page = page[list(self.batches).index(after) + 1:]
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
        return http.Response(200, headers=headers, stream=FrameStream(frames, failure), request=request)

    # -- clients --
    def client(self, base_url: str = OPENAI_URL, **options: Any) -> openai.OpenAI:
        transport = http.MockTransport(self)
        return openai.OpenAI(
            api_key="sk-test", base_url=base_url, http_client=http.Client(transport=transport), **options
        )

    def async_client(self, base_url: str = OPENAI_URL, **options: Any) -> openai.AsyncOpenAI:
        transport = http.MockTransport(self)
        return openai.AsyncOpenAI(
            api_key="sk-test", base_url=base_url, http_client=http.AsyncClient(transport=transport), **options
        )

    def azure_client(self, endpoint: str = "https://myres.openai.azure.com", **options: Any) -> openai.AzureOpenAI:
        transport = http.MockTransport(self)
        return openai.AzureOpenAI(
            api_key="az-test",
            api_version="2024-10-21",
            azure_endpoint=endpoint,
            http_client=http.Client(transport=transport),
            **options,
        )

    def last_body(self) -> JSON:
        return self.bodies[-1]


MESSAGES: list[Any] = [{"role": "user", "content": "Say hello"}]


def usd(*terms: tuple[int, str]) -> float:
    """Hand arithmetic of a cost: sum of tokens x $/Mtok (prices as written on the price page), in USD.

    Exact (Decimal) so that a test can compare with ``==``: e.g. ``usd((2_000, "2.50"), (500, "10"))``.
    """
    from decimal import Decimal

    total = sum((Decimal(tokens) * Decimal(price) for tokens, price in terms), Decimal(0))
    return float(total / Decimal(1_000_000))


def only_span(captured: Any) -> Any:
    """The one CLIENT span the test's single call produced (fails when there are more or fewer)."""
    spans = captured.client_spans()
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def points_or_none(captured: Any, name: str) -> list[Any]:
    """Like ``captured.points`` but also when nothing at all was recorded (the reader then returns None)."""
    captured.reader.collect()
    data = captured.reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]
