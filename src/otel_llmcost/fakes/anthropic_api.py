"""A fake of the Anthropic HTTP API: its bodies, its deterministic routes, and a scripted fake for the tests.

One set of body builders (``Tokens.usage``/``delta``, ``message``, ``message_events``, ``batch``, ``batch_result``,
``error``), with the field names of the SDK's own types (``Message``, ``Usage``, ``MessageDeltaUsage``,
``MessageBatch``, the raw stream events), serves two callers:

* :func:`route`, the deterministic fake the demo and the loopback server use (``x-mock-*`` headers);
* :class:`FakeAnthropic`, the scripted fake of the tests: first-party paths, Bedrock's ``/model/{id}/invoke`` and
  Vertex's ``:rawPredict``, exact usage, failures, broken streams, batches; it records what was sent.

No SDK is imported until a client is asked for.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .transport import default_http, dropped, frame_stream
from .wire import (
    GENERATED_WORDS,
    ISO_CREATED,
    ISO_ENDED,
    ISO_EXPIRES,
    JSON,
    THINKING_WORDS,
    WORDS,
    Controls,
    Reply,
    Request,
    json_reply,
    prompt_tokens,
    reply_pieces,
    retry_now,
    sse,
    sse_reply,
    structured_text,
    word_count,
    word_pieces,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import anthropic

API = "https://api.anthropic.com"
USAGE_KEYS = frozenset(
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
"""The x-mock-usage keys of an Anthropic request."""
_DEFAULT_BATCH_MODEL = "claude-haiku-4-5"  # not on the SDK's deprecation list
_MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5")

ERRORS: dict[int, str] = {
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
"""HTTP status -> the error type the real API names."""


# --------------------------------------------------------------------------- usage


@dataclass(frozen=True)
class Tokens:
    """Usage as Anthropic reports it: ``input`` EXCLUDES cache reads and writes; ``output`` INCLUDES thinking."""

    input: int = 100
    output: int = 20
    cache_read: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    split: bool = True
    """Send the cache_creation breakdown (5m / 1h)."""
    thinking: int | None = None
    service_tier: str | None = "standard"
    speed: str | None = None
    web_search: int | None = None
    web_fetch: int | None = None
    cache_write: int | None = None
    """cache_creation_input_tokens when it is not the sum of the 5m and 1h parts."""
    inference_geo: str | None = None
    """Where inference ran ("us": US-only inference, billed 1.1x; "global")."""

    @property
    def cache_creation(self) -> int:
        return self.cache_5m + self.cache_1h if self.cache_write is None else self.cache_write

    def extras(self) -> JSON:
        """The output breakdown and server tool counts (a final usage's, not message_start's)."""
        data: JSON = {}
        if self.thinking is not None:
            data["output_tokens_details"] = {"thinking_tokens": self.thinking}
        if self.web_search is not None or self.web_fetch is not None:
            data["server_tool_use"] = {
                "web_search_requests": self.web_search or 0,
                "web_fetch_requests": self.web_fetch or 0,
            }
        return data

    def usage(self, output: int | None = None, *, final: bool = True) -> JSON:
        """A Message's ``Usage``; ``final=False`` is the message_start flavour (placeholder output, no breakdown)."""
        data: JSON = {
            "input_tokens": self.input,
            "output_tokens": self.output if output is None else output,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation_input_tokens": self.cache_creation,
        }
        if self.split:
            data["cache_creation"] = {
                "ephemeral_5m_input_tokens": self.cache_5m,
                "ephemeral_1h_input_tokens": self.cache_1h,
            }
        if self.service_tier is not None:
            data["service_tier"] = self.service_tier
        if self.speed is not None:
            data["speed"] = self.speed
        if self.inference_geo is not None:
            data["inference_geo"] = self.inference_geo
        if final:
            data.update(self.extras())
        return data

    def delta(self, with_input: bool = False) -> JSON:
        """message_delta's ``MessageDeltaUsage``: running totals; input and cache only when ``with_input``."""
        data: JSON = {"output_tokens": self.output}
        if with_input:
            data["input_tokens"] = self.input
            data["cache_read_input_tokens"] = self.cache_read
            data["cache_creation_input_tokens"] = self.cache_creation
        data.update(self.extras())
        return data

    @classmethod
    def forced(cls, controls: Controls, *, input_tokens: int, output_tokens: int, thinking: int | None) -> Tokens:
        """The x-mock-usage numbers are exact, the rest derived; a cache write with no TTL split counts as 5-minute
        (the API's default)."""
        forced = controls.forced_usage(USAGE_KEYS)
        output = forced.get("output_tokens", output_tokens)
        eph_5m = forced.get("ephemeral_5m_input_tokens")
        eph_1h = forced.get("ephemeral_1h_input_tokens")
        cache_write = forced.get("cache_creation_input_tokens")
        if cache_write is not None and eph_5m is None and eph_1h is None:
            eph_5m = cache_write
        if "thinking_tokens" in forced:
            thinking = forced["thinking_tokens"]
        elif thinking is not None:
            thinking = min(thinking, output)
        tools = "web_search_requests" in forced or "web_fetch_requests" in forced
        return cls(
            input=forced.get("input_tokens", input_tokens),
            output=output,
            cache_read=forced.get("cache_read_input_tokens", 0),
            cache_5m=eph_5m or 0,
            cache_1h=eph_1h or 0,
            cache_write=cache_write,
            thinking=thinking,
            service_tier=controls.service_tier or "standard",
            speed=controls.speed,
            web_search=forced.get("web_search_requests", 0) if tools else None,
            web_fetch=forced.get("web_fetch_requests", 0) if tools else None,
        )


# --------------------------------------------------------------------------- bodies


def message(
    model: str,
    tokens: Tokens,
    text: str = "".join(WORDS),
    msg_id: str = "msg_01",
    *,
    stop_reason: str = "end_turn",
    thinking: JSON | None = None,
) -> JSON:
    """A ``Message`` with one text block (after a ``thinking`` block when given)."""
    content: list[JSON] = [{"type": "text", "text": text}]
    if thinking is not None:
        content.insert(0, thinking)
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": tokens.usage(),
    }


def message_events(
    model: str,
    tokens: Tokens,
    *,
    pieces: Sequence[str] = WORDS,
    msg_id: str = "msg_01",
    stop_reason: str = "end_turn",
    delta_with_input: bool = False,
    thinking: Sequence[str] | None = None,
    signature: str = "",
    with_usage: bool = True,
) -> list[JSON]:
    """The raw events of a streamed Message. output_tokens in message_start is a placeholder, message_delta's the
    running total; ``thinking`` pieces stream a thinking block first (no pieces: display omitted, the signature
    only); without usage the stream ends after the last block (a message_delta without usage is invalid)."""
    start = {**message(model, tokens, msg_id=msg_id), "content": [], "stop_reason": None}
    start["usage"] = tokens.usage(output=min(1, tokens.output), final=False)
    events: list[JSON] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    index = 0
    if thinking is not None:
        block = {"type": "thinking", "thinking": "", "signature": ""}
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        deltas = [{"type": "thinking_delta", "thinking": p} for p in thinking]
        deltas.append({"type": "signature_delta", "signature": signature})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    events.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
    events += [
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}} for p in pieces
    ]
    events.append({"type": "content_block_stop", "index": index})
    if with_usage:
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        events.append({"type": "message_delta", "delta": delta, "usage": tokens.delta(delta_with_input)})
        events.append({"type": "message_stop"})
    return events


def stream_frames(model: str, tokens: Tokens, delta_with_input: bool = False, msg_id: str = "msg_01") -> list[bytes]:
    """The SSE frames of a streamed Message (see :func:`message_events`)."""
    return sse_frames(message_events(model, tokens, delta_with_input=delta_with_input, msg_id=msg_id))


def sse_frames(events: list[JSON]) -> list[bytes]:
    """One ``event:``/``data:`` frame per event, as the API streams them."""
    return [sse(event, str(event["type"])) for event in events]


def batch(
    batch_id: str,
    base_url: str = API,
    *,
    ended: bool = True,
    succeeded: int = 2,
    errored: int = 1,
    results_url: str | None = None,
) -> JSON:
    """A ``MessageBatch``: ended (with a results URL) or still in progress."""
    counts = {"processing": 0, "succeeded": succeeded, "errored": errored, "canceled": 0, "expired": 0}
    if not ended:
        counts = {"processing": succeeded + errored, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": counts,
        "created_at": ISO_CREATED,
        "ended_at": ISO_ENDED if ended else None,
        "expires_at": ISO_EXPIRES,
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": (results_url or f"{base_url}/v1/messages/batches/{batch_id}/results") if ended else None,
    }


def batch_result(custom_id: str, model: str, tokens: Tokens, text: str = "".join(WORDS)) -> JSON:
    """One line of a batch's results: a succeeded request and its Message."""
    msg = message(model, tokens, text, msg_id=f"msg_{custom_id}")
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": msg}}


def batch_error(custom_id: str) -> JSON:
    """One line of a batch's results: an errored request."""
    failure = error("invalid_request_error", "bad request")
    return {"custom_id": custom_id, "result": {"type": "errored", "error": failure}}


def error(kind: str, message: str, request_id: str | None = None) -> JSON:
    """An error body (``{"type": "error", "error": {...}}``); the SDK raises the class of its status."""
    body: JSON = {"type": "error", "error": {"type": kind, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_kind(status: int) -> str:
    """The error type the API names for an HTTP status."""
    return ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")


# --------------------------------------------------------------------------- deterministic routes


def is_anthropic(req: Request) -> bool:
    """Anthropic's SDK always sends anthropic-version; its paths live under /messages."""
    if "anthropic-version" in req.headers:
        return True
    return "messages" in req.segments and "threads" not in req.segments


def headers(req: Request) -> dict[str, str]:
    return {"content-type": "application/json", "request-id": f"req_mock{req.digest[:20]}"}


def error_reply(req: Request, status: int, message: str | None = None) -> Reply:
    """The real error body shape, so the SDK raises its proper exception class."""
    kind = error_kind(status)
    body = error(kind, message or f"Mock {kind} (HTTP {status}).", f"req_mock{req.digest[:20]}")
    reply = json_reply(body, headers(req), status=status)
    retry_now(reply.headers, status)
    if status >= 500:
        reply.headers["x-should-retry"] = "true"
    return reply


def _thinking_mode(body: JSON) -> str | None:
    """None when thinking is off, else the display mode ("summarized" or "omitted")."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in {"enabled", "adaptive", "between_tools"}:
        return None
    return "omitted" if thinking.get("display") == "omitted" else "summarized"


def _output_format(body: JSON) -> object:
    config = body.get("output_config")
    if isinstance(config, dict) and config.get("format") is not None:
        return config.get("format")
    return body.get("output_format")


def _messages(req: Request, controls: Controls) -> Reply:
    body = req.json_object()
    model = controls.model_of(body)
    mode = _thinking_mode(body)
    pieces, cut = reply_pieces(controls, structured_text(_output_format(body), controls), body.get("max_tokens"))
    text = "".join(pieces)
    thinking_pieces = word_pieces(len(THINKING_WORDS), THINKING_WORDS) if mode else []
    thinking_tokens = len(thinking_pieces) if mode else None
    tokens = Tokens.forced(
        controls,
        input_tokens=prompt_tokens(body.get("system"), body.get("messages")),
        output_tokens=word_count(text) + (thinking_tokens or 0),
        thinking=thinking_tokens,
    )
    if controls.speed is None and isinstance(body.get("speed"), str):
        tokens = dataclasses.replace(tokens, speed=body["speed"])
    signature = base64.b64encode(bytes.fromhex(req.digest)).decode()
    shown = [] if mode == "omitted" else thinking_pieces
    common: JSON = {"msg_id": f"msg_mock{req.digest[:24]}", "stop_reason": "max_tokens" if cut else "end_turn"}
    if not body.get("stream"):
        block = {"type": "thinking", "thinking": "".join(shown), "signature": signature} if mode else None
        return json_reply(message(model, tokens, text, thinking=block, **common), headers(req))
    events = message_events(
        model,
        tokens,
        pieces=pieces,
        delta_with_input=True,
        thinking=shown if mode else None,
        signature=signature,
        with_usage=not controls.no_usage,
        **common,
    )
    return sse_reply(sse_frames(events), headers(req), controls.truncate)


def _count_tokens(req: Request, controls: Controls) -> Reply:
    """The whole prompt size: the same usage a message would get, cache parts included."""
    body = req.json_object()
    controls.model_of(body)
    tokens = Tokens.forced(
        controls, input_tokens=prompt_tokens(body.get("system"), body.get("messages")), output_tokens=0, thinking=None
    )
    return json_reply({"input_tokens": tokens.input + tokens.cache_read + tokens.cache_creation}, headers(req))


def _batches(req: Request, controls: Controls, base_url: str | None) -> Reply:
    segments = req.segments
    at = len(segments) - 1 - segments[::-1].index("batches")
    prefix = "".join(f"/{s}" for s in segments[: at - 1])  # whatever precedes /messages/batches
    rest = segments[at + 1 :]
    root = (base_url or API).rstrip("/")

    def ended(batch_id: str) -> JSON:
        return batch(batch_id, errored=0, results_url=f"{root}{prefix}/messages/batches/{batch_id}/results")

    if not rest:
        if req.method == "POST":
            body = req.json_object()
            count = len(body["requests"]) if isinstance(body.get("requests"), list) else 0
            created = batch(f"msgbatch_mock{req.digest[:24]}", ended=False, succeeded=count, errored=0)
            return json_reply(created, headers(req))
        ids = [f"msgbatch_mock{i:04d}" for i in (1, 2)]
        page = {"data": [ended(i) for i in ids], "has_more": False, "first_id": ids[0], "last_id": ids[-1]}
        return json_reply(page, headers(req))
    batch_id = rest[0]
    if len(rest) == 1:
        return json_reply(ended(batch_id), headers(req))
    # .../results: one JSON line per succeeded request, each a full Message with batch-tier usage.
    model = controls.model or _DEFAULT_BATCH_MODEL
    text = "".join(word_pieces(controls.chunks, GENERATED_WORDS))
    tokens = Tokens.forced(controls, input_tokens=120, output_tokens=word_count(text), thinking=None)
    tokens = dataclasses.replace(tokens, service_tier=controls.service_tier or "batch")
    lines = []
    for i in range(2):
        line = batch_result(f"request-{i}", model, tokens, text)
        line["result"]["message"]["id"] = f"msg_mock{batch_id[-12:]}{i:04d}"
        lines.append(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    jsonl = b"".join(lines)
    sent = headers(req)
    sent["content-type"] = "application/binary"
    return Reply(200, sent, jsonl, [jsonl])


def _models(req: Request) -> Reply:
    def model(model_id: str) -> JSON:
        return {
            "type": "model",
            "id": model_id,
            "display_name": model_id,
            "created_at": ISO_CREATED,
            "lifecycle": "active",
        }

    if req.segments[-1] != "models":
        return json_reply(model(req.segments[-1]), headers(req))
    page = {"data": [model(i) for i in _MODELS], "has_more": False, "first_id": _MODELS[0], "last_id": _MODELS[-1]}
    return json_reply(page, headers(req))


def route(req: Request, controls: Controls, base_url: str | None = None) -> Reply | None:
    """Match on path suffixes (any prefix works); None: no such route. ``base_url`` shapes batch results URLs."""
    method, segs = req.method, req.segments
    if method == "POST" and req.tail("messages"):
        return _messages(req, controls)
    if method == "POST" and req.tail("messages", "count_tokens"):
        return _count_tokens(req, controls)
    if "batches" in segs:
        at = len(segs) - 1 - segs[::-1].index("batches")
        rest = segs[at + 1 :]
        shape_ok = at > 0 and segs[at - 1] == "messages"
        if shape_ok and (
            (not rest and method in {"GET", "POST"})
            or (len(rest) == 1 and method == "GET")
            or (len(rest) == 2 and rest[1] == "results" and method == "GET")
        ):
            return _batches(req, controls, base_url)
    if method == "GET" and (req.tail("models") or (len(segs) >= 2 and segs[-2] == "models")):
        return _models(req)
    return None


# --------------------------------------------------------------------------- the scripted fake (tests)

_BEDROCK = re.compile(r"/model/(?P<model>.+)/(?P<op>invoke|invoke-with-response-stream)$")
_VERTEX = re.compile(r"/models/(?P<model>[^/:]+):(?P<op>rawPredict|streamRawPredict)$")


@dataclass
class FakeAnthropic:
    """A scripted Anthropic API for MockTransport. Attributes choose what the next replies carry; ``requests``
    records what was sent. Bodies are unread streams, as on the wire."""

    model: str | None = None
    """Model reported in responses; None echoes the request's model."""
    tokens: Tokens = field(default_factory=Tokens)
    fail: tuple[int, str] | None = None
    """(HTTP status, error type) to answer every request with."""
    fail_after: int | None = None
    """Break each stream after this many frames, like a dropped connection."""
    delta_with_input: bool = False
    """message_delta also carries the input and cache totals (as the API may)."""
    count: int = 42
    batches: dict[str, list[JSON]] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)

    @property
    def http(self) -> Any:
        """The HTTP library (httpx2 or httpx) of the installed anthropic SDK."""
        return default_http()

    def __call__(self, request: Any) -> Any:
        http = self.http
        self.requests.append(request)
        path = request.url.path
        raw = request.read()
        body: JSON = json.loads(raw) if raw else {}
        if self.fail is not None:
            status, kind = self.fail
            return http.Response(status, json=error(kind, f"scripted {status}"), headers={"request-id": "req_err"})
        stream = body.get("stream") is True
        model = body.get("model")
        if (found := _BEDROCK.search(path)) is not None:
            model = unquote(found["model"])
            stream = found["op"] == "invoke-with-response-stream"
        elif (found := _VERTEX.search(path)) is not None:
            model = found["model"]
            stream = found["op"] == "streamRawPredict"
            if model == "count-tokens":
                return self._json({"input_tokens": self.count})
        elif path.endswith("/v1/messages/count_tokens"):
            return self._json({"input_tokens": self.count})
        elif "/v1/messages/batches/" in path:
            return self._batches(path)
        elif not path.endswith("/v1/messages"):
            return http.Response(404, json=error("not_found_error", path))
        answer = self.model or model or "claude-unknown"
        if stream:
            frames = stream_frames(answer, self.tokens, self.delta_with_input)
            failure = None
            if self.fail_after is not None and self.fail_after < len(frames):
                frames, failure = frames[: self.fail_after], dropped(http)
            headers = {"content-type": "text/event-stream", "request-id": "req_stream"}
            return http.Response(200, headers=headers, stream=frame_stream(http, frames, failure))
        return self._json(message(answer, self.tokens))

    def _json(self, data: Any, content_type: str = "application/json") -> Any:
        body = json.dumps(data).encode() if content_type == "application/json" else data
        headers = {"content-type": content_type, "request-id": "req_01"}
        return self.http.Response(200, headers=headers, stream=frame_stream(self.http, [body]))

    def _batches(self, path: str) -> Any:
        parts = path.rstrip("/").split("/")
        if parts[-1] == "results":
            lines = "".join(json.dumps(entry) + "\n" for entry in self.batches[parts[-2]]).encode()
            return self._json(lines, "application/binary")
        return self._json(batch(parts[-1]))

    # --- clients -----------------------------------------------------------------------------------
    def transport(self) -> Any:
        return self.http.MockTransport(self)

    def client(self, **options: Any) -> anthropic.Anthropic:
        import anthropic

        options.setdefault("base_url", API)
        http_client = self.http.Client(transport=self.transport())
        return anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, http_client=http_client, **options)

    def async_client(self, **options: Any) -> anthropic.AsyncAnthropic:
        import anthropic

        options.setdefault("base_url", API)
        http_client = self.http.AsyncClient(transport=self.transport())
        return anthropic.AsyncAnthropic(api_key="sk-ant-test", max_retries=0, http_client=http_client, **options)

    def bedrock(self, **options: Any) -> Any:
        """AnthropicBedrock in us-east-1; anthropic 2.x signs with an API key, older ones with SigV4 (botocore),
        which a subclass skips here (only the signature, nothing of the request or response)."""
        import anthropic

        common = {
            "aws_region": "us-east-1",
            "max_retries": 0,
            "http_client": self.http.Client(transport=self.transport()),
        }
        common.update(options)
        version = tuple(int(p) for p in anthropic.__version__.split(".")[:2])
        if version >= (2, 0):
            return anthropic.AnthropicBedrock(api_key="bedrock-key", **common)

        class UnsignedBedrock(anthropic.AnthropicBedrock):
            def _prepare_request(self, request: Any) -> None:
                return None

        return UnsignedBedrock(aws_access_key="AK", aws_secret_key="SK", **common)

    def vertex(self, **options: Any) -> Any:
        import anthropic

        http_client = self.http.Client(transport=self.transport())
        return anthropic.AnthropicVertex(
            region="us-east5", project_id="proj", access_token="tok", max_retries=0, http_client=http_client, **options
        )

    def foundry(self, **options: Any) -> Any:
        import anthropic

        http_client = self.http.Client(transport=self.transport())
        return anthropic.AnthropicFoundry(
            api_key="foundry-key", resource="res", max_retries=0, http_client=http_client, **options
        )
