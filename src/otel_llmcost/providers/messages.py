"""Message content in the GenAI conventions' JSON format, from each SDK's own shapes.

The conventions record ``gen_ai.input.messages`` / ``gen_ai.output.messages`` as ``{"role", "parts": [...]}``
with typed parts (``text``, ``tool_call``, ``tool_call_response``, ``reasoning``, ``uri``/``blob``...), output
messages with their ``finish_reason``, and ``gen_ai.system_instructions`` as a parts array. Each adapter hands
its SDK's request and reply to the functions here (only when content is captured) and gets plain lists/dicts
that telemetry serializes as they are. Finish reasons are normalized to the conventions' values here too.
Nothing here imports an SDK: objects and dicts are read alike through ``base.get``.
"""

from __future__ import annotations

import json
from typing import Any

from .base import get

Part = dict[str, Any]
Message = dict[str, Any]

# Anthropic stop_reason -> the conventions' finish reasons (stop, length, content_filter, tool_call, error).
_ANTHROPIC_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_call",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
# Gemini FinishReason names -> conventions.
_GEMINI_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}


def anthropic_finish_reason(reason: Any) -> str | None:
    """An Anthropic ``stop_reason`` as the conventions name it (unknown values pass through)."""
    if not isinstance(reason, str) or not reason:
        return None
    return _ANTHROPIC_FINISH.get(reason, reason)


def gemini_finish_reason(reason: Any) -> str | None:
    """A Gemini ``finish_reason`` (enum or string) as the conventions name it."""
    name = getattr(reason, "name", reason)
    if not isinstance(name, str) or not name or name == "FINISH_REASON_UNSPECIFIED":
        return None
    return _GEMINI_FINISH.get(name, name.lower())


def _arguments(raw: Any) -> Any:
    """Tool-call arguments as the conventions record them: the parsed JSON object when the SDK gave a string."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _text(content: Any) -> Part:
    return {"type": "text", "content": content}


def _tool_call(call_id: Any, name: Any, arguments: Any) -> Part:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def _tool_response(call_id: Any, response: Any) -> Part:
    return {"type": "tool_call_response", "id": call_id, "response": response}


def text_parts(value: Any) -> list[Part]:
    """A plain string (or a list of strings/text blocks) as text parts: system instructions, prompts."""
    if value is None:
        return []
    if isinstance(value, str):
        return [_text(value)]
    if isinstance(value, list):
        parts: list[Part] = []
        for item in value:
            parts.extend(_content_parts(item))
        return parts
    return _content_parts(value)


def _content_parts(item: Any) -> list[Part]:
    """One content block of any SDK as parts."""
    if item is None:
        return []
    if isinstance(item, str):
        return [_text(item)]
    kind = get(item, "type")
    if kind in ("text", "input_text", "output_text"):
        return [_text(get(item, "text"))]
    if kind in ("thinking", "reasoning"):
        return [{"type": "reasoning", "content": get(item, "thinking") or get(item, "text")}]
    if kind == "redacted_thinking":
        return [{"type": "reasoning", "content": ""}]
    if kind in ("tool_use", "server_tool_use"):
        return [_tool_call(get(item, "id"), get(item, "name"), get(item, "input"))]
    if kind == "tool_result":
        return [_tool_response(get(item, "tool_use_id"), _plain(get(item, "content")))]
    if kind == "image_url":
        return [{"type": "uri", "modality": "image", "uri": get(get(item, "image_url"), "url")}]
    if kind == "input_image":
        return [{"type": "uri", "modality": "image", "uri": get(item, "image_url")}]
    if kind == "image":
        source = get(item, "source")
        if get(source, "type") == "url":
            return [{"type": "uri", "modality": "image", "uri": get(source, "url")}]
        return [{"type": "blob", "modality": "image", "mime_type": get(source, "media_type"), "content": ""}]
    text = get(item, "text")
    if isinstance(text, str):
        return [_text(text)]
    return [{"type": str(kind) if kind else "unknown"}]


def _plain(value: Any) -> Any:
    """A tool result's content as JSON-able data: strings stay, block lists become their text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list):
        texts = [get(block, "text") if not isinstance(block, str) else block for block in value]
        if all(isinstance(t, str) for t in texts):
            return "".join(texts)  # type: ignore[arg-type]
    return str(value)


# --- OpenAI Chat Completions ------------------------------------------------------------------------------
def _openai_tool_calls(tool_calls: Any) -> list[Part]:
    parts: list[Part] = []
    for call in tool_calls if isinstance(tool_calls, list) else ():
        function = get(call, "function")
        parts.append({
            "type": "tool_call",
            "id": get(call, "id"),
            "name": get(function, "name"),
            "arguments": _arguments(get(function, "arguments")),
        })
    return parts


def openai_chat_input(messages: Any) -> list[Message]:
    """Chat Completions ``messages`` (system/developer messages included, as the official instrumentation does)."""
    result: list[Message] = []
    for message in messages if isinstance(messages, list) else ():
        role = get(message, "role")
        content = get(message, "content")
        if role == "tool":
            parts: list[Part] = [_tool_response(get(message, "tool_call_id"), _plain(content))]
        else:
            parts = text_parts(content)
            parts.extend(_openai_tool_calls(get(message, "tool_calls")))
        result.append({"role": role, "parts": parts})
    return result


def openai_chat_output(choices: Any) -> list[Message]:
    """Chat Completions ``choices``: one output message per choice, with its finish reason."""
    result: list[Message] = []
    for choice in choices if isinstance(choices, list) else ():
        message = get(choice, "message")
        parts = text_parts(get(message, "content"))
        parts.extend(_openai_tool_calls(get(message, "tool_calls")))
        result.append({"role": get(message, "role") or "assistant", "parts": parts,
                       "finish_reason": get(choice, "finish_reason") or "error"})
    return result


class ChatChoices:
    """A chat stream's choices as they arrive: per index, its text, tool calls (arguments joined) and finish reason."""

    __slots__ = ("choices",)

    def __init__(self) -> None:
        self.choices: dict[int, dict[str, Any]] = {}

    def add(self, choice: Any) -> None:
        index = getattr(choice, "index", 0)
        state = self.choices.get(index if type(index) is int else 0)
        if state is None:
            state = self.choices[index if type(index) is int else 0] = {"text": [], "tools": {}, "finish": None}
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None)
        if content and type(content) is str:
            state["text"].append(content)
        for call in getattr(delta, "tool_calls", None) or ():
            slot = state["tools"].setdefault(getattr(call, "index", 0), {"id": None, "name": None, "arguments": []})
            if getattr(call, "id", None):
                slot["id"] = call.id
            function = getattr(call, "function", None)
            name = getattr(function, "name", None)
            if name:
                slot["name"] = name
            arguments = getattr(function, "arguments", None)
            if isinstance(arguments, str):
                slot["arguments"].append(arguments)
        reason = getattr(choice, "finish_reason", None)
        if reason and type(reason) is str:
            state["finish"] = reason

    def messages(self) -> list[Message]:
        """The output messages; a choice the stream never finished ends with ``error``."""
        result: list[Message] = []
        for _, state in sorted(self.choices.items()):
            parts: list[Part] = [_text("".join(state["text"]))] if state["text"] else []
            for _, slot in sorted(state["tools"].items()):
                parts.append({"type": "tool_call", "id": slot["id"], "name": slot["name"],
                              "arguments": _arguments("".join(slot["arguments"]))})
            result.append({"role": "assistant", "parts": parts, "finish_reason": state["finish"] or "error"})
        return result


# --- OpenAI Responses --------------------------------------------------------------------------------------
def openai_responses_input(value: Any) -> list[Message]:
    """Responses ``input``: a string (one user message) or a list of messages and items."""
    if isinstance(value, str):
        return [{"role": "user", "parts": [_text(value)]}]
    result: list[Message] = []
    for item in value if isinstance(value, list) else ():
        kind = get(item, "type")
        if kind == "function_call":
            result.append({"role": "assistant", "parts": [{"type": "tool_call", "id": get(item, "call_id"),
                           "name": get(item, "name"), "arguments": _arguments(get(item, "arguments"))}]})
        elif kind == "function_call_output":
            result.append({"role": "tool", "parts": [{"type": "tool_call_response", "id": get(item, "call_id"),
                           "response": _plain(get(item, "output"))}]})
        elif kind == "reasoning":
            result.append({"role": "assistant", "parts": _reasoning_parts(item)})
        else:
            result.append({"role": get(item, "role") or "user", "parts": text_parts(get(item, "content"))})
    return result


def _reasoning_parts(item: Any) -> list[Part]:
    summary = get(item, "summary")
    texts = [get(s, "text") for s in summary] if isinstance(summary, list) else []
    return [{"type": "reasoning", "content": "".join(t for t in texts if isinstance(t, str))}]


def responses_finish_reason(obj: Any) -> list[str]:
    """A Response's finish reason from what it produced, not its status: tool_call when it called a function,
    length / content_filter when incomplete for that reason, error when failed, stop otherwise."""
    status = get(obj, "status")
    if status == "failed":
        return ["error"]
    if status == "incomplete":
        why = get(get(obj, "incomplete_details"), "reason")
        return ["length" if why == "max_output_tokens" else "content_filter" if why == "content_filter" else "length"]
    if status not in ("completed", None):
        return []
    output = get(obj, "output")
    items = output if isinstance(output, list) else []
    if any(get(item, "type") == "function_call" for item in items):
        return ["tool_call"]
    return ["stop"] if items or status == "completed" else []


def openai_responses_output(obj: Any, finish: list[str]) -> list[Message]:
    """A Response's ``output`` items as one assistant message of parts."""
    parts: list[Part] = []
    output = get(obj, "output")
    for item in output if isinstance(output, list) else ():
        kind = get(item, "type")
        if kind == "message":
            parts.extend(text_parts(get(item, "content")))
        elif kind == "function_call":
            parts.append({"type": "tool_call", "id": get(item, "call_id"), "name": get(item, "name"),
                          "arguments": _arguments(get(item, "arguments"))})
        elif kind == "reasoning":
            parts.extend(_reasoning_parts(item))
        elif kind:
            parts.append({"type": "tool_call", "id": get(item, "id"), "name": str(kind)})
    return [{"role": "assistant", "parts": parts, "finish_reason": finish[0] if finish else "error"}]


# --- Anthropic ---------------------------------------------------------------------------------------------
def anthropic_input(messages: Any) -> list[Message]:
    """Anthropic ``messages``: string or block content; tool results ride in user messages."""
    result: list[Message] = []
    for message in messages if isinstance(messages, list) else ():
        parts = text_parts(get(message, "content"))
        role = get(message, "role")
        if parts and all(p["type"] == "tool_call_response" for p in parts):
            role = "tool"
        result.append({"role": role, "parts": parts})
    return result


def anthropic_output(content: Any, finish: str | None) -> list[Message]:
    """An Anthropic reply's content blocks (text, tool_use, thinking) as one output message."""
    return [{"role": "assistant", "parts": text_parts(content), "finish_reason": finish or "error"}]


# --- Gemini --------------------------------------------------------------------------------------------------
def gemini_parts(parts: Any) -> list[Part]:
    result: list[Part] = []
    for part in parts if isinstance(parts, list) else ():
        text = get(part, "text")
        call = get(part, "function_call")
        response = get(part, "function_response")
        if call is not None:
            result.append({"type": "tool_call", "id": get(call, "id"), "name": get(call, "name"),
                           "arguments": get(call, "args")})
        elif response is not None:
            result.append({"type": "tool_call_response", "id": get(response, "id"),
                           "response": get(response, "response")})
        elif isinstance(text, str):
            result.append({"type": "reasoning", "content": text} if get(part, "thought") else _text(text))
        else:
            result.append({"type": "unknown"})
    return result


def gemini_input(contents: Any) -> list[Message]:
    """google-genai ``contents``: a string, a Content, or a list of either (or of parts)."""
    if isinstance(contents, str):
        return [{"role": "user", "parts": [_text(contents)]}]
    items = contents if isinstance(contents, list) else [contents]
    result: list[Message] = []
    for item in items:
        if isinstance(item, str):
            result.append({"role": "user", "parts": [_text(item)]})
            continue
        parts = get(item, "parts")
        if parts is None:  # a bare part
            result.append({"role": "user", "parts": gemini_parts([item])})
            continue
        role = get(item, "role")
        result.append({"role": "assistant" if role == "model" else role or "user", "parts": gemini_parts(parts)})
    return result


def gemini_system(value: Any) -> list[Part]:
    """``config.system_instruction``: a string, a Content or parts."""
    if isinstance(value, str):
        return [_text(value)]
    parts = get(value, "parts")
    return gemini_parts(parts if parts is not None else value if isinstance(value, list) else [value])


def gemini_output(candidates: Any) -> list[Message]:
    result: list[Message] = []
    for candidate in candidates if isinstance(candidates, list) else ():
        parts = gemini_parts(get(get(candidate, "content"), "parts"))
        finish = gemini_finish_reason(get(candidate, "finish_reason"))
        result.append({"role": "assistant", "parts": parts, "finish_reason": finish or "error"})
    return result


# --- Ollama --------------------------------------------------------------------------------------------------
def ollama_messages(messages: Any) -> list[Message]:
    """Ollama chat ``messages`` (dicts or Message objects): content, thinking and tool calls."""
    result: list[Message] = []
    for message in messages if isinstance(messages, list) else ():
        role = get(message, "role")
        thinking = get(message, "thinking")
        parts: list[Part] = []
        if isinstance(thinking, str) and thinking:
            parts.append({"type": "reasoning", "content": thinking})
        content = get(message, "content")
        if role == "tool":
            parts.append({"type": "tool_call_response", "id": get(message, "tool_name"), "response": content})
        elif isinstance(content, str) and content:
            parts.append(_text(content))
        for call in get(message, "tool_calls") or ():
            function = get(call, "function")
            parts.append({"type": "tool_call", "id": None, "name": get(function, "name"),
                          "arguments": _arguments(get(function, "arguments"))})
        result.append({"role": role, "parts": parts})
    return result


def ollama_finish_reason(reason: Any, has_tool_calls: bool = False) -> str | None:
    if has_tool_calls:
        return "tool_call"
    if reason == "length":
        return "length"
    return "stop" if isinstance(reason, str) and reason else None


def anthropic_tools(tools: list[Any] | tuple[Any, ...]) -> list[Any]:
    """Anthropic tool definitions in the conventions' shape: a client tool (``input_schema``) as
    ``{"type": "function", "name", "description", "parameters"}``; server tools (web search...) as given."""
    shaped: list[Any] = []
    for tool in plain_tools(list(tools)):
        if isinstance(tool, dict) and "input_schema" in tool:
            function = {"type": "function", "name": tool.get("name")}
            if tool.get("description") is not None:
                function["description"] = tool["description"]
            function["parameters"] = tool["input_schema"]
            shaped.append(function)
        else:
            shaped.append(tool)
    return shaped


def plain_tools(tools: Any) -> Any:
    """Tool definitions as JSON-able data: dicts as given, the SDKs' pydantic models dumped, functions by name."""
    plain = []
    for tool in tools if isinstance(tools, list) else [tools]:
        dump = getattr(tool, "model_dump", None)
        if callable(dump):
            plain.append(dump(exclude_none=True, mode="json"))
        elif callable(tool):
            plain.append({"name": getattr(tool, "__name__", str(tool))})
        else:
            plain.append(tool)
    return plain
