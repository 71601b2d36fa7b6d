"""The demo's traffic: ordinary OpenAI and Anthropic SDK calls, each made for a feature, a team and a user.

Each step is a call a production app makes (prompt-cache writes and hits, streaming, a reasoning model,
extended thinking, the flex tier, embeddings, one expensive request, a rate limit, an overloaded server, a
model no price list knows). The ``x-mock-*`` headers tell the loopback fake what usage to report, so the
costs are known in advance and the same on every run. Knows the SDKs' public API, nothing of telemetry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

OPENAI: str = "openai"
ANTHROPIC: str = "anthropic"

# Who is calling: the feature, the team that owns it, and a user (attributes(feature=..., team=..., user_id=...)).
TEAMS: Mapping[str, str] = MappingProxyType(
    {"support-chat": "support", "summarize": "docs", "code-review": "platform", "search": "search"}
)


@dataclass(frozen=True)
class Step:
    """One demo call: what it shows, for whom, and how to make it with the provider's client."""

    title: str
    provider: str
    feature: str
    user: str
    run: Callable[[Any], object]
    weight: int = 10
    """How often continuous traffic (``--duration``) picks this step, relative to the others."""

    @property
    def who(self) -> dict[str, str]:
        """The keywords for ``otel_llmcost.attributes``."""
        return {"feature": self.feature, "team": TEAMS[self.feature], "user_id": self.user}


def _usage(**counts: int) -> dict[str, str]:
    return {"x-mock-usage": json.dumps(counts)}


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def _thinking_stream(client: Any) -> object:
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=8_000,
        thinking={"type": "enabled", "budget_tokens": 4_000},
        messages=[{"role": "user", "content": "Review this diff for concurrency bugs."}],
        extra_headers=_usage(input_tokens=3_200, output_tokens=2_600, thinking_tokens=1_900),
    ) as stream:
        return stream.get_final_message()


_TICKETS = [{"role": "user", "content": "Summarize our Q3 support tickets in three bullet points."}]
_HANDBOOK = [{"type": "text", "text": "You are the support assistant. <6,000 tokens of handbook>",
              "cache_control": {"type": "ephemeral"}}]
_QUESTION = [{"role": "user", "content": "How do I reset my password?"}]


def openai_steps() -> list[Step]:
    return [
        Step(
            "chat, 8k of 10k input tokens from the prompt cache",
            OPENAI, "support-chat", "alice",
            lambda c: c.chat.completions.create(
                model="gpt-4o", messages=_TICKETS,
                extra_headers=_usage(prompt_tokens=10_000, cached_tokens=8_000, completion_tokens=400),
            ),
        ),
        Step(
            "streamed chat with include_usage",
            OPENAI, "support-chat", "bob",
            lambda c: _drain(
                c.chat.completions.create(
                    model="gpt-4o-mini", messages=_QUESTION, stream=True, stream_options={"include_usage": True},
                    extra_headers={"x-mock-chunks": "12"},
                )
            ),
            weight=30,
        ),
        Step(
            "reasoning model (reasoning tokens are billed as output)",
            OPENAI, "code-review", "carol",
            lambda c: c.chat.completions.create(
                model="o4-mini", messages=_TICKETS, reasoning_effort="high",
                extra_headers=_usage(prompt_tokens=1_200, completion_tokens=3_000, reasoning_tokens=2_600),
            ),
        ),
        Step(
            "Responses API, flex service tier",
            OPENAI, "summarize", "dave",
            lambda c: c.responses.create(
                model="gpt-5", input="Draft a polite follow-up email.", service_tier="flex",
                extra_headers={**_usage(prompt_tokens=2_000, completion_tokens=800), "x-mock-service-tier": "flex"},
            ),
        ),
        Step(
            "embeddings",
            OPENAI, "search", "erin",
            lambda c: c.embeddings.create(
                model="text-embedding-3-small", input=["ticket 1", "ticket 2", "ticket 3"],
                extra_headers=_usage(prompt_tokens=2_400),
            ),
            weight=30,
        ),
        Step(
            "one expensive request: 120k tokens of context",
            OPENAI, "summarize", "bob",
            lambda c: c.chat.completions.create(
                model="gpt-4.1", messages=_TICKETS,
                extra_headers=_usage(prompt_tokens=120_000, completion_tokens=4_000),
            ),
            weight=1,
        ),
        Step(
            "rate-limited call (HTTP 429): an error, no cost",
            OPENAI, "support-chat", "alice",
            lambda c: c.chat.completions.create(
                model="gpt-4o", messages=_TICKETS, extra_headers={"x-mock-error": "429"}
            ),
            weight=3,
        ),
        Step(
            "a model no price list knows: no cost, counted as unpriced",
            OPENAI, "search", "erin",
            lambda c: c.chat.completions.create(model="acme-llm-7b", messages=_QUESTION),
            weight=3,
        ),
    ]


def anthropic_steps() -> list[Step]:
    return [
        Step(
            "6k-token system prompt written to the prompt cache (5 minutes)",
            ANTHROPIC, "support-chat", "alice",
            lambda c: c.messages.create(
                model="claude-sonnet-4-6", max_tokens=1_024, system=_HANDBOOK, messages=_QUESTION,
                extra_headers=_usage(input_tokens=1_500, cache_creation_input_tokens=6_000,
                                     ephemeral_5m_input_tokens=6_000, output_tokens=350),
            ),
        ),
        Step(
            "the same system prompt read from the cache",
            ANTHROPIC, "support-chat", "bob",
            lambda c: c.messages.create(
                model="claude-sonnet-4-6", max_tokens=1_024, system=_HANDBOOK, messages=_QUESTION,
                extra_headers=_usage(input_tokens=1_500, cache_read_input_tokens=6_000, output_tokens=420),
            ),
            weight=30,
        ),
        Step(
            "extended thinking, streamed with messages.stream()",
            ANTHROPIC, "code-review", "carol", _thinking_stream,
        ),
        Step(
            "streamed reply from a small model",
            ANTHROPIC, "summarize", "dave",
            lambda c: _drain(
                c.messages.create(model="claude-haiku-4-5", max_tokens=512, messages=_TICKETS, stream=True,
                                  extra_headers={"x-mock-chunks": "20"})
            ),
            weight=20,
        ),
        Step(
            "20k-token repository context cached for an hour",
            ANTHROPIC, "code-review", "alice",
            lambda c: c.messages.create(
                model="claude-sonnet-4-6", max_tokens=2_048, messages=_TICKETS,
                extra_headers=_usage(input_tokens=800, cache_creation_input_tokens=20_000,
                                     ephemeral_1h_input_tokens=20_000, output_tokens=600),
            ),
            weight=3,
        ),
        Step(
            "overloaded server (HTTP 529): an error, no cost",
            ANTHROPIC, "search", "erin",
            lambda c: c.messages.create(model="claude-haiku-4-5", max_tokens=256, messages=_QUESTION,
                                        extra_headers={"x-mock-error": "529"}),
            weight=3,
        ),
    ]


def steps() -> list[Step]:
    """The whole scenario, providers interleaved so a partial run already shows both."""
    mixed: list[Step] = []
    first, second = openai_steps(), anthropic_steps()
    for index in range(max(len(first), len(second))):
        mixed.extend(s[index] for s in (first, second) if index < len(s))
    return mixed
