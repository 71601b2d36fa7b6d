"""A fake of the Gemini REST API (Developer API and Vertex AI), scripted for the tests.

Bodies have the JSON shape both APIs send, the camelCase of ``GenerateContentResponse`` and its
``usageMetadata`` (``Tokens``: Gemini's own meaning, ``prompt`` INCLUDES ``cached``, ``candidates`` EXCLUDES
``thoughts``). Streams are SSE, each chunk carrying the request's running usage totals. :class:`FakeGemini` is a
MockTransport handler that records what was asked. No SDK is imported until a client is asked for.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .wire import JSON, WORDS

if TYPE_CHECKING:
    from types import ModuleType

    from google import genai
    from google.genai import types


def http_module() -> ModuleType:
    """httpx2 when installed (google-genai then uses it), else httpx."""
    try:
        return importlib.import_module("httpx2")
    except ImportError:  # pragma: no cover - google-genai falls back to httpx
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
