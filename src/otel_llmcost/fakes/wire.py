"""What every fake provider API shares: the reply, the request, SSE framing, the x-mock-* controls, content.

A fake answers with bytes (:class:`Reply`) that either transport sends: the httpx MockTransport glue
(``transport.py``) or the loopback HTTP server (``server.py``). The deterministic routing (``routing.py``)
decides a reply from the request alone; the ``x-mock-*`` headers (:class:`Controls`) force usage, errors,
tiers and stream shapes. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

JSON = dict[str, Any]

CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z: a fixed clock keeps replies byte-identical.
ISO_CREATED = "2025-01-01T00:00:00Z"
ISO_ENDED = "2025-01-01T00:05:00Z"
ISO_EXPIRES = "2025-01-02T00:00:00Z"
WORDS = ("Hello", " there", ",", " friend", ".")
"""The scripted reply's pieces (tests): "Hello there, friend."."""
DEFAULT_CHUNKS = 5
MAX_CHUNKS = 10_000
REASONING_TOKENS = 16  # what a reasoning request reports when x-mock-usage does not say otherwise
GENERATED_WORDS = ("This", "is", "a", "deterministic", "reply", "from", "the", "mock", "LLM", "server.")
THINKING_WORDS = ("Working", "through", "the", "request", "step", "by", "step.")
TRUNCATED_MESSAGE = "peer closed connection without sending complete message body (incomplete chunked read)"


@dataclass(frozen=True)
class Reply:
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
        """Whether the reply is a stream (server-sent events, NDJSON): sent chunk by chunk."""
        return self.headers.get("content-type", "").startswith(("text/event-stream", "application/x-ndjson"))


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the loopback server received it, for assertions in tests."""

    method: str
    path: str
    """Path with the query string, as sent."""
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any
    """The parsed JSON body, or None when the body was empty or not JSON."""
    raw_body: bytes = b""


class BadRequestError(Exception):
    """A malformed request or x-mock-* header: answered with the provider's 400 error."""


@dataclass(frozen=True)
class Request:
    """One incoming request, parsed once: method, bare path, its segments, lower-cased headers, body digest."""

    method: str
    path: str
    segments: tuple[str, ...]
    headers: dict[str, str]
    body: bytes
    digest: str
    """sha256 of method, path and body: the seed of every id, so equal requests get equal replies."""

    @classmethod
    def parse(cls, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Request:
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

    def tail(self, *names: str) -> bool:
        return len(self.segments) >= len(names) and self.segments[-len(names) :] == names

    def json_object(self) -> JSON:
        try:
            data = json.loads(self.body or b"null")
        except ValueError as exc:
            raise BadRequestError(f"We could not parse the JSON body of your request: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequestError("The request body must be a JSON object.")
        return data


# --------------------------------------------------------------------------- x-mock-* controls


@dataclass(frozen=True)
class Controls:
    """The x-mock-* request headers, validated."""

    usage: JSON | None = None
    service_tier: str | None = None
    speed: str | None = None
    model: str | None = None
    error: int | None = None
    chunks: int = DEFAULT_CHUNKS
    no_usage: bool = False
    truncate: int | None = None

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> Controls:
        usage: JSON | None = None
        if "x-mock-usage" in headers:
            try:
                parsed = json.loads(headers["x-mock-usage"])
            except ValueError as exc:
                raise BadRequestError(f"x-mock-usage is not valid JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise BadRequestError("x-mock-usage must be a JSON object")
            usage = parsed
        chunks = _header_int(headers, "x-mock-chunks", 1, MAX_CHUNKS)
        return cls(
            usage=usage,
            service_tier=headers.get("x-mock-service-tier") or None,
            speed=headers.get("x-mock-speed") or None,
            model=headers.get("x-mock-model") or None,
            error=_header_int(headers, "x-mock-error", 400, 599),
            chunks=DEFAULT_CHUNKS if chunks is None else chunks,
            no_usage=headers.get("x-mock-no-usage", "").strip().lower() in {"1", "true", "yes", "on"},
            truncate=_header_int(headers, "x-mock-truncate", 0, 1_000_000),
        )

    def forced_usage(self, allowed: frozenset[str]) -> dict[str, int]:
        """The x-mock-usage numbers, checked against the provider's key names so typos fail loudly."""
        if self.usage is None:
            return {}
        unknown = sorted(set(self.usage) - allowed)
        if unknown:
            raise BadRequestError(f"x-mock-usage: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        forced: dict[str, int] = {}
        for key, value in self.usage.items():
            if key == "server_tool_use":
                if not isinstance(value, dict):
                    raise BadRequestError("x-mock-usage: server_tool_use must be an object")
                for sub in ("web_search_requests", "web_fetch_requests"):
                    if sub in value:
                        forced[sub] = _count(value[sub], sub)
            else:
                forced[key] = _count(value, key)
        return forced

    def model_of(self, body: JSON) -> str:
        """The model to report: x-mock-model, else the request's (which must name one)."""
        if self.model:
            return self.model
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequestError("You must provide a model parameter.")
        return model


def _header_int(headers: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadRequestError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequestError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequestError(f"x-mock-usage: {name} must be a non-negative integer, got {value!r}")
    return value


# --------------------------------------------------------------------------- framing


def dumps(data: object) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()


def sse(data: object, event: str | None = None) -> bytes:
    """One server-sent event frame (``data`` a string is sent as is, e.g. ``[DONE]``)."""
    payload = data if isinstance(data, str) else dumps(data).decode()
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def json_reply(data: object, headers: Mapping[str, str], *, status: int = 200) -> Reply:
    body = dumps(data)
    return Reply(status, dict(headers), body, [body])


def sse_reply(events: list[bytes], headers: Mapping[str, str], truncate: int | None = None) -> Reply:
    """An event-stream reply, cut after ``truncate`` events when that is fewer than all."""
    truncated = truncate is not None and truncate < len(events)
    if truncated:
        events = events[:truncate]
    sent = dict(headers)
    sent["content-type"] = "text/event-stream; charset=utf-8"
    sent["cache-control"] = "no-cache"
    return Reply(200, sent, b"".join(events), events, truncated)


def retry_now(headers: dict[str, str], status: int) -> None:
    """retry-after-ms wins in the SDKs: an instant retry keeps retrying tests fast."""
    if status in {408, 409, 429} or status >= 500:
        headers["retry-after"] = "0"
        headers["retry-after-ms"] = "1"


# --------------------------------------------------------------------------- content


def _collect_text(value: object, out: list[str]) -> None:
    """Gather the prose of messages/system/input, skipping roles, ids and image payloads."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            _collect_text(item, out)
    elif isinstance(value, dict):
        for key in ("text", "content", "thinking", "output", "arguments", "parts"):
            if key in value:
                _collect_text(value[key], out)


def prompt_tokens(*sources: object) -> int:
    """8 tokens of overhead plus one per four characters of text: stable and roughly realistic."""
    texts: list[str] = []
    for source in sources:
        _collect_text(source, texts)
    return 8 + sum(len(t) for t in texts) // 4


def word_count(text: str) -> int:
    return len(text.split())


def word_pieces(count: int, words: Sequence[str] = GENERATED_WORDS) -> list[str]:
    return [(" " if i else "") + words[i % len(words)] for i in range(count)]


def split_even(text: str, parts: int) -> list[str]:
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


def split_ceil(text: str, parts: int = 3) -> tuple[str, ...]:
    """Split into pieces of ``ceil(len / parts)`` characters (the scripted fakes' structured stream)."""
    step = -(-len(text) // parts)
    return tuple(text[i : i + step] for i in range(0, len(text), step))


_STRING_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00",
    "email": "x@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _resolve_ref(ref: str, root: JSON) -> object:
    node: object = root
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def _bounded(value: float, schema: JSON) -> float:
    if isinstance(schema.get("minimum"), (int, float)):
        value = max(value, schema["minimum"])
    if isinstance(schema.get("exclusiveMinimum"), (int, float)) and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + 1
    if isinstance(schema.get("maximum"), (int, float)):
        value = min(value, schema["maximum"])
    return value


def sample(schema: object, root: JSON, depth: int = 0) -> object:
    """A plausible value satisfying a (simple) JSON schema, so SDK ``.parse()`` helpers succeed."""
    if not isinstance(schema, dict) or depth > 12:
        return "x"
    if isinstance(schema.get("$ref"), str):
        return sample(_resolve_ref(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return sample((non_null or options)[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: sample(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        min_items = schema.get("minItems")
        if isinstance(min_items, int) and min_items > 0:
            return [sample(schema.get("items", {}), root, depth + 1) for _ in range(min_items)]
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


def structured_text(fmt: object, controls: Controls) -> str | None:
    """JSON text for a json_schema / json_object output format, else None (plain prose)."""
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        nested = fmt.get("json_schema")  # Chat Completions nests it one level deeper
        if schema is None and isinstance(nested, dict):
            schema = nested.get("schema")
        root = schema if isinstance(schema, dict) else {}
        return json.dumps(sample(root, root))
    if fmt.get("type") == "json_object":
        return json.dumps({"reply": "".join(word_pieces(controls.chunks))})
    return None


def reply_pieces(controls: Controls, structured: str | None, limit: object) -> tuple[list[str], bool]:
    """The content deltas of a reply and whether ``max_tokens`` cut it (one word = one token)."""
    if structured is not None:
        return split_even(structured, controls.chunks), False
    words = controls.chunks
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < words:
        return word_pieces(limit), True
    return word_pieces(words), False


def int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def object_at(body: JSON, key: str) -> JSON:
    """``body[key]`` when it is a JSON object, else an empty one."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def list_at(body: JSON, key: str) -> list[Any]:
    """``body[key]`` when it is a JSON array, else an empty one."""
    value = body.get(key)
    return value if isinstance(value, list) else []
