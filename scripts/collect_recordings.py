"""Copy recorded LLM API interactions (VCR cassettes) from public projects' test suites into tests/recordings/.

    python scripts/collect_recordings.py /work/.mirror   # the bare git mirrors of the source repositories

Each source is a bare git directory ``<mirrors>/<owner>+<repo>/repo``; the files are read at its HEAD with
``git show``. A copy keeps the source's path under ``tests/recordings/<owner>+<repo>/`` and only the data:
credentials and cookies are removed from every request and response (``STRIPPED_HEADERS`` as headers, the same
names as body fields are set to ``REDACTED``, ``key=`` in URLs),
then the cassette is written back as YAML. ``tests/recordings/MANIFEST.json`` records, per copy, the source
repository, path, commit, licence and the sha256 of the copy (tests/test_recorded_costs.py checks them).
A file over 200 KB is kept only if it fits once its inline base64 blobs (images, audio, video, PDFs) are replaced
by ``AAAA`` (``elide``; the manifest counts them): the usage the replay checks is in the JSON around them.
Left out: a cassette with no generation call to a provider the replay covers, and one whose every response an
earlier copy already has (a suite's content/no-content variants).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "recordings"
MAX_BYTES = 200_000
ELIDE_UP_TO = 8_000_000
_BLOB = re.compile(r"[A-Za-z0-9+/_-]{2000,}={0,2}")
BLOB_STAND_IN = "AAAA"  # valid base64 (three zero bytes): the SDKs decode inline data

# (owner+repo, licence, path prefixes to take)
SOURCES: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "pydantic+pydantic-ai",
        "MIT",
        tuple(
            f"tests/models/cassettes/{d}/"
            for d in (
                "test_openai",
                "test_openai_responses",
                "test_openai_prompt_cache",
                "test_anthropic",
                "test_google",
                "test_groq",
                "test_deepseek",
                "test_deepseek_responses",
                "test_openrouter",
                "test_cerebras",
                "test_ollama",
            )
        ),
    ),
    (
        "traceloop+openllmetry",
        "Apache-2.0",
        tuple(
            f"packages/opentelemetry-instrumentation-{d}/tests/"
            for d in ("openai", "anthropic", "groq", "ollama", "google-generativeai")
        ),
    ),
    (
        "pydantic+logfire",
        "MIT",
        tuple(f"tests/otel_integrations/cassettes/test_{d}/" for d in ("openai", "anthropic", "google_genai")),
    ),
    (
        "open-telemetry+opentelemetry-python-contrib",
        "Apache-2.0",
        (
            "instrumentation-genai/opentelemetry-instrumentation-openai-v2/tests/cassettes/",
            "instrumentation-genai/opentelemetry-instrumentation-google-genai/tests/",
        ),
    ),
]

STRIPPED_HEADERS = frozenset(
    {
        "authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "openai-organization",
        "openai-project",
        "anthropic-organization-id",
        "x-goog-user-project",
        "proxy-authorization",
    }
)
_KEY_IN_URL = re.compile(r"([?&](?:key|api_key|apikey)=)[^&]*", re.IGNORECASE)


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout


_HOSTS = re.compile(
    r"^(api\.openai\.com|api\.anthropic\.com|[a-z0-9.-]*googleapis\.com|api\.groq\.com|api\.deepseek\.com"
    r"|openrouter\.ai|api\.cerebras\.ai|api\.x\.ai|localhost|127\.0\.0\.1)$"
)
_CALLS = re.compile(
    r"(/chat/completions|/responses|/embeddings|/v1/messages|:generateContent|:streamGenerateContent"
    r"|/api/chat|/api/generate|/api/embed|/api/embeddings)$"
)


def _replayable(request: dict[str, Any]) -> bool:
    """A POST to a generation endpoint of a provider the replay covers (the rest is not worth the bytes)."""
    parts = urlsplit(str(request.get("uri", "")))
    return (
        str(request.get("method", "")).upper() == "POST"
        and bool(_HOSTS.match(parts.hostname or ""))
        and bool(_CALLS.search(parts.path))
    )


def _body(response: dict[str, Any]) -> Any:
    return response.get("parsed_body", response.get("body"))


def decode_bodies(data: dict[str, Any]) -> None:
    """Response bodies recorded compressed (``!!binary`` gzip/deflate) as the text they decode to, so the copy
    is readable and greppable; the ``content-encoding`` header goes with the decoding."""
    for interaction in data.get("interactions") or []:
        response = interaction.get("response") or {}
        body = response.get("body")
        raw = body.get("string") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(raw, bytes):
            continue
        try:
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            elif raw[:1] == b"\x78":
                raw = zlib.decompress(raw)
            body["string"] = raw.decode("utf-8")
        except (OSError, zlib.error, UnicodeDecodeError):
            continue  # left as recorded; the replay skips a body it cannot read
        headers = response.get("headers") or {}
        for name in [k for k in headers if str(k).lower() == "content-encoding"]:
            del headers[name]


def elide(node: Any, count: list[int]) -> Any:
    """Inline base64 blobs (images, audio, video, PDFs: 2,000+ base64 characters) replaced by ``AAAA``.

    Usage and cost are in the JSON around them, so a recording of an image generation or a video input keeps
    what the replay checks in a few KB instead of megabytes. The manifest counts the blobs elided per file."""
    if isinstance(node, dict):
        return {k: elide(v, count) for k, v in node.items()}
    if isinstance(node, list):
        return [elide(v, count) for v in node]
    if isinstance(node, str) and len(node) >= 2000:
        new, n = _BLOB.subn(BLOB_STAND_IN, node)
        count[0] += n
        return new
    return node


def strip(node: Any) -> Any:
    """The cassette without credentials: header entries by name, ``key=`` query values in URIs."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "headers" and isinstance(value, dict):
                out[key] = {k: v for k, v in value.items() if str(k).lower() not in STRIPPED_HEADERS}
            elif str(key).lower() in STRIPPED_HEADERS and isinstance(value, str):
                out[key] = "REDACTED"  # a credential in a body (an MCP connector's authorization, ...)
            elif key == "uri" and isinstance(value, str):
                out[key] = _KEY_IN_URL.sub(r"\1REDACTED", value)
            else:
                out[key] = strip(value)
        return out
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main(mirrors: Path) -> None:
    manifest: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source, licence, prefixes in SOURCES:
        repo = mirrors / source / "repo"
        commit = git(repo, "rev-parse", "HEAD").decode().strip()
        listing = git(repo, "ls-tree", "-r", "-l", "HEAD").decode().splitlines()
        for line in listing:
            meta, path = line.split("\t", 1)
            size = meta.split()[3]
            if not path.endswith((".yaml", ".yml")) or "cassettes/" not in path:
                continue
            if not path.startswith(prefixes) or not size.isdigit() or int(size) > ELIDE_UP_TO:
                continue
            data = yaml.load(git(repo, "show", f"HEAD:{path}"), Loader=yaml.CSafeLoader)
            if not isinstance(data, dict) or not data.get("interactions"):
                continue
            if not any(_replayable(i.get("request") or {}) for i in data["interactions"]):
                continue
            decode_bodies(data)
            responses = {
                hashlib.sha256(repr((i["request"].get("uri"), _body(i["response"]))).encode()).hexdigest()
                for i in data["interactions"]
            }
            if responses <= seen:
                continue
            seen |= responses
            elided = [0]
            if int(size) > MAX_BYTES:
                data = elide(data, elided)
            text = yaml.dump(strip(data), Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False, width=1000)
            if len(text.encode()) > MAX_BYTES:
                continue
            target = OUT / source / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            manifest.append(
                {
                    "file": f"{source}/{path}",
                    "repo": source.replace("+", "/", 1),
                    "path": path,
                    "commit": commit,
                    "license": licence,
                    "sha256": hashlib.sha256(text.encode()).hexdigest(),
                    **({"blobs_elided": elided[0]} if elided[0] else {}),
                }
            )
    manifest.sort(key=lambda e: e["file"])
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(manifest)} cassettes copied")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/.mirror"))
