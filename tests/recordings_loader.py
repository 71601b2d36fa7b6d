"""The recorded interactions under tests/recordings/ (see MANIFEST.json and scripts/collect_recordings.py).

Two cassette dialects are read: pydantic-ai's (request and JSON response bodies as ``parsed_body``, text/SSE
bodies as ``body.string``) and vcrpy's plain one (opentelemetry-python-contrib: ``body`` a JSON string,
response ``body.string``). Each interaction becomes a ``Recording``: what was sent, what came back, and the
route (which SDK method replays it), or the reason it cannot be replayed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

RECORDINGS = Path(__file__).parent / "recordings"
MANIFEST = RECORDINGS / "MANIFEST.json"

# Recorded host -> genai-prices provider id (the bill's provider).
PROVIDER_BY_HOST = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "google",
    "aiplatform.googleapis.com": "google",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "openrouter.ai": "openrouter",
    "api.x.ai": "x-ai",
    "api.cerebras.ai": "cerebras",
}
# Response headers that describe the recorded wire encoding, not the (already decoded) body we replay.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection"})


@dataclass
class Recording:
    id: str
    """``<owner+repo>/<path in that repo>#<n>``: stable, used by expected_mismatches.txt."""
    method: str
    uri: str
    request: Any
    status: int
    headers: dict[str, str]
    body: bytes
    route: str = ""
    """openai.chat | openai.responses | openai.embeddings | anthropic.messages | anthropic.beta | google | ollama
    | '' (not replayed)."""
    skip: str = ""
    """Why this interaction is not replayed ('' when it is)."""
    host: str = field(default="")

    @property
    def stream(self) -> bool:
        return "text/event-stream" in self.headers.get("content-type", "") or self.body.lstrip().startswith(
            (b"data:", b"event:")
        )

    @property
    def provider_id(self) -> str | None:
        host = self.host
        if host.endswith("aiplatform.googleapis.com"):
            return "google"
        return PROVIDER_BY_HOST.get(host)

    def json(self) -> Any:
        return json.loads(self.body)


def _headers(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if str(key).lower() in _WIRE_HEADERS:
            continue
        out[str(key).lower()] = value[0] if isinstance(value, list) and value else str(value)
    return out


def _request_body(request: dict[str, Any]) -> Any:
    if "parsed_body" in request:
        return request["parsed_body"]
    body = request.get("body")
    if isinstance(body, dict):
        body = body.get("string")
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            return json.loads(body)
        except ValueError:
            return None
    return None


def _response_body(response: dict[str, Any]) -> bytes:
    if "parsed_body" in response:
        return json.dumps(response["parsed_body"]).encode()
    body = response.get("body")
    if isinstance(body, dict):
        body = body.get("string")
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes):
        return body
    return b""


def route_of(uri: str, method: str) -> tuple[str, str]:
    """(route, skip reason) for a request URI."""
    parts = urlsplit(uri)
    path = parts.path
    if not path:
        return "", "no HTTP request recorded (gRPC client)"
    if method != "POST":
        return "", f"not a generation call ({method})"
    if path.endswith("/chat/completions"):
        return "openai.chat", ""
    if path.endswith("/responses"):
        return "openai.responses", ""
    if path.endswith("/embeddings"):
        return "openai.embeddings", ""
    if path.endswith("/v1/messages"):
        return ("anthropic.beta" if "beta=true" in parts.query else "anthropic.messages"), ""
    if path.endswith((":generateContent", ":streamGenerateContent")):
        return "google", ""
    if path.endswith(("/api/chat", "/api/generate", "/api/embed")):
        return "ollama", ""
    tail = path.rsplit("/", 1)[-1].split(":")[-1] or path
    return "", f"endpoint not replayed here ({tail})"


def _load(file: str) -> list[Recording]:
    data = yaml.load((RECORDINGS / file).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    found: list[Recording] = []
    for n, interaction in enumerate(data.get("interactions") or []):
        request = interaction.get("request") or {}
        response = interaction.get("response") or {}
        uri = str(request.get("uri", ""))
        method = str(request.get("method", "POST")).upper()
        status = response.get("status") or {}
        rec = Recording(
            id=f"{file}#{n}",
            method=method,
            uri=uri,
            request=_request_body(request),
            status=int(status.get("code", 200)) if isinstance(status, dict) else int(status),
            headers=_headers(response.get("headers")),
            body=_response_body(response),
            host=urlsplit(uri).hostname or "",
        )
        rec.route, rec.skip = route_of(uri, method)
        if not rec.skip and rec.provider_id is None and rec.route != "ollama":
            rec.skip = f"host not a priced provider ({rec.host})"
        if not rec.skip and not 200 <= rec.status < 300:
            rec.skip = "error response (no usage to price)"
        if not rec.skip and not isinstance(rec.request, dict):
            rec.skip = "request body not recorded as JSON"
        found.append(rec)
    return found


@cache
def manifest() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return entries


@cache
def recordings() -> list[Recording]:
    """Every recorded interaction of every cassette in the manifest, in manifest order."""
    found: list[Recording] = []
    for entry in manifest():
        found.extend(_load(entry["file"]))
    return found


def expected_mismatches(path: Path) -> dict[str, str]:
    """``## reason`` headers, each followed by the ids that mismatch for it (see expected_mismatches.txt)."""
    reasons: dict[str, str] = {}
    reason = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("## "):
            reason = line[3:]
        elif line and not line.startswith("#"):
            reasons[line] = reason
    return reasons
