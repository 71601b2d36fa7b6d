"""The fake provider APIs (otel_llmcost.fakes) are a test and demo aid: never loaded by the library, and knowing
nothing of it (they are the providers' bytes, nothing more)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
    import urllib.request

    from otel_llmcost.fakes import MockLLMServer, handle

    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {"content-type": "application/json", "x-mock-usage": json.dumps({"prompt_tokens": 7})}
    direct = handle("POST", "/v1/chat/completions", headers, body)
    with MockLLMServer() as server:
        request = urllib.request.Request(server.openai_base_url + "/chat/completions", body, headers, method="POST")
        with urllib.request.urlopen(request) as response:
            served = response.read()
        assert server.request_count == 1 and server.requests[0].body["model"] == "gpt-4o"
    assert served == direct.body
    assert json.loads(served)["usage"]["prompt_tokens"] == 7


# --- the deterministic fake, for each provider API, through the real SDK over both transports -----------------------
def _transports() -> list[str]:
    return ["loopback", "mock_transport"]


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from otel_llmcost.fakes import MockLLMServer

    with MockLLMServer() as running:
        yield running


@pytest.mark.parametrize("transport", _transports())
def test_openai_and_anthropic_usage_as_forced(transport: str, server: Any) -> None:
    import anthropic
    import openai

    from otel_llmcost.fakes import mock_transport_handler
    from otel_llmcost.fakes.transport import for_sdk

    if transport == "loopback":
        oa = openai.OpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0)
        an = anthropic.Anthropic(api_key="k", base_url=server.anthropic_base_url, max_retries=0)
    else:
        oa_http, an_http = for_sdk("openai"), for_sdk("anthropic")
        assert oa_http is not None and an_http is not None
        oa_client = oa_http.Client(transport=oa_http.MockTransport(mock_transport_handler))
        oa = openai.OpenAI(api_key="k", http_client=oa_client)
        an_client = an_http.Client(transport=an_http.MockTransport(mock_transport_handler))
        an = anthropic.Anthropic(api_key="k", http_client=an_client)
    usage = {"x-mock-usage": json.dumps({"prompt_tokens": 1_000, "cached_tokens": 400, "completion_tokens": 50})}
    chunks = list(oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                             stream=True, stream_options={"include_usage": True}, extra_headers=usage))
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (1_000, 50)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "This is a deterministic reply"
    message = an.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}],
                                 extra_headers={"x-mock-usage": json.dumps({"input_tokens": 30, "output_tokens": 5})})
    assert (message.usage.input_tokens, message.usage.output_tokens, message.model) == (30, 5, "claude-haiku-4-5")
    with pytest.raises(openai.RateLimitError):
        oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                   extra_headers={"x-mock-error": "429"})


@pytest.mark.parametrize("transport", _transports())
@pytest.mark.parametrize("vertex", [False, True], ids=["gemini_api", "vertex_ai"])
def test_gemini_usage_as_forced(transport: str, vertex: bool, server: Any) -> None:
    from google import genai
    from google.genai import errors, types
    from google.oauth2.credentials import Credentials

    from otel_llmcost.fakes import gemini_api, mock_transport_handler

    if transport == "loopback":
        options = types.HttpOptions(base_url=server.gemini_base_url)
    else:
        options = gemini_api.http_options(mock_transport_handler)
    if vertex:
        client = genai.Client(vertexai=True, project="p", location="us-central1", http_options=options,
                              credentials=Credentials(token="t"))  # type: ignore[no-untyped-call]
    else:
        client = genai.Client(api_key="k", http_options=options)
    forced = {"promptTokenCount": 1_200, "candidatesTokenCount": 7, "thoughtsTokenCount": 3}
    config = types.GenerateContentConfig(http_options=types.HttpOptions(headers={"x-mock-usage": json.dumps(forced)}))
    reply = client.models.generate_content(model="gemini-2.5-flash", contents="hi", config=config)
    assert reply.usage_metadata is not None
    usage = reply.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count) == (1_200, 7, 3)
    assert reply.text == "This is a deterministic reply"
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi", config=config))
    assert len(chunks) == 5 and chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.prompt_token_count == 1_200
    failing = types.GenerateContentConfig(http_options=types.HttpOptions(headers={"x-mock-error": "429"}))
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi", config=failing)
    assert raised.value.code == 429


@pytest.mark.parametrize("transport", _transports())
def test_ollama_counts_as_forced(transport: str, server: Any) -> None:
    import httpx
    import ollama

    from otel_llmcost.fakes import mock_transport_handler

    headers = {"x-mock-usage": json.dumps({"prompt_eval_count": 26, "eval_count": 9})}
    if transport == "loopback":
        client = ollama.Client(host=server.ollama_host, headers=headers)
    else:
        client = ollama.Client(host="http://127.0.0.1:11434", headers=headers,
                               transport=httpx.MockTransport(mock_transport_handler))
    reply = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert (reply.prompt_eval_count, reply.eval_count) == (26, 9)
    assert reply.message.content == "This is a deterministic reply"
    parts = list(client.generate(model="llama3.2", prompt="hi", stream=True))
    assert parts[-1].done and (parts[-1].prompt_eval_count, parts[-1].eval_count) == (26, 9)
    assert "".join(p.response for p in parts) == "This is a deterministic reply"
    assert client.embed(model="nomic-embed-text", input=["a", "b"]).embeddings[1] == [0.1, 0.2, 0.3]
