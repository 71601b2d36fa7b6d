"""A fake of the Gemini REST API (Developer API and Vertex AI): its bodies, deterministic routes, a scripted fake.

Bodies have the JSON shape both APIs send, the camelCase of ``GenerateContentResponse`` and its
``usageMetadata`` (``Tokens``: Gemini's own meaning, ``prompt`` INCLUDES ``cached``, ``candidates`` EXCLUDES
``thoughts``). Streams are SSE, each chunk carrying the request's running usage totals. :func:`route` is the
deterministic fake (``x-mock-*`` headers, see :func:`otel_llmcost.fakes.routing.handle`); :class:`FakeGemini` is
the tests' scripted MockTransport handler that records what was asked. No SDK is imported until a client is asked
for.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .wire import (
    JSON,
    REASONING_TOKENS,
    WORDS,
    Controls,
    Reply,
    Request,
    json_reply,
    list_at,
    object_at,
    prompt_tokens,
    reply_pieces,
    sse_reply,
    structured_text,
    word_count,
)

if TYPE_CHECKING:
    from types import ModuleType

    from google import genai
    from google.genai import types


USAGE_KEYS = frozenset(
    {
        "promptTokenCount",
        "candidatesTokenCount",
        "cachedContentTokenCount",
        "thoughtsTokenCount",
        "toolUsePromptTokenCount",
    }
)
"""The x-mock-usage keys of a Gemini request (usageMetadata's own names)."""
METHODS = frozenset(
    {"generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents", "predict"}
)
"""The ``models/{model}:{method}`` methods :func:`route` answers."""
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def http_module() -> ModuleType:
    """The HTTP library google-genai sends with: httpx2 when it is installed and this google-genai release uses
    it (its ``_api_client`` then holds the module), else httpx (releases before httpx2 support, the oldest
    supported among them, import httpx only)."""
    try:
        api_client = importlib.import_module("google.genai._api_client")
    except ImportError:  # pragma: no cover - the fake without the SDK: the library it would choose today
        api_client = None
    if api_client is None or getattr(api_client, "httpx2", None) is not None:
        try:
            return importlib.import_module("httpx2")
        except ImportError:  # pragma: no cover - google-genai falls back to httpx
            pass
    return importlib.import_module("httpx")


@dataclass(frozen=True)
class Tokens:
    """``usageMetadata`` as Gemini reports it."""

    prompt: int = 100
    candidates: int = 20
    cached: int = 0
    thoughts: int = 0
    tool_prompt: int = 0
    traffic_type: str | None = None

    def usage(self, candidates: int | None = None, final: bool = True) -> JSON:
        """The metadata of a whole reply, or (``final=False``) of a stream chunk with ``candidates`` so far."""
        data: JSON = {"promptTokenCount": self.prompt}
        out = self.candidates if candidates is None else candidates
        total = self.prompt + self.tool_prompt
        if final or out:
            data["candidatesTokenCount"] = out
            total += out
        if self.cached:
            data["cachedContentTokenCount"] = self.cached
            data["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.cached}]
        if self.thoughts and final:
            data["thoughtsTokenCount"] = self.thoughts
            total += self.thoughts
        if self.tool_prompt:
            data["toolUsePromptTokenCount"] = self.tool_prompt
        if self.traffic_type:
            data["trafficType"] = self.traffic_type
        data["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.prompt}]
        data["totalTokenCount"] = total
        return data

    def running(self, index: int, count: int) -> JSON:
        """The metadata of stream chunk ``index`` of ``count``: running totals, the last one the whole usage."""
        last = index == count - 1
        return self.usage(candidates=self.candidates if last else index + 1, final=last)

    @classmethod
    def forced(cls, controls: Controls, *, prompt: int, candidates: int, thoughts: int) -> Tokens:
        """The x-mock-usage numbers are exact, the rest derived."""
        forced = controls.forced_usage(USAGE_KEYS)
        return cls(
            prompt=forced.get("promptTokenCount", prompt),
            candidates=forced.get("candidatesTokenCount", candidates),
            cached=forced.get("cachedContentTokenCount", 0),
            thoughts=forced.get("thoughtsTokenCount", thoughts),
            tool_prompt=forced.get("toolUsePromptTokenCount", 0),
            traffic_type=controls.service_tier,
        )


def content(text: str, finish: str | None = "STOP") -> JSON:
    """A ``Candidate`` with one text part."""
    candidate: JSON = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return candidate


def response(
    text: str,
    usage: JSON,
    *,
    response_id: str | None = None,
    model_version: str | None = None,
    finish: str | None = "STOP",
) -> JSON:
    """A ``GenerateContentResponse``."""
    body: JSON = {"candidates": [content(text, finish)], "usageMetadata": usage}
    if response_id is not None:
        body["responseId"] = response_id
    if model_version:
        body["modelVersion"] = model_version
    return body


def stream_chunks(
    tokens: Tokens, *, pieces: tuple[str, ...] = WORDS, response_id: str | None, model_version: str | None
) -> list[JSON]:
    """A streamed reply: each chunk carries the running totals of the request, the last one the whole usage."""
    ids = {"response_id": response_id, "model_version": model_version}
    return [
        response(piece, tokens.running(i, len(pieces)), finish="STOP" if i == len(pieces) - 1 else None, **ids)
        for i, piece in enumerate(pieces)
    ]


def sse_body(chunks: list[JSON]) -> bytes:
    """The API's SSE body (CRLF-separated frames)."""
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()


def embed_reply(prompt_tokens: int = 0, vertex_counts: tuple[int, ...] = ()) -> JSON:
    """batchEmbedContents (Gemini API, with usageMetadata) or :predict (Vertex AI, per-embedding statistics)."""
    if vertex_counts:
        return {
            "predictions": [
                {"embeddings": {"values": [0.1, 0.2], "statistics": {"token_count": n, "truncated": False}}}
                for n in vertex_counts
            ],
            "metadata": {"billableCharacterCount": 42},
        }
    return {"embeddings": [{"values": [0.1, 0.2]}], "usageMetadata": {"promptTokenCount": prompt_tokens}}


def batch_job(name: str, state: str, responses: list[Tokens], model: str = "models/gemini-2.5-pro") -> JSON:
    """A Gemini API batch job (REST shape) whose results are inlined."""
    kind = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
    job: JSON = {"name": name, "metadata": {"@type": kind, "model": model, "state": state}}
    if responses:
        inlined = [{"response": response("ok", t.usage(), model_version="gemini-2.5-pro")} for t in responses]
        job["metadata"]["output"] = {"inlinedResponses": {"inlinedResponses": inlined}}
    return job


def error(status: int, message: str = "boom", reason: str = "INVALID_ARGUMENT") -> JSON:
    """A google.rpc error body."""
    return {"error": {"code": status, "message": message, "status": reason}}


# --------------------------------------------------------------------------- deterministic routes


def method_of(req: Request) -> tuple[str, str] | None:
    """(model, method) of a ``.../models/{model}:{method}`` request (both APIs), else None."""
    if len(req.segments) < 2 or req.segments[-2] != "models" or ":" not in req.segments[-1]:
        return None
    model, _, method = req.segments[-1].rpartition(":")
    return (model, method) if method in METHODS else None


def headers(req: Request) -> dict[str, str]:
    return {"content-type": "application/json; charset=UTF-8", "x-goog-request-id": f"mock{req.digest[:16]}"}


def error_reply(req: Request, status: int, message: str | None = None) -> Reply:
    reason = _STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return json_reply(error(status, message or f"Mock {reason} (HTTP {status}).", reason), headers(req), status=status)


def _generate(req: Request, controls: Controls, model: str, stream: bool) -> Reply:
    body = req.json_object()
    config = object_at(body, "generationConfig")
    fmt: JSON | None = None
    schema = config.get("responseJsonSchema", config.get("responseSchema"))
    if schema is not None:
        fmt = {"type": "json_schema", "schema": schema}
    elif config.get("responseMimeType") == "application/json":
        fmt = {"type": "json_object"}
    pieces, cut = reply_pieces(controls, structured_text(fmt, controls), config.get("maxOutputTokens"))
    thinking = config.get("thinkingConfig")
    thinks = isinstance(thinking, dict) and thinking.get("thinkingBudget") != 0
    tokens = Tokens.forced(
        controls,
        prompt=prompt_tokens(body.get("systemInstruction"), body.get("contents")),
        candidates=word_count("".join(pieces)),
        thoughts=REASONING_TOKENS if thinks else 0,
    )
    ids = {"response_id": f"mock{req.digest[:22]}", "model_version": controls.model or model}
    finish = "MAX_TOKENS" if cut else "STOP"
    if not stream:
        return json_reply(response("".join(pieces), tokens.usage(), finish=finish, **ids), headers(req))
    chunks = stream_chunks(tokens, pieces=tuple(pieces), **ids)
    if cut:
        chunks[-1]["candidates"][0]["finishReason"] = finish
    if controls.no_usage:
        for chunk in chunks:
            del chunk["usageMetadata"]
    frames = [f"data: {json.dumps(c, separators=(',', ':'))}\r\n\r\n".encode() for c in chunks]
    return sse_reply(frames, headers(req), controls.truncate)


def _vector(text: str) -> list[float]:
    return [round(((len(text) * (i + 3)) % 17) / 17 - 0.5, 6) for i in range(8)]


def route(req: Request, controls: Controls) -> Reply | None:
    """``models/{model}:{method}`` of the Gemini API (``/v1beta/...``) and Vertex AI (``/v1beta1/projects/...``);
    None: no such route."""
    found = method_of(req) if req.method == "POST" else None
    if found is None:
        return None
    model, method = found
    if method in ("generateContent", "streamGenerateContent"):
        return _generate(req, controls, model, method == "streamGenerateContent")
    body = req.json_object()
    if method == "countTokens":
        total = prompt_tokens(body.get("contents"), body.get("systemInstruction"))
        return json_reply(
            {"totalTokens": controls.forced_usage(USAGE_KEYS).get("promptTokenCount", total)}, headers(req)
        )
    if method == "embedContent":
        return json_reply({"embedding": {"values": _vector(json.dumps(body.get("content")))}}, headers(req))
    if method == "batchEmbedContents":
        requests = list_at(body, "requests")
        tokens = Tokens.forced(controls, prompt=prompt_tokens(requests), candidates=0, thoughts=0)
        reply = embed_reply(tokens.prompt)
        reply["embeddings"] = [{"values": _vector(json.dumps(r))} for r in requests]
        return json_reply(reply, headers(req))
    instances = list_at(body, "instances")  # Vertex AI :predict
    counts = tuple(prompt_tokens(i) - 8 or 1 for i in instances)
    return json_reply(embed_reply(vertex_counts=counts) if counts else {"predictions": []}, headers(req))


@dataclass
class FakeGemini:
    """Answers :generateContent and :streamGenerateContent for both APIs; records what was asked."""

    tokens: Tokens = field(default_factory=Tokens)
    model_version: str | None = "gemini-2.5-flash"
    fail_status: int | None = None
    requests: list[Any] = field(default_factory=list)
    replies: list[Tokens] = field(default_factory=list)
    """Usage of successive replies (for a call that makes several requests); then ``tokens``."""
    routes: dict[str, JSON] = field(default_factory=dict)
    """URL fragment -> JSON body answered for it (embeddings, batch jobs)."""

    def _tokens(self) -> Tokens:
        return self.replies.pop(0) if self.replies else self.tokens

    def __call__(self, request: Any) -> Any:
        http = http_module()
        self.requests.append(request)
        if self.fail_status is not None:
            return http.Response(self.fail_status, json=error(self.fail_status))
        for fragment, reply in self.routes.items():
            if fragment in str(request.url):
                return http.Response(200, json=reply)
        tokens = self._tokens()
        if ":streamGenerateContent" in str(request.url):
            return http.Response(200, headers={"content-type": "text/event-stream"}, content=self._sse(tokens))
        return http.Response(200, json=self._body(tokens, "".join(WORDS), tokens.usage()))

    def _body(self, tokens: Tokens, text: str, usage: JSON) -> JSON:
        """One reply or stream chunk (a test may wrap this to change what the model answers)."""
        return response(text, usage, response_id=f"resp-{len(self.requests)}", model_version=self.model_version)

    def _sse(self, tokens: Tokens) -> bytes:
        chunks = [self._body(tokens, word, tokens.running(i, len(WORDS))) for i, word in enumerate(WORDS)]
        for chunk in chunks[:-1]:
            del chunk["candidates"][0]["finishReason"]
        return sse_body(chunks)

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def http_options(handler: Any) -> types.HttpOptions:
    from google.genai import types

    http = http_module()
    transport = http.MockTransport(handler)
    if "httpx_client" not in types.HttpOptions.model_fields:  # before google-genai 1.x took ready clients
        return types.HttpOptions(client_args={"transport": transport}, async_client_args={"transport": transport})
    return types.HttpOptions(
        httpx_client=http.Client(transport=transport), httpx_async_client=http.AsyncClient(transport=transport)
    )


def gemini_client(handler: Any) -> genai.Client:
    """A Gemini Developer API client (api key) on the fake API."""
    from google import genai

    return genai.Client(api_key="test-key", http_options=http_options(handler))


def vertex_client(handler: Any) -> genai.Client:
    """A Vertex AI client (project, location, an OAuth token that never needs refreshing) on the fake API."""
    from google import genai
    from google.oauth2.credentials import Credentials

    return genai.Client(
        vertexai=True,
        project="test-project",
        location="us-central1",
        credentials=Credentials(token="test-token"),  # type: ignore[no-untyped-call]
        http_options=http_options(handler),
    )


def client(kind: str, handler: Any) -> genai.Client:
    return vertex_client(handler) if kind == "vertex" else gemini_client(handler)
