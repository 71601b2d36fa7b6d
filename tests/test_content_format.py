"""Captured content in the GenAI conventions' JSON format, for every provider's shapes, and where it goes.

Replies are the SDKs' own models (``model_validate`` of API JSON) or real clients over the fakes' transports;
the converters and adapters under test are ours, unmocked.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

try:  # the exporter's newer name (opentelemetry-sdk 1.39+)
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogExporter
except ImportError:  # pragma: no cover - older SDKs
    from opentelemetry.sdk._logs.export import InMemoryLogExporter  # type: ignore[attr-defined,no-redef]

from openai_payloads import FakeOpenAI
from otel_llmcost import names
from otel_llmcost.providers import messages
from otel_llmcost.providers.anthropic.usage import MessageStreamSummary, message_result
from otel_llmcost.providers.openai import chat_result, responses_result

PROMPT = [{"role": "user", "content": "Weather in Paris?"}]
USER = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]


# --- where content goes: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT ----------------------------------
def _with_logs(instrument_with: Any, mode: str, **options: Any) -> tuple[Any, Any]:
    exporter = InMemoryLogExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return instrument_with(capture_content=mode, logger_provider=provider, **options), exporter


@pytest.mark.parametrize(("mode", "on_span", "events"), [
    ("EVENT_ONLY", False, 1), ("SPAN_AND_EVENT", True, 1), ("SPAN_ONLY", True, 0), ("NO_CONTENT", False, 0),
])
def test_capture_modes_put_content_on_the_span_or_in_the_log_event(
    instrument_with: Any, mode: str, on_span: bool, events: int
) -> None:
    captured, logs = _with_logs(instrument_with, mode)
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=PROMPT)
    (span,) = captured.client_spans()
    assert (names.GEN_AI_INPUT_MESSAGES in span.attributes) is on_span
    assert (names.GEN_AI_OUTPUT_MESSAGES in span.attributes) is on_span
    records = [item.log_record for item in logs.get_finished_logs()]
    assert len(records) == events
    if events:
        (record,) = records
        assert record.event_name == names.GEN_AI_INFERENCE_DETAILS_EVENT
        assert record.span_id == span.context.span_id and record.trace_id == span.context.trace_id
        attrs = record.attributes
        assert attrs[names.GEN_AI_OPERATION_NAME] == "chat"
        assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
        assert json.loads(attrs[names.GEN_AI_INPUT_MESSAGES]) == USER
        (reply,) = json.loads(attrs[names.GEN_AI_OUTPUT_MESSAGES])
        assert reply["role"] == "assistant" and reply["finish_reason"] == "stop"
        assert reply["parts"][0]["type"] == "text"


def test_event_content_is_truncated_by_the_length_cap(instrument_with: Any) -> None:
    _, exporter = _with_logs(instrument_with, "EVENT_ONLY", content_max_length=10)
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=PROMPT)
    (item,) = exporter.get_finished_logs()
    assert item.log_record.attributes[names.GEN_AI_INPUT_MESSAGES] == json.dumps(USER)[:10] + "…"


def test_tool_definitions_are_recorded_with_content(instrument_with: Any) -> None:
    captured = instrument_with(capture_content=True)
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    FakeOpenAI().client().chat.completions.create(model="gpt-4o", messages=PROMPT, tools=tools, seed=7, n=2,
                                                  stop="END", response_format={"type": "json_object"})
    (span,) = captured.client_spans()
    assert json.loads(span.attributes[names.GEN_AI_TOOL_DEFINITIONS]) == tools
    assert span.attributes[names.GEN_AI_REQUEST_SEED] == 7
    assert span.attributes[names.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    assert span.attributes[names.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert span.attributes[names.GEN_AI_OUTPUT_TYPE] == "json"


# --- OpenAI ----------------------------------------------------------------------------------------------------
def test_openai_tool_calls_and_tool_results() -> None:
    completion = openai.types.chat.ChatCompletion.model_validate({
        "id": "c1", "object": "chat.completion", "created": 0, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]}}],
    })
    response, _ = chat_result(completion, capture=True)
    call = {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}
    assert response.output_messages == [{"role": "assistant", "parts": [call], "finish_reason": "tool_calls"}]
    history = [*PROMPT, completion.choices[0].message.model_dump(), {"role": "tool", "tool_call_id": "call_1",
                                                                      "content": "sunny"}]
    assert messages.openai_chat_input(history) == [
        *USER,
        {"role": "assistant", "parts": [call]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}]},
    ]


def test_responses_finish_reason_comes_from_the_output_items() -> None:
    called = openai.types.responses.Response.model_validate({
        "id": "r1", "object": "response", "created_at": 0, "model": "gpt-4o", "status": "completed",
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "output": [
            {"type": "reasoning", "id": "rs1", "summary": [{"type": "summary_text", "text": "think"}]},
            {"type": "function_call", "id": "fc1", "call_id": "call_9", "name": "weather",
             "arguments": '{"city": "Paris"}', "status": "completed"},
        ],
    })
    response, _ = responses_result(called, capture=True)
    assert response.finish_reasons == ["tool_call"]  # not the status, "completed"
    assert response.output_messages == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "reasoning", "content": "think"},
        {"type": "tool_call", "id": "call_9", "name": "weather", "arguments": {"city": "Paris"}},
    ]}]
    assert messages.responses_finish_reason({"status": "incomplete",
                                             "incomplete_details": {"reason": "max_output_tokens"}}) == ["length"]
    assert messages.responses_finish_reason({"status": "failed"}) == ["error"]


def test_chat_stream_choices_are_kept_apart_and_a_cut_stream_ends_in_error() -> None:
    choices = messages.ChatChoices()
    chunk = openai.types.chat.ChatCompletionChunk.model_validate
    base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o"}
    for delta, index, finish in [({"content": "Hel"}, 0, None), ({"content": "Bon"}, 1, None),
                                 ({"content": "lo"}, 0, "stop"),
                                 ({"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f",
                                                                                      "arguments": '{"a"'}}]}, 1,
                                  None),
                                 ({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}, 1, None)]:
        for choice in chunk({**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}).choices:
            choices.add(choice)
    assert choices.messages() == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"},
        {"role": "assistant", "finish_reason": "error", "parts": [
            {"type": "text", "content": "Bon"}, {"type": "tool_call", "id": "t", "name": "f", "arguments": {"a": 1}},
        ]},
    ]


# --- Anthropic -------------------------------------------------------------------------------------------------
def test_anthropic_tool_use_and_thinking_are_kept() -> None:
    message = anthropic.types.Message.model_validate({
        "id": "m1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 5},
        "content": [
            {"type": "thinking", "thinking": "They want weather.", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "tu1", "name": "weather", "input": {"city": "Paris"}},
        ],
    })
    response, _ = message_result(message, capture=True)
    assert response.finish_reasons == ["tool_call"]
    assert response.output_messages == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "reasoning", "content": "They want weather."},
        {"type": "text", "content": "Checking."},
        {"type": "tool_call", "id": "tu1", "name": "weather", "arguments": {"city": "Paris"}},
    ]}]
    result = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": "sunny"}]}]
    assert messages.anthropic_input(result) == [
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "tu1", "response": "sunny"}]}
    ]


@pytest.mark.parametrize(("raw", "normalized"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("tool_use", "tool_call"), ("max_tokens", "length"),
    ("refusal", "content_filter"),
])
def test_anthropic_finish_reasons(raw: str, normalized: str) -> None:
    assert messages.anthropic_finish_reason(raw) == normalized


def test_anthropic_stream_keeps_tool_use_input_and_thinking() -> None:
    summary = MessageStreamSummary(capture=True)
    for event in [
        {"type": "message_start", "message": {"id": "m", "model": "claude", "usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "tu", "name": "weather", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'ty": 1}'}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 4}},
    ]:
        summary.add(event)
    response, _, _ = summary.result(True)
    assert response is not None and response.output_messages == [{"role": "assistant", "finish_reason": "tool_call",
                                                                   "parts": [
        {"type": "reasoning", "content": "hmm"},
        {"type": "tool_call", "id": "tu", "name": "weather", "arguments": {"city": 1}},
    ]}]


# --- Gemini and Ollama -----------------------------------------------------------------------------------------
def test_gemini_contents_and_candidates() -> None:
    from google.genai import types

    reply = types.GenerateContentResponse.model_validate({"candidates": [{"finish_reason": "MAX_TOKENS", "content": {
        "role": "model", "parts": [{"text": "plan", "thought": True}, {"text": "Sunny"},
                                   {"function_call": {"id": "f1", "name": "weather", "args": {"city": "Paris"}}}]}}]})
    assert messages.gemini_output(reply.candidates) == [{"role": "assistant", "finish_reason": "length", "parts": [
        {"type": "reasoning", "content": "plan"}, {"type": "text", "content": "Sunny"},
        {"type": "tool_call", "id": "f1", "name": "weather", "arguments": {"city": "Paris"}},
    ]}]
    assert messages.gemini_input("Hi") == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    content = types.Content(role="model", parts=[types.Part(text="Earlier")])
    earlier = [{"role": "assistant", "parts": [{"type": "text", "content": "Earlier"}]}]
    assert messages.gemini_input([content]) == earlier
    assert messages.gemini_system("Be brief.") == [{"type": "text", "content": "Be brief."}]


def test_ollama_messages_with_thinking_and_tool_calls() -> None:
    history = [{"role": "assistant", "content": "", "thinking": "plan",
                "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Paris"}}}]},
               {"role": "tool", "content": "sunny", "tool_name": "weather"}]
    assert messages.ollama_messages(history) == [
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "plan"},
                                        {"type": "tool_call", "id": None, "name": "weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "weather", "response": "sunny"}]},
    ]
    assert messages.ollama_finish_reason("stop", has_tool_calls=True) == "tool_call"
    assert messages.ollama_finish_reason("length") == "length"


def test_anthropic_tool_definitions_in_the_conventions_shape(instrument_with: Any) -> None:
    """A client tool becomes {type: function, name, description, parameters}; a server tool stays as given; tools
    given as an iterator are the SDK's to consume: not read, not recorded."""
    from anthropic_payloads import FakeAnthropic

    captured = instrument_with(capture_content=True)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    tools = [{"name": "weather", "description": "Weather now", "input_schema": schema}, search]
    client = FakeAnthropic().client()
    client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=PROMPT, tools=tools)  # type: ignore[arg-type]
    client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=PROMPT,
                           tools=(tool for tool in tools))  # type: ignore[arg-type]
    first, second = captured.client_spans()
    assert json.loads(first.attributes[names.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "weather", "description": "Weather now", "parameters": schema}, search]
    assert names.GEN_AI_TOOL_DEFINITIONS not in second.attributes


@pytest.mark.parametrize("beta", [False, True])
def test_an_exception_in_a_stream_helpers_with_block_fails_the_call(instrument_with: Any, beta: bool) -> None:
    """The caller's own exception inside ``with client.messages.stream(...)``: the caller gets it unchanged, the
    call ends failed with it (error.type, ERROR), as the official instrumentations record it; a clean block does not."""
    import asyncio

    from opentelemetry.trace import StatusCode

    from anthropic_payloads import FakeAnthropic

    captured = instrument_with()
    api = FakeAnthropic()
    client, aclient = api.client(), api.async_client()
    sync_messages = client.beta.messages if beta else client.messages
    async_messages = aclient.beta.messages if beta else aclient.messages
    mine = ValueError("caller failed")
    with (pytest.raises(ValueError) as raised,
          sync_messages.stream(model="claude-sonnet-4-5", max_tokens=10, messages=PROMPT) as stream):
        for _ in stream.text_stream:
            raise mine
    assert raised.value is mine

    async def read() -> None:
        async with async_messages.stream(model="claude-sonnet-4-5", max_tokens=10, messages=PROMPT):
            raise KeyError("before reading")

    with pytest.raises(KeyError):
        asyncio.run(read())
    with sync_messages.stream(model="claude-sonnet-4-5", max_tokens=10, messages=PROMPT) as stream:
        stream.get_final_message()
    failed_sync, failed_async, clean = captured.client_spans()
    for span, error_type in ((failed_sync, "ValueError"), (failed_async, "KeyError")):
        assert (span.status.status_code, span.attributes[names.ERROR_TYPE]) == (StatusCode.ERROR, error_type)
    assert clean.status.status_code is StatusCode.UNSET and names.ERROR_TYPE not in clean.attributes
