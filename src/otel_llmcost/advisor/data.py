"""What the advisor assumes, as data: provider cache minimums and TTLs, model ladders, thresholds.

Each value is what the provider documents as of 2026-12 (see /README's "Where the money could be saved");
the estimates are only as right as these. A ladder may be replaced from the command line (``--ladder``).
"""

from __future__ import annotations

from typing import Final

DAYS_PER_MONTH: Final = 30
"""A month, for USD per month: the window's savings x 30 days / the days the window covers."""
MIN_WINDOW_DAYS: Final = 1
"""A ledger younger than a day is scaled as one day (a burst of calls is not a month of them)."""

# Prompt caching: the shortest prefix a provider caches (tokens), by provider, with per-model exceptions
# (model id prefixes, longest first wins).
CACHE_MINIMUM_TOKENS: Final = {"anthropic": 1024, "openai": 1024, "azure.ai.openai": 1024, "gcp.gemini": 1024,
                               "gcp.vertex_ai": 1024, "aws.bedrock": 1024}
CACHE_MINIMUM_BY_MODEL: Final = {
    "claude-opus-4-5": 4096, "claude-haiku-4-5": 4096, "claude-3-5-haiku": 2048, "claude-3-haiku": 2048,
    "gemini-2.5-pro": 2048, "gemini-3-pro": 2048,
}
CACHE_TTL_SECONDS: Final = 300
"""How long a provider keeps a cached prefix after its last use (Anthropic's default ephemeral TTL; OpenAI's
in-memory cache keeps prefixes 5-10 minutes)."""
CACHE_TTL_1H_SECONDS: Final = 3600
EXPLICIT_CACHE_PROVIDERS: Final = frozenset({"anthropic", "aws.bedrock", "gcp.vertex_ai"})
"""Providers that cache only what the request marks (``cache_control``); the others cache prefixes by themselves."""

# Response cache: identical requests within this many seconds would have been answered from a cache.
RESPONSE_CACHE_WINDOW_SECONDS: Final = 3600

# Model right-sizing: cheaper models per provider, most expensive first (a model is matched by its priced id).
LADDERS: Final = {
    "openai": (("gpt-5", "gpt-5-mini", "gpt-5-nano"), ("gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"),
               ("gpt-4o", "gpt-4o-mini")),
    "anthropic": (("claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"),
                  ("claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"),
                  ("claude-sonnet-4", "claude-3-5-haiku")),
    "gcp.gemini": (("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"),),
    "gcp.vertex_ai": (("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"),),
}
LADDER_MIN_CALLS: Final = 20
"""A feature's model is a right-sizing candidate from this many calls in the window..."""
LADDER_MAX_MEDIAN_OUTPUT: Final = 300
"""...whose median output is at most this many tokens (short answers: a simple task, perhaps)."""

# max_tokens: a cap this many times above the 95th percentile of outputs is "far above".
MAX_TOKENS_FACTOR: Final = 4
MAX_TOKENS_MIN_CALLS: Final = 10
TRUNCATION_REASONS: Final = frozenset({"length", "max_tokens", "MAX_TOKENS", "incomplete"})
TRUNCATION_RATE: Final = 0.05
"""Truncated answers above this share of a feature's calls: max_tokens is too low."""

# Growing conversations: chains of at least this many turns, priced as if only the first prompt (system and
# first question) and the last WINDOW_TURNS turns were sent.
GROWING_MIN_TURNS: Final = 4
WINDOW_TURNS: Final = 3
