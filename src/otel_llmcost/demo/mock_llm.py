"""A deterministic fake of the OpenAI and Anthropic HTTP APIs.

The demo command, the tests and the benchmark need real SDK clients to talk to *something* that
answers with the providers' real JSON shapes (usage blocks above all) without a network or a key.
Everything is decided by :func:`handle` from the request alone, so replies are reproducible; the
``x-mock-*`` request headers (see :func:`handle`) force usage, errors, tiers and stream shapes.

Two ways to plug it in:

* :func:`mock_transport_handler` for ``httpx2.MockTransport`` (or ``httpx.MockTransport``), in-process;
* :class:`MockLLMServer`, a real HTTP server on ``127.0.0.1``, for code that owns its HTTP client.

Standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import http.server
import importlib
import json
import socket
import socketserver
import struct
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
    from types import ModuleType, TracebackType

    import httpx2

__all__ = [
    "MockLLMServer",
    "MockReply",
    "RecordedRequest",
    "async_mock_transport_handler",
    "handle",
    "mock_transport_handler",
]

JSONObject = dict[str, Any]

_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z: a fixed clock keeps replies byte-identical.
_ISO_CREATED = "2025-01-01T00:00:00Z"
_ISO_ENDED = "2025-01-01T00:05:00Z"
_ISO_EXPIRES = "2025-01-02T00:00:00Z"
_FINGERPRINT = "fp_mock0000"
_DEFAULT_CHUNKS = 5
_MAX_CHUNKS = 10_000
_MAX_DIMENSIONS = 4096
_REASONING_TOKENS = 16  # what a reasoning request reports when x-mock-usage does not say otherwise
_WORDS = ("This", "is", "a", "deterministic", "reply", "from", "the", "mock", "LLM", "server.")
_THINKING_WORDS = ("Working", "through", "the", "request", "step", "by", "step.")
_DEFAULT_OPENAI_BATCH_MODEL = "gpt-4o-mini"
_DEFAULT_ANTHROPIC_BATCH_MODEL = "claude-haiku-4-5"  # not on the SDK's deprecation list
_ANTHROPIC_API = "https://api.anthropic.com"
_TRUNCATED_MESSAGE = "peer closed connection without sending complete message body (incomplete chunked read)"

_OPENAI_USAGE_KEYS = frozenset(
    {"prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens"}
)
_ANTHROPIC_USAGE_KEYS = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "ephemeral_5m_input_tokens",
        "ephemeral_1h_input_tokens",
        "thinking_tokens",
        "web_search_requests",
        "web_fetch_requests",
        "server_tool_use",
    }
)

# status -> (error type, error code, message), shaped like the real OpenAI errors.
_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
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
_ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class MockReply:
    """What one request gets back, in a form both the transport and the HTTP server can send."""

    status: int
    headers: dict[str, str]
    body: bytes
    """The full body; for SSE, the whole (possibly truncated) event stream."""
    chunks: list[bytes]
    """For SSE one item per event (``body == b"".join(chunks)``), else ``[body]``."""
    truncated: bool = False
    """The stream must end abruptly after ``chunks``, like a dropped connection."""

    @property
    def streaming(self) -> bool:
        """Whether the reply is a server-sent event stream (sent chunk by chunk)."""
        return self.headers.get("content-type", "").startswith("text/event-stream")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as :class:`MockLLMServer` received it, for assertions in tests."""

    method: str
    path: str
    """Path with the query string, as sent."""
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any
    """The parsed JSON body, or None when the body was empty or not JSON."""
    raw_body: bytes = b""


class _BadRequestError(Exception):
    """A malformed request or x-mock-* header: answered with the provider's 400 error."""


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    segments: tuple[str, ...]
    headers: dict[str, str]
    body: bytes
    digest: str

    @classmethod
    def parse(cls, method: str, path: str, headers: Mapping[str, str], body: bytes) -> _Request:
        bare = urlsplit(path).path or "/"
        digest = hashlib.sha256(b"\0".join([method.upper().encode(), bare.encode(), body])).hexdigest()
        return cls(
            method=method.upper(),
            path=bare,
            segments=tuple(s for s in bare.split("/") if s),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            digest=digest,
        )

    @property
    def is_anthropic(self) -> bool:
        """Anthropic's SDK always sends anthropic-version; its paths live under /messages."""
        if "anthropic-version" in self.headers:
            return True
        return "messages" in self.segments and "threads" not in self.segments

    def tail(self, *names: str) -> bool:
        return len(self.segments) >= len(names) and self.segments[-len(names) :] == names

    def json_object(self) -> JSONObject:
        try:
            data = json.loads(self.body or b"null")
        except ValueError as exc:
            raise _BadRequestError(f"We could not parse the JSON body of your request: {exc}") from None
        if not isinstance(data, dict):
            raise _BadRequestError("The request body must be a JSON object.")
        return data


@dataclass(frozen=True)
class _Controls:
    """The x-mock-* request headers, validated."""

    usage: JSONObject | None = None
    service_tier: str | None = None
    speed: str | None = None
    model: str | None = None
    error: int | None = None
    chunks: int = _DEFAULT_CHUNKS
    no_usage: bool = False
    truncate: int | None = None


def _header_int(headers: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise _BadRequestError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise _BadRequestError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _parse_controls(headers: Mapping[str, str]) -> _Controls:
    usage: JSONObject | None = None
    if "x-mock-usage" in headers:
        try:
            parsed = json.loads(headers["x-mock-usage"])
        except ValueError as exc:
            raise _BadRequestError(f"x-mock-usage is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise _BadRequestError("x-mock-usage must be a JSON object")
        usage = parsed
    chunks = _header_int(headers, "x-mock-chunks", 1, _MAX_CHUNKS)
    return _Controls(
        usage=usage,
        service_tier=headers.get("x-mock-service-tier") or None,
        speed=headers.get("x-mock-speed") or None,
        model=headers.get("x-mock-model") or None,
        error=_header_int(headers, "x-mock-error", 400, 599),
        chunks=_DEFAULT_CHUNKS if chunks is None else chunks,
        no_usage=headers.get("x-mock-no-usage", "").strip().lower() in {"1", "true", "yes", "on"},
        truncate=_header_int(headers, "x-mock-truncate", 0, 1_000_000),
    )


# --------------------------------------------------------------------------- usage


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _BadRequestError(f"x-mock-usage: {name} must be a non-negative integer, got {value!r}")
    return value


def _forced_usage(controls: _Controls, allowed: frozenset[str]) -> dict[str, int]:
    """The x-mock-usage numbers, checked against the provider's key names so typos fail loudly."""
    if controls.usage is None:
        return {}
    unknown = sorted(set(controls.usage) - allowed)
    if unknown:
        raise _BadRequestError(f"x-mock-usage: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    forced: dict[str, int] = {}
    for key, value in controls.usage.items():
        if key == "server_tool_use":
            if not isinstance(value, dict):
                raise _BadRequestError("x-mock-usage: server_tool_use must be an object")
            for sub in ("web_search_requests", "web_fetch_requests"):
                if sub in value:
                    forced[sub] = _count(value[sub], sub)
        else:
            forced[key] = _count(value, key)
    return forced


@dataclass(frozen=True)
class _OpenAIUsage:
    prompt: int  # includes cached tokens, as OpenAI reports it
    completion: int  # includes reasoning tokens
    cached: int
    cache_write: int
    reasoning: int


def _openai_usage(controls: _Controls, *, prompt: int, completion: int, reasoning: int) -> _OpenAIUsage:
    """Forced keys are exact; the rest stay derived, details capped so the totals stay consistent."""
    forced = _forced_usage(controls, _OPENAI_USAGE_KEYS)
    completion = forced.get("completion_tokens", completion)
    return _OpenAIUsage(
        prompt=forced.get("prompt_tokens", prompt),
        completion=completion,
        cached=forced.get("cached_tokens", 0),
        cache_write=forced.get("cache_write_tokens", 0),
        reasoning=forced.get("reasoning_tokens", min(reasoning, completion)),
    )


def _chat_usage_json(usage: _OpenAIUsage) -> JSONObject:
    return {
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "total_tokens": usage.prompt + usage.completion,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached,
            "cache_write_tokens": usage.cache_write,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _responses_usage_json(usage: _OpenAIUsage) -> JSONObject:
    return {
        "input_tokens": usage.prompt,
        "input_tokens_details": {"cached_tokens": usage.cached, "cache_write_tokens": usage.cache_write},
        "output_tokens": usage.completion,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.prompt + usage.completion,
    }


@dataclass(frozen=True)
class _AnthropicUsage:
    input: int  # uncached input only, as Anthropic reports it
    output: int  # includes thinking tokens
    cache_read: int
    cache_write: int
    ephemeral_5m: int
    ephemeral_1h: int
    thinking: int | None
    web_search: int | None
    web_fetch: int | None


def _anthropic_usage(
    controls: _Controls, *, input_tokens: int, output_tokens: int, thinking: int | None
) -> _AnthropicUsage:
    """Like :func:`_openai_usage`; a cache write with no TTL split counts as 5-minute (the default)."""
    forced = _forced_usage(controls, _ANTHROPIC_USAGE_KEYS)
    output = forced.get("output_tokens", output_tokens)
    eph_5m = forced.get("ephemeral_5m_input_tokens")
    eph_1h = forced.get("ephemeral_1h_input_tokens")
    if "cache_creation_input_tokens" in forced:
        cache_write = forced["cache_creation_input_tokens"]
        if eph_5m is None and eph_1h is None:
            eph_5m = cache_write
    else:
        cache_write = (eph_5m or 0) + (eph_1h or 0)
    if "thinking_tokens" in forced:
        thinking = forced["thinking_tokens"]
    elif thinking is not None:
        thinking = min(thinking, output)
    tools = "web_search_requests" in forced or "web_fetch_requests" in forced
    return _AnthropicUsage(
        input=forced.get("input_tokens", input_tokens),
        output=output,
        cache_read=forced.get("cache_read_input_tokens", 0),
        cache_write=cache_write,
        ephemeral_5m=eph_5m or 0,
        ephemeral_1h=eph_1h or 0,
        thinking=thinking,
        web_search=forced.get("web_search_requests", 0) if tools else None,
        web_fetch=forced.get("web_fetch_requests", 0) if tools else None,
    )


def _anthropic_usage_json(
    usage: _AnthropicUsage, *, output_tokens: int, tier: str, speed: str | None, final: bool
) -> JSONObject:
    """The Message.usage object; ``final=False`` is the message_start flavour (no output breakdown)."""
    data: JSONObject = {
        "input_tokens": usage.input,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.ephemeral_5m,
            "ephemeral_1h_input_tokens": usage.ephemeral_1h,
        },
        "output_tokens": output_tokens,
        "service_tier": tier,
    }
    if speed is not None:
        data["speed"] = speed
    if final:
        data.update(_anthropic_usage_extras(usage))
    return data


def _anthropic_usage_extras(usage: _AnthropicUsage) -> JSONObject:
    extras: JSONObject = {}
    if usage.web_search is not None or usage.web_fetch is not None:
        extras["server_tool_use"] = {
            "web_search_requests": usage.web_search or 0,
            "web_fetch_requests": usage.web_fetch or 0,
        }
    if usage.thinking is not None:
        extras["output_tokens_details"] = {"thinking_tokens": usage.thinking}
    return extras


# --------------------------------------------------------------------------- content


def _collect_text(value: object, out: list[str]) -> None:
    """Gather the prose of messages/system/input, skipping roles, ids and image payloads."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            _collect_text(item, out)
    elif isinstance(value, dict):
        for key in ("text", "content", "thinking", "output", "arguments"):
            if key in value:
                _collect_text(value[key], out)


def _prompt_tokens(*sources: object) -> int:
    """8 tokens of overhead plus one per four characters of text: stable and roughly realistic."""
    texts: list[str] = []
    for source in sources:
        _collect_text(source, texts)
    return 8 + sum(len(t) for t in texts) // 4


def _word_count(text: str) -> int:
    return len(text.split())


def _word_pieces(count: int, words: Sequence[str] = _WORDS) -> list[str]:
    return [(" " if i else "") + words[i % len(words)] for i in range(count)]


def _split_even(text: str, parts: int) -> list[str]:
    """Split into ``parts`` contiguous pieces (fewer only when the text is shorter)."""
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces: list[str] = []
    start = 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


_STRING_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00",
    "email": "x@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _resolve_ref(ref: str, root: JSONObject) -> object:
    node: object = root
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def _bounded(value: float, schema: JSONObject) -> float:
    if isinstance(schema.get("minimum"), (int, float)):
        value = max(value, schema["minimum"])
    if isinstance(schema.get("exclusiveMinimum"), (int, float)) and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + 1
    if isinstance(schema.get("maximum"), (int, float)):
        value = min(value, schema["maximum"])
    return value


def _sample(schema: object, root: JSONObject, depth: int = 0) -> object:
    """A plausible value satisfying a (simple) JSON schema, so SDK ``.parse()`` helpers succeed."""
    if not isinstance(schema, dict) or depth > 12:
        return "x"
    if isinstance(schema.get("$ref"), str):
        return _sample(_resolve_ref(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return _sample((non_null or options)[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: _sample(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        min_items = schema.get("minItems")
        if isinstance(min_items, int) and min_items > 0:
            return [_sample(schema.get("items", {}), root, depth + 1) for _ in range(min_items)]
        return []
    if kind == "string":
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _STRING_FORMATS:
            return _STRING_FORMATS[fmt]
        min_length = schema.get("minLength")
        return "x" * (min_length if isinstance(min_length, int) and min_length > 1 else 1)
    if kind == "integer":
        return int(_bounded(1, schema))
    if kind == "number":
        return float(_bounded(1.0, schema))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {}


def _structured_text(fmt: object, controls: _Controls) -> str | None:
    """JSON text for a json_schema / json_object output format, else None (plain prose)."""
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        nested = fmt.get("json_schema")  # Chat Completions nests it one level deeper
        if schema is None and isinstance(nested, dict):
            schema = nested.get("schema")
        root = schema if isinstance(schema, dict) else {}
        return json.dumps(_sample(root, root))
    if fmt.get("type") == "json_object":
        return json.dumps({"reply": "".join(_word_pieces(controls.chunks))})
    return None


def _reply_pieces(controls: _Controls, structured: str | None, limit: object) -> tuple[list[str], bool]:
    """The content deltas of a reply and whether ``max_tokens`` cut it (one word = one token)."""
    if structured is not None:
        return _split_even(structured, controls.chunks), False
    words = controls.chunks
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < words:
        return _word_pieces(limit), True
    return _word_pieces(words), False


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _model(body: JSONObject, controls: _Controls) -> str:
    if controls.model:
        return controls.model
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequestError("You must provide a model parameter.")
    return model


# --------------------------------------------------------------------------- reply builders


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _base_headers(req: _Request, anthropic: bool) -> dict[str, str]:
    if anthropic:
        return {"content-type": "application/json", "request-id": f"req_mock{req.digest[:20]}"}
    return {
        "content-type": "application/json",
        "x-request-id": f"req_mock{req.digest[:24]}",
        "openai-processing-ms": "1",
        "openai-version": "2020-10-01",
    }


def _json_reply(req: _Request, data: object, *, anthropic: bool, status: int = 200) -> MockReply:
    body = _dumps(data)
    return MockReply(status, _base_headers(req, anthropic), body, [body])


def _sse(data: object, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else _dumps(data).decode()
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def _sse_reply(req: _Request, events: list[bytes], controls: _Controls, *, anthropic: bool) -> MockReply:
    truncated = controls.truncate is not None and controls.truncate < len(events)
    if truncated:
        events = events[: controls.truncate]
    headers = _base_headers(req, anthropic)
    headers["content-type"] = "text/event-stream; charset=utf-8"
    headers["cache-control"] = "no-cache"
    return MockReply(200, headers, b"".join(events), events, truncated)


def _error_reply(req: _Request, status: int, *, anthropic: bool, message: str | None = None) -> MockReply:
    """The provider's real error body shape, so SDKs raise their proper exception classes."""
    if anthropic:
        kind = _ANTHROPIC_ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
        data: JSONObject = {
            "type": "error",
            "error": {"type": kind, "message": message or f"Mock {kind} (HTTP {status})."},
            "request_id": f"req_mock{req.digest[:20]}",
        }
    else:
        fallback = "server_error" if status >= 500 else "invalid_request_error"
        kind, code, text = _OPENAI_ERRORS.get(status, (fallback, None, f"Mock error (HTTP {status})."))
        if message is not None:  # our own diagnosis (bad header, unknown URL): no canned code
            text, code = message, None
        data = {"error": {"message": text, "type": kind, "param": None, "code": code}}
    reply = _json_reply(req, data, anthropic=anthropic, status=status)
    if status in {408, 409, 429} or status >= 500:
        # retry-after-ms wins in both SDKs: an instant retry keeps retrying tests fast.
        reply.headers["retry-after"] = "0"
        reply.headers["retry-after-ms"] = "1"
    if anthropic and status >= 500:
        reply.headers["x-should-retry"] = "true"
    return reply


# --------------------------------------------------------------------------- OpenAI


def _openai_tier(controls: _Controls, requested: object) -> str:
    """Echo the tier that 'served' the call: auto means default, fast is billed as priority."""
    if controls.service_tier:
        return controls.service_tier
    if requested in (None, "auto", "default") or not isinstance(requested, str):
        return "default"
    return "priority" if requested == "fast" else requested


def _openai_chat(req: _Request, controls: _Controls) -> MockReply:
    body = req.json_object()
    model = _model(body, controls)
    n = max(1, min(_int_or(body.get("n"), 1), 8))
    structured = _structured_text(body.get("response_format"), controls)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    pieces, cut = _reply_pieces(controls, structured, limit)
    text = "".join(pieces)
    finish = "length" if cut else "stop"
    reasoning = _REASONING_TOKENS if body.get("reasoning_effort") not in (None, "none") else 0
    usage = _openai_usage(
        controls,
        prompt=_prompt_tokens(body.get("messages")),
        completion=n * (_word_count(text) + reasoning),
        reasoning=n * reasoning,
    )
    common: JSONObject = {
        "id": f"chatcmpl-mock{req.digest[:25]}",
        "created": _CREATED,
        "model": model,
        "service_tier": _openai_tier(controls, body.get("service_tier")),
        "system_fingerprint": _FINGERPRINT,
    }
    if not body.get("stream"):
        message: JSONObject = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        choices = [{"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)]
        data = {**common, "object": "chat.completion", "choices": choices, "usage": _chat_usage_json(usage)}
        return _json_reply(req, data, anthropic=False)

    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    with_usage = include_usage and not controls.no_usage

    def chunk(choices: list[JSONObject], usage_json: JSONObject | None = None) -> bytes:
        data: JSONObject = {**common, "object": "chat.completion.chunk", "choices": choices}
        if with_usage:
            data["usage"] = usage_json  # null on every chunk but the last, as the real API does
        return _sse(data)

    events: list[bytes] = []
    for index in range(n):
        first = {"role": "assistant", "content": "", "refusal": None}
        events.append(chunk([{"index": index, "delta": first, "logprobs": None, "finish_reason": None}]))
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            delta = {"content": piece}
            events.append(
                chunk([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish if last else None}])
            )
    if with_usage:
        events.append(chunk([], _chat_usage_json(usage)))
    events.append(_sse("[DONE]"))
    return _sse_reply(req, events, controls, anthropic=False)


def _wants_reasoning(reasoning: object) -> bool:
    return isinstance(reasoning, dict) and reasoning.get("effort") != "none"


def _openai_responses(req: _Request, controls: _Controls) -> MockReply:
    body = req.json_object()
    model = _model(body, controls)
    text_config = body.get("text")
    fmt = text_config.get("format") if isinstance(text_config, dict) else None
    pieces, _ = _reply_pieces(controls, _structured_text(fmt, controls), None)
    text = "".join(pieces)
    reasoning = _REASONING_TOKENS if _wants_reasoning(body.get("reasoning")) else 0
    usage = _openai_usage(
        controls,
        prompt=_prompt_tokens(body.get("instructions"), body.get("input")),
        completion=_word_count(text) + reasoning,
        reasoning=reasoning,
    )
    response_id = f"resp_mock{req.digest[:40]}"
    item_id = f"msg_mock{req.digest[40:64]}"
    tier = _openai_tier(controls, body.get("service_tier"))
    requested_reasoning = body.get("reasoning")

    def snapshot(status: str, output: list[JSONObject], usage_json: JSONObject | None) -> JSONObject:
        return {
            "id": response_id,
            "object": "response",
            "created_at": _CREATED,
            "status": status,
            "background": False,
            "completed_at": _CREATED + 1 if status == "completed" else None,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {
                "effort": requested_reasoning.get("effort") if isinstance(requested_reasoning, dict) else None,
                "summary": None,
            },
            "service_tier": tier,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": fmt if isinstance(fmt, dict) else {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "top_logprobs": 0,
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": usage_json,
            "user": None,
            "metadata": body.get("metadata") or {},
        }

    def part(content: str) -> JSONObject:
        return {"type": "output_text", "text": content, "annotations": [], "logprobs": []}

    def item(status: str, content: list[JSONObject]) -> JSONObject:
        return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}

    final_usage = None if controls.no_usage and body.get("stream") else _responses_usage_json(usage)
    done_item = item("completed", [part(text)])
    if not body.get("stream"):
        return _json_reply(req, snapshot("completed", [done_item], final_usage), anthropic=False)

    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    payloads: list[JSONObject] = [
        {"type": "response.created", "response": snapshot("in_progress", [], None)},
        {"type": "response.in_progress", "response": snapshot("in_progress", [], None)},
        {"type": "response.output_item.added", "output_index": 0, "item": item("in_progress", [])},
        {"type": "response.content_part.added", **where, "part": part("")},
    ]
    payloads += [{"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in pieces]
    payloads += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": part(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": snapshot("completed", [done_item], final_usage)},
    ]
    events = [_sse({**p, "sequence_number": seq}, str(p["type"])) for seq, p in enumerate(payloads)]
    return _sse_reply(req, events, controls, anthropic=False)


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


def _openai_embeddings(req: _Request, controls: _Controls) -> MockReply:
    body = req.json_object()
    model = _model(body, controls)
    raw = body.get("input")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        inputs: list[object] = [raw]
    elif isinstance(raw, list) and raw:
        inputs = list(raw)
    else:
        raise _BadRequestError("'input' must be a non-empty string or array.")
    dims = _int_or(body.get("dimensions"), 8)
    dims = dims if 0 < dims <= _MAX_DIMENSIONS else 8
    as_base64 = body.get("encoding_format") == "base64"
    data: list[JSONObject] = []
    tokens = 0
    for index, item in enumerate(inputs):
        tokens += max(1, len(item) // 4) if isinstance(item, str) else len(item) if isinstance(item, list) else 1
        vector = _embedding_vector(json.dumps(item), dims)
        embedding: object = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    prompt = _forced_usage(controls, _OPENAI_USAGE_KEYS).get("prompt_tokens", tokens)
    usage = {"prompt_tokens": prompt, "total_tokens": prompt}
    return _json_reply(req, {"object": "list", "data": data, "model": model, "usage": usage}, anthropic=False)


def _openai_batch(batch_id: str, controls: _Controls, *, status: str = "completed", **extra: object) -> JSONObject:
    """A Batch; usage comes from x-mock-usage (OpenAI keys, mapped) or a fixed default."""
    forced = _forced_usage(controls, _OPENAI_USAGE_KEYS)
    done = status == "completed"
    input_tokens = forced.get("prompt_tokens", 1200)
    output_tokens = forced.get("completion_tokens", 300)
    batch: JSONObject = {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": None,
        "input_file_id": "file-mockinput",
        "completion_window": "24h",
        "status": status,
        "output_file_id": "file-mockoutput" if done else None,
        "error_file_id": None,
        "created_at": _CREATED,
        "in_progress_at": _CREATED + 1 if done else None,
        "expires_at": _CREATED + 86_400,
        "finalizing_at": _CREATED + 299 if done else None,
        "completed_at": _CREATED + 300 if done else None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 2 if done else 0, "completed": 2 if done else 0, "failed": 0},
        "metadata": {},
        "model": controls.model or _DEFAULT_OPENAI_BATCH_MODEL,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": forced.get("cached_tokens", 200)},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": forced.get("reasoning_tokens", 0)},
            "total_tokens": input_tokens + output_tokens,
        },
    }
    batch.update(extra)
    return batch


def _openai_batches(req: _Request, controls: _Controls) -> MockReply:
    if req.method == "POST":
        body = req.json_object()
        batch = _openai_batch(
            f"batch_mock{req.digest[:24]}",
            controls,
            status="validating",
            endpoint=body.get("endpoint", "/v1/chat/completions"),
            input_file_id=body.get("input_file_id", "file-mockinput"),
            completion_window=body.get("completion_window", "24h"),
            metadata=body.get("metadata") or {},
        )
        return _json_reply(req, batch, anthropic=False)
    if req.segments[-1] != "batches":
        return _json_reply(req, _openai_batch(req.segments[-1], controls), anthropic=False)
    batches = [_openai_batch(f"batch_mock{i:04d}", controls) for i in (1, 2)]
    page = {"object": "list", "data": batches, "has_more": False}
    page.update(first_id=batches[0]["id"], last_id=batches[-1]["id"])
    return _json_reply(req, page, anthropic=False)


_OPENAI_MODELS = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")


def _openai_models(req: _Request) -> MockReply:
    def model(model_id: str) -> JSONObject:
        return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "system"}

    if req.segments[-1] != "models":
        return _json_reply(req, model(req.segments[-1]), anthropic=False)
    return _json_reply(req, {"object": "list", "data": [model(m) for m in _OPENAI_MODELS]}, anthropic=False)


# --------------------------------------------------------------------------- Anthropic


def _thinking_mode(body: JSONObject) -> str | None:
    """None when thinking is off, else the display mode ("summarized" or "omitted")."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in {"enabled", "adaptive", "between_tools"}:
        return None
    return "omitted" if thinking.get("display") == "omitted" else "summarized"


def _anthropic_format(body: JSONObject) -> object:
    config = body.get("output_config")
    if isinstance(config, dict) and config.get("format") is not None:
        return config.get("format")
    return body.get("output_format")


def _anthropic_messages(req: _Request, controls: _Controls) -> MockReply:
    body = req.json_object()
    model = _model(body, controls)
    thinking = _thinking_mode(body)
    pieces, cut = _reply_pieces(controls, _structured_text(_anthropic_format(body), controls), body.get("max_tokens"))
    text = "".join(pieces)
    thinking_pieces = _word_pieces(len(_THINKING_WORDS), _THINKING_WORDS) if thinking else []
    thinking_tokens = len(thinking_pieces) if thinking else None
    usage = _anthropic_usage(
        controls,
        input_tokens=_prompt_tokens(body.get("system"), body.get("messages")),
        output_tokens=_word_count(text) + (thinking_tokens or 0),
        thinking=thinking_tokens,
    )
    tier = controls.service_tier or "standard"
    speed = controls.speed or (body["speed"] if isinstance(body.get("speed"), str) else None)
    stop_reason = "max_tokens" if cut else "end_turn"
    signature = base64.b64encode(bytes.fromhex(req.digest)).decode()
    shown_thinking = "" if thinking == "omitted" else "".join(thinking_pieces)
    message: JSONObject = {
        "id": f"msg_mock{req.digest[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    if not body.get("stream"):
        content: list[JSONObject] = [{"type": "text", "text": text}]
        if thinking:
            content.insert(0, {"type": "thinking", "thinking": shown_thinking, "signature": signature})
        final_usage = _anthropic_usage_json(usage, output_tokens=usage.output, tier=tier, speed=speed, final=True)
        data = {**message, "content": content, "stop_reason": stop_reason, "usage": final_usage}
        return _json_reply(req, data, anthropic=True)

    start_usage = _anthropic_usage_json(usage, output_tokens=min(1, usage.output), tier=tier, speed=speed, final=False)
    payloads: list[JSONObject] = [
        {"type": "message_start", "message": {**message, "usage": start_usage}},
        {"type": "ping"},
    ]
    index = 0
    if thinking:
        block = {"type": "thinking", "thinking": "", "signature": ""}
        payloads.append({"type": "content_block_start", "index": index, "content_block": block})
        if thinking != "omitted":
            deltas = [{"type": "thinking_delta", "thinking": p} for p in thinking_pieces]
            payloads += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        delta = {"type": "signature_delta", "signature": signature}
        payloads.append({"type": "content_block_delta", "index": index, "delta": delta})
        payloads.append({"type": "content_block_stop", "index": index})
        index += 1
    payloads.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
    payloads += [
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}} for p in pieces
    ]
    payloads.append({"type": "content_block_stop", "index": index})
    if not controls.no_usage:
        # A message_delta without usage is invalid, so "no usage" means the stream just stops here.
        delta_usage: JSONObject = {
            "input_tokens": usage.input,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cache_read,
            "output_tokens": usage.output,  # cumulative, as the real API sends it
            **_anthropic_usage_extras(usage),
        }
        payloads.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": delta_usage,
            }
        )
        payloads.append({"type": "message_stop"})
    events = [_sse(p, str(p["type"])) for p in payloads]
    return _sse_reply(req, events, controls, anthropic=True)


def _anthropic_count_tokens(req: _Request, controls: _Controls) -> MockReply:
    """The whole prompt size: the same usage a message would get, cache parts included."""
    body = req.json_object()
    _model(body, controls)
    usage = _anthropic_usage(
        controls,
        input_tokens=_prompt_tokens(body.get("system"), body.get("messages")),
        output_tokens=0,
        thinking=None,
    )
    total = usage.input + usage.cache_read + usage.cache_write
    return _json_reply(req, {"input_tokens": total}, anthropic=True)


def _anthropic_batch(batch_id: str, *, ended: bool, results_url: str | None, requests: int = 2) -> JSONObject:
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": {
            "processing": 0 if ended else requests,
            "succeeded": requests if ended else 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        },
        "ended_at": _ISO_ENDED if ended else None,
        "created_at": _ISO_CREATED,
        "expires_at": _ISO_EXPIRES,
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": results_url if ended else None,
    }


def _anthropic_batches(req: _Request, controls: _Controls, base_url: str | None) -> MockReply:
    segments = req.segments
    at = len(segments) - 1 - segments[::-1].index("batches")
    prefix = "".join(f"/{s}" for s in segments[: at - 1])  # whatever precedes /messages/batches
    rest = segments[at + 1 :]
    root = (base_url or _ANTHROPIC_API).rstrip("/")

    def results_url(batch_id: str) -> str:
        return f"{root}{prefix}/messages/batches/{batch_id}/results"

    if not rest:
        if req.method == "POST":
            body = req.json_object()
            count = len(body["requests"]) if isinstance(body.get("requests"), list) else 0
            new_id = f"msgbatch_mock{req.digest[:24]}"
            return _json_reply(
                req, _anthropic_batch(new_id, ended=False, results_url=None, requests=count), anthropic=True
            )
        ids = [f"msgbatch_mock{i:04d}" for i in (1, 2)]
        page = {"data": [_anthropic_batch(i, ended=True, results_url=results_url(i)) for i in ids], "has_more": False}
        page.update(first_id=ids[0], last_id=ids[-1])
        return _json_reply(req, page, anthropic=True)
    batch_id = rest[0]
    if len(rest) == 1:
        batch = _anthropic_batch(batch_id, ended=True, results_url=results_url(batch_id))
        return _json_reply(req, batch, anthropic=True)
    # .../results: one JSON line per succeeded request, each a full Message with batch-tier usage.
    model = controls.model or _DEFAULT_ANTHROPIC_BATCH_MODEL
    text = "".join(_word_pieces(controls.chunks))
    usage = _anthropic_usage(controls, input_tokens=120, output_tokens=_word_count(text), thinking=None)
    tier = controls.service_tier or "batch"
    lines: list[bytes] = []
    for i in range(2):
        message = {
            "id": f"msg_mock{batch_id[-12:]}{i:04d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": _anthropic_usage_json(
                usage, output_tokens=usage.output, tier=tier, speed=controls.speed, final=True
            ),
        }
        lines.append(_dumps({"custom_id": f"request-{i}", "result": {"type": "succeeded", "message": message}}) + b"\n")
    jsonl = b"".join(lines)
    headers = _base_headers(req, True)
    headers["content-type"] = "application/binary"
    return MockReply(200, headers, jsonl, [jsonl])


_ACTIVE = {"lifecycle": "active"}


def _anthropic_models(req: _Request) -> MockReply:
    def model(model_id: str) -> JSONObject:
        return {"type": "model", "id": model_id, "display_name": model_id, "created_at": _ISO_CREATED, **_ACTIVE}

    if req.segments[-1] != "models":
        return _json_reply(req, model(req.segments[-1]), anthropic=True)
    ids = ["claude-sonnet-4-6", "claude-haiku-4-5"]
    page = {"data": [model(i) for i in ids], "has_more": False, "first_id": ids[0], "last_id": ids[-1]}
    return _json_reply(req, page, anthropic=True)


# --------------------------------------------------------------------------- routing


def _route(req: _Request, controls: _Controls, base_url: str | None) -> MockReply | None:
    """Match on path *suffixes*, so any base-URL prefix (/v1, proxies, Azure-style) works."""
    method, segs = req.method, req.segments
    if req.is_anthropic:
        if method == "POST" and req.tail("messages"):
            return _anthropic_messages(req, controls)
        if method == "POST" and req.tail("messages", "count_tokens"):
            return _anthropic_count_tokens(req, controls)
        if "batches" in segs:
            at = len(segs) - 1 - segs[::-1].index("batches")
            rest = segs[at + 1 :]
            shape_ok = at > 0 and segs[at - 1] == "messages"
            if shape_ok and (
                (not rest and method in {"GET", "POST"})
                or (len(rest) == 1 and method == "GET")
                or (len(rest) == 2 and rest[1] == "results" and method == "GET")
            ):
                return _anthropic_batches(req, controls, base_url)
        if method == "GET" and (req.tail("models") or (len(segs) >= 2 and segs[-2] == "models")):
            return _anthropic_models(req)
        return None
    if method == "POST" and req.tail("chat", "completions"):
        return _openai_chat(req, controls)
    if method == "POST" and req.tail("responses"):
        return _openai_responses(req, controls)
    if method == "POST" and req.tail("embeddings"):
        return _openai_embeddings(req, controls)
    batch_list = method in {"GET", "POST"} and req.tail("batches")
    if batch_list or (method == "GET" and len(segs) >= 2 and segs[-2] == "batches"):
        return _openai_batches(req, controls)
    if method == "GET" and (req.tail("models") or (len(segs) >= 2 and segs[-2] == "models")):
        return _openai_models(req)
    return None


def handle(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    base_url: str | None = None,
) -> MockReply:
    """Answer one request like the real provider would, deterministically and without state.

    The provider is Anthropic when the request carries ``anthropic-version`` or targets
    ``/messages``; otherwise OpenAI. ``base_url`` is where this fake is reachable; it only shapes
    the Anthropic batch ``results_url`` (default ``https://api.anthropic.com``).

    Optional request headers:

    * ``x-mock-usage``: JSON object of exact usage numbers. OpenAI keys: ``prompt_tokens``,
      ``completion_tokens``, ``cached_tokens``, ``cache_write_tokens``, ``reasoning_tokens``.
      Anthropic keys: ``input_tokens`` (uncached), ``output_tokens``, ``cache_read_input_tokens``,
      ``cache_creation_input_tokens``, ``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``,
      ``thinking_tokens``, ``web_search_requests``, ``web_fetch_requests``. Keys left out keep
      their derived values (input: 8 + characters of text // 4; output: words generated; details 0).
    * ``x-mock-service-tier`` / ``x-mock-speed`` / ``x-mock-model``: reported tier, speed, model.
    * ``x-mock-error``: an HTTP status; the reply is that provider's error body.
    * ``x-mock-chunks``: content delta events per stream, also the reply's word count (default 5).
    * ``x-mock-no-usage: 1``: streams carry no usage (Anthropic: no message_delta/message_stop).
    * ``x-mock-truncate``: cut a stream after that many events, like a dropped connection.
    """
    req = _Request.parse(method, path, headers, body)
    anthropic = req.is_anthropic
    try:
        controls = _parse_controls(req.headers)
        if controls.error is not None:
            return _error_reply(req, controls.error, anthropic=anthropic)
        reply = _route(req, controls, base_url)
    except _BadRequestError as exc:
        return _error_reply(req, 400, anthropic=anthropic, message=str(exc))
    if reply is None:
        message = f"Invalid URL ({req.method} {req.path})" if not anthropic else f"Not found: {req.method} {req.path}"
        return _error_reply(req, 404, anthropic=anthropic, message=message)
    return reply


# --------------------------------------------------------------------------- httpx MockTransport


class _ChunkIteration:
    """Hands SSE events over one by one to sync and async readers, then maybe fails mid-body."""

    def __init__(self, chunks: Sequence[bytes], error: Callable[[str], BaseException] | None) -> None:
        self._chunks = list(chunks)
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks
        if self._error is not None:
            raise self._error(_TRUNCATED_MESSAGE)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._error is not None:
            raise self._error(_TRUNCATED_MESSAGE)


@functools.cache
def _stream_class(module: ModuleType) -> type:
    """Subclass the module's stream bases: httpx checks isinstance, and ByteStream yields one blob."""
    return type("MockSSEStream", (_ChunkIteration, module.SyncByteStream, module.AsyncByteStream), {})


def _httpx_module(request: object) -> ModuleType:
    """Answer with the request's own library (httpx2, or plain httpx), so isinstance checks hold."""
    root = type(request).__module__.partition(".")[0]
    if root in {"httpx2", "httpx"} and root in sys.modules:
        return sys.modules[root]
    try:
        return importlib.import_module("httpx2")
    except ImportError:
        return importlib.import_module("httpx")


def mock_transport_handler(request: httpx2.Request) -> httpx2.Response:
    """Handler for ``httpx2.MockTransport`` (or ``httpx.MockTransport``), sync *and* async clients.

    MockTransport awaits a handler's result only when it is awaitable, so this sync handler also
    serves ``AsyncClient``; SSE bodies are streamed event by event in both cases.
    """
    module = _httpx_module(request)
    reply = handle(request.method, request.url.raw_path.decode("ascii"), request.headers, request.content)
    if reply.streaming:
        error = module.RemoteProtocolError if reply.truncated else None
        stream = _stream_class(module)(reply.chunks, error)
        streamed: httpx2.Response = module.Response(reply.status, headers=reply.headers, stream=stream, request=request)
        return streamed
    buffered: httpx2.Response = module.Response(
        reply.status, headers=reply.headers, content=reply.body, request=request
    )
    return buffered


async def async_mock_transport_handler(request: httpx2.Request) -> httpx2.Response:
    """Async twin of :func:`mock_transport_handler`, for code that insists on a coroutine."""
    return mock_transport_handler(request)


# --------------------------------------------------------------------------- loopback HTTP server


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


_SocketRequest = socket.socket | tuple[bytes, socket.socket]  # socketserver's request type


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, record: Callable[[RecordedRequest], None]) -> None:
        self.record = record
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)
        self.url = f"http://127.0.0.1:{self.server_port}"

    def server_bind(self) -> None:
        """Skip HTTPServer's reverse-DNS lookup of the host: it can stall without a resolver."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def process_request(self, request: _SocketRequest, client_address: object) -> None:
        if isinstance(request, socket.socket):
            with self.connections_lock:
                self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _SocketRequest) -> None:
        if isinstance(request, socket.socket):
            with self.connections_lock:
                self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: _SocketRequest, client_address: object) -> None:
        """Stay quiet when a client hangs up (or stop() drops it); print real bugs as usual."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections so stop() is prompt."""
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for plain replies, chunked encoding for SSE
    disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms to every small reply
    timeout = 60  # idle keep-alive connections end by themselves
    server: _HTTPServer

    def log_message(self, fmt: str, *args: object) -> None:
        """Keep test and demo output clean."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.record(RecordedRequest(self.command, self.path, headers, _parse_json(body), body))
        try:
            reply = handle(self.command, self.path, headers, body, base_url=self.server.url)
        except Exception as exc:  # a bug in the fake must not look like a hung connection
            data = _dumps({"error": {"message": f"mock_llm crashed: {exc!r}", "type": "server_error", "code": None}})
            reply = MockReply(500, {"content-type": "application/json"}, data, [data])
        try:
            self._write(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write(self, reply: MockReply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if not reply.streaming:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in reply.chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        if reply.truncated:
            self.close_connection = True  # no terminating chunk: the client sees a cut body
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class MockLLMServer:
    """The fake on a real loopback HTTP server, for clients that cannot take a custom transport.

    Usage::

        with MockLLMServer() as server:
            client = openai.OpenAI(api_key="test", base_url=server.openai_base_url)
            ...
            assert server.request_count == 1
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; set once started."""
        if self._url is None:
            raise RuntimeError("MockLLMServer is not started")
        return self._url

    @property
    def openai_base_url(self) -> str:
        """Base URL for ``openai.OpenAI(base_url=...)``."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for ``anthropic.Anthropic(base_url=...)``."""
        return self.url

    @property
    def request_count(self) -> int:
        """Requests received so far (safe to read while clients run)."""
        with self._lock:
            return len(self.requests)

    def clear_requests(self) -> None:
        """Forget recorded requests, e.g. between test phases."""
        with self._lock:
            self.requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> MockLLMServer:
        """Bind 127.0.0.1 and serve in a daemon thread; a no-op when already running."""
        if self._server is not None:
            return self
        server = _HTTPServer(self.port, self._record)
        self._url = server.url
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="mock-llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and join the thread; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
