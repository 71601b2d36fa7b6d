"""Scripted Gemini REST API for the tests: the real ``google-genai`` clients talk to it through a MockTransport.

Replies have the JSON shape the Gemini Developer API and Vertex AI send (camelCase ``usageMetadata``), with
exact, test-chosen usage (``Tokens``: Gemini's own meaning, ``prompt`` INCLUDES ``cached``, ``candidates``
EXCLUDES ``thoughts``). Streams are SSE, each chunk carrying the request's running usage totals. Nothing of
otel_llmcost is imported here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

try:
    import httpx2 as http
except ImportError:  # pragma: no cover - google-genai falls back to httpx
    import httpx as http  # type: ignore[no-redef]

JSON = dict[str, Any]
WORDS = ("Hello", " there", ",", " friend", ".")


@dataclass(frozen=True)
class Tokens:
    """usageMetadata as Gemini reports it."""

    prompt: int = 100
    candidates: int = 20
    cached: int = 0
    thoughts: int = 0
    tool_prompt: int = 0
    traffic_type: str | None = None

    def usage(self, candidates: int | None = None, final: bool = True) -> JSON:
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


def content(text: str, finish: str | None = "STOP") -> JSON:
    candidate: JSON = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return candidate


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

    def _body(self, tokens: Tokens, text: str, usage: JSON) -> JSON:
        body: JSON = {"candidates": [content(text)], "usageMetadata": usage, "responseId": f"resp-{len(self.requests)}"}
        if self.model_version:
            body["modelVersion"] = self.model_version
        return body

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        if self.fail_status is not None:
            error = {"error": {"code": self.fail_status, "message": "boom", "status": "INVALID_ARGUMENT"}}
            return http.Response(self.fail_status, json=error)
        for fragment, reply in self.routes.items():
            if fragment in str(request.url):
                return http.Response(200, json=reply)
        tokens = self._tokens()
        if ":streamGenerateContent" in str(request.url):
            return http.Response(200, headers={"content-type": "text/event-stream"}, content=self._sse(tokens))
        return http.Response(200, json=self._body(tokens, "".join(WORDS), tokens.usage()))

    def _sse(self, tokens: Tokens) -> bytes:
        chunks: list[JSON] = []
        for i, word in enumerate(WORDS):
            last = i == len(WORDS) - 1
            # Each chunk carries the running totals of the request: the last one is the whole usage.
            usage = tokens.usage(candidates=tokens.candidates if last else i + 1, final=last)
            chunk = self._body(tokens, word, usage)
            if not last:
                del chunk["candidates"][0]["finishReason"]
            chunks.append(chunk)
        return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def http_options(handler: Any) -> types.HttpOptions:
    transport = http.MockTransport(handler)
    return types.HttpOptions(
        httpx_client=http.Client(transport=transport), httpx_async_client=http.AsyncClient(transport=transport)
    )


def gemini_client(handler: Any) -> genai.Client:
    """A Gemini Developer API client (api key) on the fake API."""
    return genai.Client(api_key="test-key", http_options=http_options(handler))


def vertex_client(handler: Any) -> genai.Client:
    """A Vertex AI client (project, location, an OAuth token that never needs refreshing) on the fake API."""
    return genai.Client(
        vertexai=True,
        project="test-project",
        location="us-central1",
        credentials=Credentials(token="test-token"),  # type: ignore[no-untyped-call]
        http_options=http_options(handler),
    )


def client(kind: str, handler: Any) -> genai.Client:
    return vertex_client(handler) if kind == "vertex" else gemini_client(handler)


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
        inlined = [
            {"response": {"candidates": [content("ok")], "usageMetadata": t.usage(), "modelVersion": "gemini-2.5-pro"}}
            for t in responses
        ]
        job["metadata"]["output"] = {"inlinedResponses": {"inlinedResponses": inlined}}
    return job
