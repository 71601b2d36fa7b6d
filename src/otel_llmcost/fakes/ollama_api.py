"""A fake of the Ollama HTTP API: its bodies, deterministic routes, and a scripted fake for the tests.

Bodies have the shape of ``/api/chat``, ``/api/generate``, ``/api/embed`` and ``/api/embeddings`` (the SDK's
``ChatResponse``, ``GenerateResponse``, ``EmbedResponse``), with counts and durations (nanoseconds); streams are
NDJSON whose final ``done`` line carries them. :func:`route` is the deterministic fake (``x-mock-*`` headers, see
:func:`otel_llmcost.fakes.routing.handle`); :class:`FakeOllama` is the tests' scripted httpx MockTransport handler
(the ollama SDK uses httpx) that records what was asked. No SDK is imported until a client is asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .wire import (
    JSON,
    WORDS,
    Controls,
    Reply,
    Request,
    int_or,
    json_reply,
    object_at,
    prompt_tokens,
    reply_pieces,
    structured_text,
    word_count,
)

if TYPE_CHECKING:
    import httpx
    import ollama

HOST = "http://127.0.0.1:11434"
CREATED_AT = "2026-11-23T10:00:00.000000Z"
USAGE_KEYS = frozenset({"prompt_eval_count", "eval_count"})
"""The x-mock-usage keys of an Ollama request (its own names)."""
PATHS = frozenset({"chat", "generate", "embed", "embeddings"})
_TOTAL_DURATION_NS = 5_191_566_416


def piece(model: str, text: str, chat: bool) -> JSON:
    """One streamed line (not done): a chat ``message`` or a generate ``response``."""
    data: JSON = {"model": model, "created_at": CREATED_AT, "done": False}
    if chat:
        data["message"] = {"role": "assistant", "content": text}
    else:
        data["response"] = text
    return data


def final(model: str, *, prompt_eval_count: int | None, eval_count: int, total_duration_ns: int) -> JSON:
    """The ``done`` fields: reason, counts and durations."""
    data: JSON = {
        "model": model,
        "created_at": CREATED_AT,
        "done": True,
        "done_reason": "stop",
        "total_duration": total_duration_ns,
        "load_duration": 2_019_791,
        "prompt_eval_duration": 383_809_000,
        "eval_count": eval_count,
        "eval_duration": 4_799_921_000,
    }
    if prompt_eval_count is not None:
        data["prompt_eval_count"] = prompt_eval_count
    return data


def embed(model: str, inputs: int, *, prompt_eval_count: int | None, total_duration_ns: int) -> JSON:
    """An ``/api/embed`` reply: one vector per input."""
    return {
        "model": model,
        "embeddings": [[0.1, 0.2, 0.3] for _ in range(inputs)],
        "total_duration": total_duration_ns,
        "load_duration": 2_019_791,
        "prompt_eval_count": prompt_eval_count,
    }


def ndjson(lines: list[JSON]) -> bytes:
    return ("\n".join(json.dumps(line) for line in lines) + "\n").encode()


def error(message: str) -> JSON:
    """Ollama's error body: one string."""
    return {"error": message}


# --------------------------------------------------------------------------- deterministic routes


def is_ollama(req: Request) -> bool:
    """``/api/chat``, ``/api/generate``, ``/api/embed`` or ``/api/embeddings``."""
    return len(req.segments) >= 2 and req.segments[-2] == "api" and req.segments[-1] in PATHS


def headers(req: Request) -> dict[str, str]:
    return {"content-type": "application/json; charset=utf-8"}


def error_reply(req: Request, status: int, message: str | None = None) -> Reply:
    return json_reply(error(message or f"mock error (HTTP {status})"), headers(req), status=status)


def route(req: Request, controls: Controls) -> Reply | None:
    """The four endpoints of the Ollama API; None: no such route."""
    if req.method != "POST" or not is_ollama(req):
        return None
    body = req.json_object()
    model = controls.model_of(body)
    forced = controls.forced_usage(USAGE_KEYS)
    endpoint = req.segments[-1]
    if endpoint in ("embed", "embeddings"):
        raw = body.get("input", body.get("prompt"))
        inputs = raw if isinstance(raw, list) else [raw]
        prompt = forced.get("prompt_eval_count", prompt_tokens(inputs))
        if endpoint == "embeddings":
            return json_reply({"embedding": [0.1, 0.2, 0.3]}, headers(req))
        reply = embed(model, len(inputs), prompt_eval_count=prompt, total_duration_ns=_TOTAL_DURATION_NS)
        return json_reply(reply, headers(req))
    chat = endpoint == "chat"
    options = object_at(body, "options")
    fmt = body.get("format")
    wanted = {"type": "json_schema", "schema": fmt} if isinstance(fmt, dict) else {"type": "json_object"}
    if fmt is None:
        wanted = {}
    pieces, cut = reply_pieces(controls, structured_text(wanted, controls), int_or(options.get("num_predict"), 0))
    text = "".join(pieces)
    counts = final(
        model,
        prompt_eval_count=forced.get(
            "prompt_eval_count", prompt_tokens(body.get("system"), body.get("messages" if chat else "prompt"))
        ),
        eval_count=forced.get("eval_count", word_count(text)),
        total_duration_ns=_TOTAL_DURATION_NS,
    )
    if cut:
        counts["done_reason"] = "length"
    if body.get("stream", True) is False:
        return json_reply({**piece(model, text, chat), **counts}, headers(req))
    lines = [json.dumps(piece(model, p, chat)).encode() + b"\n" for p in pieces]
    if not controls.no_usage:
        lines.append(json.dumps({**piece(model, "", chat), **counts}).encode() + b"\n")
    if controls.truncate is not None and controls.truncate < len(lines):
        return Reply(
            200,
            {"content-type": "application/x-ndjson"},
            b"".join(lines[: controls.truncate]),
            lines[: controls.truncate],
            truncated=True,
        )
    return Reply(200, {"content-type": "application/x-ndjson"}, b"".join(lines), lines)


@dataclass
class FakeOllama:
    prompt_eval_count: int | None = 26
    eval_count: int = 298
    total_duration_ns: int = 5_191_566_416
    fail_status: int | None = None
    requests: list[JSON] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def _final(self, model: str) -> JSON:
        return final(
            model,
            prompt_eval_count=self.prompt_eval_count,
            eval_count=self.eval_count,
            total_duration_ns=self.total_duration_ns,
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import httpx

        body: JSON = json.loads(request.content or b"{}")
        self.requests.append(body)
        path = request.url.path
        self.paths.append(path)
        if self.fail_status is not None:
            return httpx.Response(self.fail_status, json={"error": f"model '{body.get('model')}' not found"})
        model = body.get("model", "")
        if path == "/api/embed":
            count = len(body["input"]) if isinstance(body["input"], list) else 1
            reply = embed(
                model, count, prompt_eval_count=self.prompt_eval_count, total_duration_ns=self.total_duration_ns
            )
            return httpx.Response(200, json=reply)
        if path == "/api/embeddings":
            return httpx.Response(200, json={"embedding": [0.1, 0.2, 0.3]})
        chat = path == "/api/chat"
        if body.get("stream", True):
            lines = [piece(model, word, chat) for word in WORDS]
            lines.append({**piece(model, "", chat), **self._final(model)})
            return httpx.Response(200, content=ndjson(lines))
        return httpx.Response(200, json={**piece(model, "".join(WORDS), chat), **self._final(model)})


def sync_client(fake: FakeOllama, host: str = HOST) -> ollama.Client:
    import httpx
    import ollama

    return ollama.Client(host=host, transport=httpx.MockTransport(fake))


def async_client(fake: FakeOllama, host: str = HOST) -> ollama.AsyncClient:
    import httpx
    import ollama

    return ollama.AsyncClient(host=host, transport=httpx.MockTransport(fake))
