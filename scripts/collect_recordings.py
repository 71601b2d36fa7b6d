"""Copy recorded LLM API interactions (VCR cassettes) from public projects' test suites into tests/recordings/.

    python scripts/collect_recordings.py /work/.mirror   # the bare git mirrors of the source repositories

Each source is a bare git directory ``<mirrors>/<owner>+<repo>/repo``; the files are read at its HEAD with
``git show``. A copy keeps the source's path under ``tests/recordings/<owner>+<repo>/`` and only the data:
credentials and cookies are removed from every request and response (``STRIPPED_HEADERS`` as headers, the same
names as body fields are set to ``REDACTED``, ``key=`` in URLs),
then the cassette is written back as YAML. ``tests/recordings/MANIFEST.json`` records, per copy, the source
repository, path, commit, licence and the sha256 of the copy (tests/test_recorded_costs.py checks them).
Files over 200 KB (inline images, audio, PDFs) are skipped: the costs they show are in smaller ones.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "recordings"
MAX_BYTES = 200_000

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
                "test_xai",
                "test_cerebras",
                "test_ollama",
            )
        ),
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
    for source, licence, prefixes in SOURCES:
        repo = mirrors / source / "repo"
        commit = git(repo, "rev-parse", "HEAD").decode().strip()
        listing = git(repo, "ls-tree", "-r", "-l", "HEAD").decode().splitlines()
        for line in listing:
            meta, path = line.split("\t", 1)
            size = meta.split()[3]
            if not path.endswith((".yaml", ".yml")) or "cassettes/" not in path:
                continue
            if not path.startswith(prefixes) or not size.isdigit() or int(size) > MAX_BYTES:
                continue
            data = yaml.load(git(repo, "show", f"HEAD:{path}"), Loader=yaml.CSafeLoader)
            if not isinstance(data, dict) or not data.get("interactions"):
                continue
            text = yaml.dump(strip(data), Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False, width=1000)
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
                }
            )
    manifest.sort(key=lambda e: e["file"])
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(manifest)} cassettes copied")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/.mirror"))
