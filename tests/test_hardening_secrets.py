"""Secrets and privacy: keys, Authorization headers, URL credentials and (unless asked for) content never leave.

Every call kind (OpenAI chat, chat stream, Responses, embeddings, ``with_raw_response``, an API error; Anthropic
messages, streams, ``stream()``, count_tokens) runs with a generated API key, an extra Authorization-style header,
and a base URL carrying ``user:password@``. Then every exported span (name, attributes, events, links, status,
resource), every metric data point (attributes, resource, scope) and every log record emitted by otel-llmcost or
the OpenTelemetry SDK (caplog at DEBUG) is searched. Markers sit in prompts, system prompts, tool-call arguments,
tool results and the model's output: with content capture off they appear nowhere; with it on, only in
``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions``, truncated at
``content_max_length`` / ``OTEL_LLMCOST_CONTENT_MAX_LENGTH``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

import anthropic_payloads as ap
from conftest import Captured
from openai_payloads import chat_chunks, chat_completion, embeddings, response_object, sse
from otel_llmcost import names
from transport import for_sdk

OPENAI_HTTP: Any = for_sdk("openai")
ANTHROPIC_HTTP: Any = for_sdk("anthropic")
CONTENT = (names.GEN_AI_INPUT_MESSAGES, names.GEN_AI_OUTPUT_MESSAGES, names.GEN_AI_SYSTEM_INSTRUCTIONS)
# The SDKs' own request logging is theirs, not ours (httpx/httpx2 log request URLs, credentials included, at INFO).
SDK_LOGGERS = ("openai", "anthropic", "httpx", "httpcore", "httpx2", "httpcore2")


def marker(kind: str) -> str:
    """Made at run time, so that no source line (e.g. in a recorded stack trace) can contain it."""
    return f"{kind}-{uuid.uuid4().hex}"


class Markers:
    def __init__(self) -> None:
        self.key = marker("sk-KEY")
        self.auth = marker("AUTHZ")
        self.password = marker("PASS")
        self.user = marker("USER")
        self.prompt = marker("PROMPT")
        self.system = marker("SYSTEM")
        self.tool_args = marker("TOOLARGS")
        self.tool_result = marker("TOOLRESULT")
        self.output = marker("OUTPUT")
        self.output_tool_args = marker("OUTTOOLARGS")

    def secrets(self) -> list[str]:
        return [self.key, self.auth, self.password, self.user]

    def content(self) -> list[str]:
        return [self.prompt, self.system, self.tool_args, self.tool_result, self.output, self.output_tool_args]


# --- the fake APIs: every reply carries the output markers --------------------------------------------------
def openai_api(m: Markers) -> Callable[[Any], Any]:
    def answer(request: Any) -> Any:
        http = OPENAI_HTTP
        body = json.loads(request.content) if request.content else {}
        path = request.url.path
        if body.get("model") == "fail":
            return http.Response(400, json={"error": {"message": "bad model", "type": "invalid_request_error"}})
        if path.endswith("/chat/completions"):
            if body.get("stream"):
                chunks = chat_chunks("gpt-4o", include_usage=True, pieces=(m.output[:10], m.output[10:]))
                return http.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(sse(chunks)))
            reply = chat_completion("gpt-4o", content=m.output)
            reply["choices"][0]["message"]["tool_calls"] = [{
                "id": "call_1", "type": "function",
                "function": {"name": "lookup", "arguments": json.dumps({"q": m.output_tool_args})},
            }]
            return http.Response(200, json=reply)
        if path.endswith("/responses"):
            return http.Response(200, json=response_object("gpt-4o", text=m.output))
        if path.endswith("/embeddings"):
            return http.Response(200, json=embeddings())
        return http.Response(404, json={"error": {"message": "no route"}})

    return answer


def anthropic_api(m: Markers) -> Callable[[Any], Any]:
    def answer(request: Any) -> Any:
        http = ANTHROPIC_HTTP
        body = json.loads(request.read() or b"{}")
        if request.url.path.endswith("/count_tokens"):
            return http.Response(200, json={"input_tokens": 12})
        tokens = ap.Tokens()
        if body.get("stream"):
            frames = [f.replace(b"Hello", m.output.encode()) for f in ap.stream_frames("claude-opus-4-7", tokens)]
            return http.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(frames))
        message = ap.message("claude-opus-4-7", tokens, text=m.output)
        message["content"].append({"type": "tool_use", "id": "tu_1", "name": "lookup",
                                   "input": {"q": m.output_tool_args}})
        return http.Response(200, json=message)

    return answer


def messages_openai(m: Markers, padding: int = 0) -> list[Any]:
    return [
        {"role": "system", "content": m.system},
        {"role": "user", "content": m.prompt + "x" * padding},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_0", "type": "function",
            "function": {"name": "lookup", "arguments": json.dumps({"q": m.tool_args})},
        }]},
        {"role": "tool", "tool_call_id": "call_0", "content": m.tool_result},
    ]


def messages_anthropic(m: Markers, padding: int = 0) -> list[Any]:
    return [
        {"role": "user", "content": m.prompt + "x" * padding},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "tu_0", "name": "lookup",
                                           "input": {"q": m.tool_args}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_0", "content": m.tool_result}]},
    ]


TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def every_call(m: Markers, padding: int = 0, anthropic_tracing: bool = False) -> None:
    base_url = f"https://{m.user}:{m.password}@gateway.example.com/v1"
    headers = {"Authorization": f"Bearer {m.auth}", "X-Api-Key": m.auth}
    oai = openai.OpenAI(api_key=m.key, base_url=base_url, max_retries=0, default_headers=headers,
                        http_client=OPENAI_HTTP.Client(transport=OPENAI_HTTP.MockTransport(openai_api(m))))
    msgs: Any = messages_openai(m, padding)
    oai.chat.completions.create(model="gpt-4o", messages=msgs, tools=TOOLS)  # type: ignore[arg-type]
    list(oai.chat.completions.create(model="gpt-4o", messages=msgs, stream=True,
                                     stream_options={"include_usage": True}))
    oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=msgs).parse()
    oai.responses.create(model="gpt-4o", input=m.prompt + "x" * padding, instructions=m.system)
    oai.embeddings.create(model="text-embedding-3-small", input=m.prompt)
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="fail", messages=msgs)
    ant = anthropic.Anthropic(api_key=m.key, base_url=f"https://{m.user}:{m.password}@gateway.example.com",
                              max_retries=0, default_headers=headers, **({} if anthropic_tracing else ap.OFF),
                              http_client=ANTHROPIC_HTTP.Client(transport=ANTHROPIC_HTTP.MockTransport(
                                  anthropic_api(m))))
    kw: dict[str, Any] = {"model": "claude-opus-4-7", "max_tokens": 100, "system": m.system,
                          "messages": messages_anthropic(m, padding)}
    ant.messages.create(**kw)
    list(ant.messages.create(stream=True, **kw))
    with ant.messages.stream(**kw) as stream:
        stream.get_final_message()
    ant.messages.count_tokens(model="claude-opus-4-7", system=m.system, messages=kw["messages"])


# --- everything exported, as (where, text) ---------------------------------------------------------------
def exported(captured: Captured) -> Iterator[tuple[str, str]]:
    for span in captured.spans():
        yield f"span {span.name} name", span.name
        for key, value in (span.attributes or {}).items():
            yield f"span {span.name} attribute {key}", str(value)
        for event in span.events:
            yield f"span {span.name} event {event.name}", event.name
            for key, value in (event.attributes or {}).items():
                yield f"span {span.name} event {event.name} {key}", str(value)
        for link in span.links:
            yield f"span {span.name} link", str(link.attributes)
        yield f"span {span.name} status", str(span.status.description)
        yield f"span {span.name} resource", str(span.resource.attributes)
    for rm in captured.metrics().resource_metrics:
        yield "metric resource", str(rm.resource.attributes)
        for sm in rm.scope_metrics:
            yield "metric scope", str(sm.scope)
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    yield f"metric {metric.name}", str(point.attributes)


def logged(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[str, str]]:
    for record in caplog.records:
        if record.name.split(".")[0] in SDK_LOGGERS:
            continue
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        yield f"log {record.name}", text


def found(places: Iterator[tuple[str, str]], needles: list[str]) -> list[tuple[str, str]]:
    return [(where, needle) for where, text in places for needle in needles if needle in text]


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_secrets_never_exported_or_logged(
    instrument_with: Callable[..., Captured], debug_logs: pytest.LogCaptureFixture
) -> None:
    m = Markers()
    captured = instrument_with(capture_content=True)  # even with content captured
    every_call(m)
    spans = captured.client_spans()
    assert len(spans) == 10
    assert found(exported(captured), m.secrets()) == []
    assert found(logged(debug_logs), m.secrets()) == []
    for span in spans:
        assert dict(span.attributes or {})[names.SERVER_ADDRESS] == "gateway.example.com"  # the host only


@pytest.mark.parametrize("anthropic_tracing", [False, True], ids=["our-spans", "anthropic-sdk-spans"])
def test_content_capture_off_leaves_no_content_anywhere(
    instrument_with: Callable[..., Captured], debug_logs: pytest.LogCaptureFixture, anthropic_tracing: bool
) -> None:
    """Also with anthropic's own tracing on (its spans carry our cost attributes): nothing of the content."""
    m = Markers()
    captured = instrument_with()  # the default: off
    with ap.otel_global(captured.tracer_provider if anthropic_tracing else None):
        every_call(m, anthropic_tracing=anthropic_tracing)
    spans = captured.client_spans()
    assert len(spans) == 10
    scopes = {s.instrumentation_scope.name for s in spans if s.instrumentation_scope is not None}
    assert (len(scopes) > 1) is anthropic_tracing  # the SDK's own spans when its tracing is on
    assert found(exported(captured), m.secrets()) == []
    assert found(exported(captured), m.content()) == []
    assert found(logged(debug_logs), m.content()) == []


@pytest.mark.parametrize("how", ["option", "env"])
def test_content_capture_on_only_where_the_semconv_puts_it(
    instrument_with: Callable[..., Captured], debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, how: str,
) -> None:
    m = Markers()
    if how == "env":
        monkeypatch.setenv(names.ENV_CAPTURE_CONTENT, "true")
        monkeypatch.setenv(names.ENV_CONTENT_MAX_LENGTH, "4000")
        captured = instrument_with()
    else:
        captured = instrument_with(capture_content=True, content_max_length=4000)
    every_call(m)
    hits = found(exported(captured), m.content())
    assert hits, "content capture on: the markers must be recorded"
    allowed = {f"span {s.name} attribute {key}" for s in captured.client_spans() for key in CONTENT}
    assert [(where, needle) for where, needle in hits if where not in allowed] == []
    assert found(logged(debug_logs), m.content()) == []
    where = {needle for _, needle in hits}
    # What the conventions carry: prompts, system prompts, tool calls and results sent, and the text output.
    assert {m.prompt, m.system, m.tool_args, m.tool_result, m.output} <= where
    chat = next(s for s in captured.client_spans() if (s.attributes or {}).get(names.GEN_AI_SYSTEM_INSTRUCTIONS))
    assert m.system in str(dict(chat.attributes or {})[names.GEN_AI_SYSTEM_INSTRUCTIONS])


@pytest.mark.parametrize("how", ["option", "env"])
def test_captured_content_is_truncated(
    instrument_with: Callable[..., Captured], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    m = Markers()
    limit = 150
    if how == "env":
        monkeypatch.setenv(names.ENV_CAPTURE_CONTENT, "true")
        monkeypatch.setenv(names.ENV_CONTENT_MAX_LENGTH, str(limit))
        captured = instrument_with()
    else:
        captured = instrument_with(capture_content=True, content_max_length=limit)
    every_call(m, padding=5_000)
    lengths = [len(str(value)) for span in captured.client_spans()
               for key, value in (span.attributes or {}).items() if key in CONTENT]
    assert lengths and max(lengths) <= limit + 1  # the limit, plus the "…" that says it was cut
    assert any(length == limit + 1 for length in lengths)  # the long prompts were cut
