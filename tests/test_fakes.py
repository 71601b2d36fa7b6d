"""The fake provider APIs (otel_llmcost.fakes) are a test and demo aid: never loaded by the library, and knowing
nothing of it (they are the providers' bytes, nothing more)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import otel_llmcost

FAKES = Path(otel_llmcost.__file__).parent / "fakes"


def test_importing_the_library_loads_no_fake() -> None:
    code = (
        "import sys, otel_llmcost\n"
        "from otel_llmcost import LLMCostInstrumentor\n"
        "LLMCostInstrumentor\n"
        "print(sorted(m for m in sys.modules if m.startswith('otel_llmcost.fakes')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_fakes_import_nothing_of_the_library() -> None:
    outside: list[str] = []
    for path in sorted(FAKES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level > 1 or (node.level == 0 and (node.module or "").startswith("otel_llmcost")):
                    outside.append(f"{path.name}: from {'.' * node.level}{node.module}")
            elif isinstance(node, ast.Import):
                outside += [f"{path.name}: import {a.name}" for a in node.names if a.name.startswith("otel_llmcost")]
    assert outside == []


def test_the_deterministic_fake_answers_over_both_transports() -> None:
    """The same request gets the same bytes from handle() (MockTransport) and from the loopback server."""
    import json
    import urllib.request

    from otel_llmcost.fakes import MockLLMServer, handle

    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {"content-type": "application/json", "x-mock-usage": json.dumps({"prompt_tokens": 7})}
    direct = handle("POST", "/v1/chat/completions", headers, body)
    with MockLLMServer() as server:
        request = urllib.request.Request(server.openai_base_url + "/chat/completions", body, headers, method="POST")
        with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback
            served = response.read()
        assert server.request_count == 1 and server.requests[0].body["model"] == "gpt-4o"
    assert served == direct.body
    assert json.loads(served)["usage"]["prompt_tokens"] == 7
