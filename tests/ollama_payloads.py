"""Scripted Ollama HTTP API for the tests: the real ``ollama`` clients talk to it through an httpx MockTransport.

Replies have the shape Ollama's ``/api/chat``, ``/api/generate``, ``/api/embed`` and ``/api/embeddings`` send,
with test-chosen counts and durations (nanoseconds); streams are NDJSON whose final ``done`` line carries them.
Nothing of otel_llmcost is imported here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import ollama

JSON = dict[str, Any]
WORDS = ("Hello", " there", ",", " friend", ".")
HOST = "http://127.0.0.1:11434"


@dataclass
class FakeOllama:
    prompt_eval_count: int | None = 26
    eval_count: int = 298
    total_duration_ns: int = 5_191_566_416
    fail_status: int | None = None
    requests: list[JSON] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def _final(self, model: str) -> JSON:
        data: JSON = {
            "model": model,
            "created_at": "2026-11-23T10:00:00.000000Z",
            "done": True,
            "done_reason": "stop",
            "total_duration": self.total_duration_ns,
            "load_duration": 2_019_791,
            "prompt_eval_duration": 383_809_000,
            "eval_count": self.eval_count,
            "eval_duration": 4_799_921_000,
        }
        if self.prompt_eval_count is not None:
            data["prompt_eval_count"] = self.prompt_eval_count
        return data

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body: JSON = json.loads(request.content or b"{}")
        self.requests.append(body)
        path = request.url.path
        self.paths.append(path)
        if self.fail_status is not None:
            return httpx.Response(self.fail_status, json={"error": f"model '{body.get('model')}' not found"})
        model = body.get("model", "")
        if path == "/api/embed":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            final = self._final(model)
            return httpx.Response(
                200,
                json={
                    "model": model,
                    "embeddings": [[0.1, 0.2, 0.3] for _ in inputs],
                    "total_duration": final["total_duration"],
                    "load_duration": final["load_duration"],
                    "prompt_eval_count": self.prompt_eval_count,
                },
            )
        if path == "/api/embeddings":
            return httpx.Response(200, json={"embedding": [0.1, 0.2, 0.3]})
        chat = path == "/api/chat"
        if body.get("stream", True):
            lines = [self._piece(model, word, chat) for word in WORDS]
            lines.append({**self._piece(model, "", chat), **self._final(model)})
            return httpx.Response(200, content=("\n".join(json.dumps(line) for line in lines) + "\n").encode())
        return httpx.Response(200, json={**self._piece(model, "".join(WORDS), chat), **self._final(model)})

    @staticmethod
    def _piece(model: str, text: str, chat: bool) -> JSON:
        piece: JSON = {"model": model, "created_at": "2026-11-23T10:00:00.000000Z", "done": False}
        if chat:
            piece["message"] = {"role": "assistant", "content": text}
        else:
            piece["response"] = text
        return piece


def sync_client(fake: FakeOllama, host: str = HOST) -> ollama.Client:
    return ollama.Client(host=host, transport=httpx.MockTransport(fake))


def async_client(fake: FakeOllama, host: str = HOST) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=host, transport=httpx.MockTransport(fake))
