"""Agent-run roll-ups with a real agent framework: pydantic-ai agents (their own OpenTelemetry spans,
``invoke_agent {name}`` with ``gen_ai.operation.name``) driving the real openai SDK against the loopback fake.
A triage agent's tool runs a researcher agent: every call counts once in each agent run above it and once in
the request."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from openai_payloads import FakeOpenAI, Tokens
from otel_llmcost import names

pydantic_ai = pytest.importorskip("pydantic_ai")


def tool_call_first(fake: FakeOpenAI) -> Any:
    """Replies: a call of the `research` tool to a request that offers it and has no tool result yet, else text."""

    def body(reply: dict[str, Any]) -> dict[str, Any]:
        request = fake.bodies[-1]
        offered = {t.get("function", {}).get("name") for t in request.get("tools") or []}
        answered = any(m.get("role") == "tool" for m in request.get("messages") or [])
        if "research" in offered and not answered:
            reply["choices"][0]["message"] = {
                "role": "assistant", "content": None,
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": "research", "arguments": json.dumps({"topic": "costs"})}}],
            }  # fmt: skip
            reply["choices"][0]["finish_reason"] = "tool_calls"
        return reply

    return body


def test_pydantic_ai_nested_agents_roll_up(captured: Any) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.capabilities.instrumentation import Instrumentation
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    fake = FakeOpenAI(tokens=Tokens(prompt=500, completion=40))
    fake.chat_body = tool_call_first(fake)
    model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(openai_client=fake.async_client()))
    settings = InstrumentationSettings(tracer_provider=captured.tracer_provider, meter_provider=captured.meter_provider)
    researcher = Agent(model, name="researcher", capabilities=[Instrumentation(settings=settings)])
    triage = Agent(model, name="triage", capabilities=[Instrumentation(settings=settings)])

    @triage.tool_plain
    async def research(topic: str) -> str:
        """Research a topic."""
        result = await researcher.run(f"Find out about {topic}")
        return str(result.output)

    tracer = captured.tracer_provider.get_tracer("app")

    async def request() -> str:
        with tracer.start_as_current_span("POST /ask"):
            result = await triage.run("What do our LLM calls cost?")
            return str(result.output)

    assert asyncio.run(request()) == "Hello there, friend."
    ours = captured.client_spans()
    ours = [s for s in ours if s.instrumentation_scope.name == names.INSTRUMENTATION_SCOPE]
    assert len(ours) == 3  # triage asks, researcher answers, triage answers
    unit = Decimal(repr(ours[0].attributes[names.GEN_AI_USAGE_COST]))
    spans = {s.name: s for s in captured.spans()}
    for name, calls in (("POST /ask", 3), ("invoke_agent triage", 3), ("invoke_agent researcher", 1)):
        attrs = spans[name].attributes
        assert attrs[names.LLMCOST_ROLLUP_CALLS] == calls, name
        assert Decimal(repr(attrs[names.LLMCOST_ROLLUP_COST])) == unit * calls, name
        assert attrs[names.LLMCOST_ROLLUP_INPUT_TOKENS] == 500 * calls
    (point,) = captured.points(names.METRIC_OPERATION_CALLS)
    assert dict(point.attributes)[names.LLMCOST_OPERATION] == "POST /ask" and point.sum == 3
