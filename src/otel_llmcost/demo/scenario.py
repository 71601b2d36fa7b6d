"""The demo's traffic: real SDK clients, a loopback fake of the provider APIs, the instrumentation on.

Each step is an ordinary SDK call a production app would make (cache hits, streaming, a reasoning
model, flex tier, an error, one expensive request, an unknown model). What comes out is read back
from the spans the instrumentation emitted, so the printed report is the telemetry, not a guess.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from .. import names


@dataclass(frozen=True)
class Step:
    """One demo call: what it shows, and how to make it with an OpenAI client."""

    title: str
    run: Callable[[Any], object]


def _usage(**counts: int) -> dict[str, str]:
    return {"x-mock-usage": json.dumps(counts)}


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def openai_steps() -> list[Step]:
    hello = [{"role": "user", "content": "Summarize our Q3 support tickets in three bullet points."}]
    return [
        Step(
            "chat, 8k of 10k input tokens from the prompt cache",
            lambda c: c.chat.completions.create(
                model="gpt-4o", messages=hello,
                extra_headers=_usage(prompt_tokens=10_000, cached_tokens=8_000, completion_tokens=400),
            ),
        ),
        Step(
            "streamed chat with include_usage",
            lambda c: _drain(
                c.chat.completions.create(
                    model="gpt-4o-mini", messages=hello, stream=True, stream_options={"include_usage": True},
                    extra_headers={"x-mock-chunks": "12"},
                )
            ),
        ),
        Step(
            "reasoning model (reasoning tokens are billed as output)",
            lambda c: c.chat.completions.create(
                model="o4-mini", messages=hello, reasoning_effort="high",
                extra_headers=_usage(prompt_tokens=1_200, completion_tokens=3_000, reasoning_tokens=2_600),
            ),
        ),
        Step(
            "Responses API, flex service tier",
            lambda c: c.responses.create(
                model="gpt-5", input="Draft a polite follow-up email.", service_tier="flex",
                extra_headers={**_usage(prompt_tokens=2_000, completion_tokens=800), "x-mock-service-tier": "flex"},
            ),
        ),
        Step(
            "embeddings",
            lambda c: c.embeddings.create(model="text-embedding-3-small", input=["ticket 1", "ticket 2", "ticket 3"]),
        ),
        Step(
            "one expensive request: 120k tokens of context",
            lambda c: c.chat.completions.create(
                model="gpt-4.1", messages=hello,
                extra_headers=_usage(prompt_tokens=120_000, completion_tokens=4_000),
            ),
        ),
        Step(
            "rate-limited call (HTTP 429): an error, no cost",
            lambda c: c.chat.completions.create(
                model="gpt-4o", messages=hello, extra_headers={"x-mock-error": "429"},
            ),
        ),
        Step(
            "a model no price list knows: no cost, counted as unpriced",
            lambda c: c.chat.completions.create(model="acme-llm-7b", messages=hello),
        ),
    ]


class SpanCollector(SpanProcessor):
    """Keeps the finished spans of the demo in memory, to print what the telemetry says."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        if span.instrumentation_scope is not None and span.instrumentation_scope.name == names.INSTRUMENTATION_SCOPE:
            self.spans.append(span)


@dataclass(frozen=True)
class Row:
    """One call as the report prints it, read from its span."""

    name: str
    input_tokens: int | None
    cached_tokens: int
    output_tokens: int | None
    reasoning_tokens: int
    cost: float | None
    error: str | None
    trace_id: str


def rows(spans: Sequence[ReadableSpan]) -> Iterator[Row]:
    for span in spans:
        attrs = dict(span.attributes or {})
        cost = attrs.get(names.GEN_AI_USAGE_COST)
        yield Row(
            name=span.name,
            input_tokens=_opt_int(attrs.get(names.GEN_AI_USAGE_INPUT_TOKENS)),
            cached_tokens=int(attrs.get(names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) or 0),  # type: ignore[arg-type]
            output_tokens=_opt_int(attrs.get(names.GEN_AI_USAGE_OUTPUT_TOKENS)),
            reasoning_tokens=int(attrs.get(names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0) or 0),  # type: ignore[arg-type]
            cost=float(cost) if isinstance(cost, (int, float)) else None,
            error=str(attrs[names.ERROR_TYPE]) if names.ERROR_TYPE in attrs else None,
            trace_id=f"{span.context.trace_id:032x}" if span.context is not None else "",
        )


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) else None
