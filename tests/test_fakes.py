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


# --- the bodies are the SDKs' own types: every field the fakes send is one the SDK declares ---------------------------
def _extras(model: Any, path: str = "") -> list[str]:
    """Fields of a parsed body that its SDK type does not declare (pydantic keeps them in model_extra)."""
    import pydantic

    found: list[str] = []
    if isinstance(model, pydantic.BaseModel):
        found += [f"{path}.{key}" for key in model.model_extra or {}]
        for name in type(model).model_fields:
            found += _extras(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, (list, tuple)):
        for index, item in enumerate(model):
            found += _extras(item, f"{path}[{index}]")
    elif isinstance(model, dict):
        for key, item in model.items():
            found += _extras(item, f"{path}[{key}]")
    return found


def _handled(path: str, request: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """The body the deterministic fake answers a request with."""
    from otel_llmcost.fakes import handle

    return json.loads(handle("POST", path, headers or {}, json.dumps(request).encode()).body)


_ASK = [{"role": "user", "content": "Say hello."}]


def _openai_bodies() -> list[tuple[str, Any, Any]]:
    from openai.types import Batch, CreateEmbeddingResponse
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.responses import Response, ResponseStreamEvent

    from otel_llmcost.fakes import openai_api as api

    tokens = api.Tokens(cached=30, cache_write=10, reasoning=5)
    chunks = api.chat_chunks(tokens=tokens, include_usage=True)
    events = api.response_events(tokens=tokens)
    return [
        ("chat_completion", ChatCompletion, api.chat_completion(tokens=tokens, choices=2)),
        *((f"chat_chunks[{i}]", ChatCompletionChunk, chunk) for i, chunk in enumerate(chunks)),
        ("response_object", Response, api.response_object(tokens=tokens)),
        *((f"response_events[{e['type']}]", ResponseStreamEvent, e) for e in events),
        ("embeddings", CreateEmbeddingResponse, api.embeddings(inputs=2)),
        ("batch", Batch, api.batch("batch_1", tokens=tokens)),
        ("batch(in_progress)", Batch, api.batch("batch_2", status="in_progress")),
        ("route: chat", ChatCompletion, _handled("/v1/chat/completions", {"model": "o4-mini", "messages": _ASK, "n": 2,
                                                                          "reasoning_effort": "high"})),
        ("route: responses", Response, _handled("/v1/responses", {
            "model": "gpt-5", "input": "hi", "reasoning": {"effort": "low"}, "instructions": "Be brief.",
            "text": {"format": {"type": "json_object"}},
        })),
    ]


def _anthropic_bodies() -> list[tuple[str, Any, Any]]:
    from anthropic.types import Message, RawMessageStreamEvent
    from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

    from otel_llmcost.fakes import anthropic_api as api

    tokens = api.Tokens(cache_read=7, cache_5m=3, cache_1h=2, thinking=4, speed="fast", web_search=1)
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    events = api.message_events("claude-sonnet-4-6", tokens, thinking=["hmm"], delta_with_input=True)
    return [
        ("message", Message, api.message("claude-sonnet-4-6", tokens, thinking=thinking)),
        *((f"message_events[{e['type']}]", RawMessageStreamEvent, e) for e in events if e["type"] != "ping"),
        ("batch", MessageBatch, api.batch("msgbatch_1")),
        ("batch(in_progress)", MessageBatch, api.batch("msgbatch_2", ended=False)),
        ("batch_result", MessageBatchIndividualResponse, api.batch_result("r1", "claude-haiku-4-5", tokens)),
        ("batch_error", MessageBatchIndividualResponse, api.batch_error("r2")),
        ("route: message", Message, _handled("/v1/messages", {"model": "claude-sonnet-4-6", "max_tokens": 64,
                                                              "messages": _ASK, "thinking": {"type": "enabled"}},
                                             {"anthropic-version": "2023-06-01"})),
    ]


def _gemini_and_ollama_bodies() -> list[tuple[str, Any, Any]]:
    import ollama
    from google.genai import types

    from otel_llmcost.fakes import gemini_api, ollama_api

    tokens = gemini_api.Tokens(cached=20, thoughts=3, tool_prompt=2, traffic_type="ON_DEMAND")
    chunks = gemini_api.stream_chunks(tokens, response_id="r1", model_version="gemini-2.5-flash")
    counts = {"prompt_eval_count": 26, "eval_count": 9, "total_duration_ns": 1_000}
    done = ollama_api.final("m", **counts)
    return [
        ("gemini response", types.GenerateContentResponse, gemini_api.response("hi", tokens.usage(), response_id="r")),
        *((f"gemini stream_chunks[{i}]", types.GenerateContentResponse, c) for i, c in enumerate(chunks)),
        ("gemini embed_reply", types.EmbedContentResponse, gemini_api.embed_reply(12)),
        ("route: gemini", types.GenerateContentResponse,
         _handled("/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]})),
        ("ollama chat", ollama.ChatResponse, {**ollama_api.piece("m", "t", True), **done}),
        ("ollama generate", ollama.GenerateResponse, {**ollama_api.piece("m", "", False), **done}),
        ("ollama embed", ollama.EmbedResponse, ollama_api.embed("m", 2, prompt_eval_count=4, total_duration_ns=1_000)),
    ]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini_and_ollama"])
def test_every_field_sent_is_one_the_sdk_declares(provider: str) -> None:
    """The builders use the SDK types' own field names: each body validates as its type, with no undeclared field."""
    import pydantic

    bodies = {"openai": _openai_bodies, "anthropic": _anthropic_bodies, "gemini_and_ollama": _gemini_and_ollama_bodies}
    undeclared = {}
    for name, kind, body in bodies[provider]():
        parsed = pydantic.TypeAdapter(kind).validate_python(body)
        undeclared[name] = _extras(parsed)
    assert {name: fields for name, fields in undeclared.items() if fields} == {}
