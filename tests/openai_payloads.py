"""The OpenAI fake for the tests (its bodies and ``FakeOpenAI`` live in ``otel_llmcost.fakes.openai_api``), plus
test helpers: what the installed openai release offers, one span, its attributes, metric points, hand-priced costs.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from otel_llmcost.fakes.openai_api import (
    FINGERPRINT,
    STRUCTURED,
    URL,
    FakeOpenAI,
    Tokens,
    batch,
    chat_chunks,
    chat_completion,
    embeddings,
    error,
    message_item,
    response_events,
    response_object,
)
from otel_llmcost.fakes.openai_api import sse_frames as sse
from otel_llmcost.fakes.transport import frame_stream
from otel_llmcost.fakes.wire import CREATED, JSON, WORDS
from transport import for_sdk

__all__ = [
    "CREATED",
    "FINGERPRINT",
    "HAS_RESPONSES",
    "JSON",
    "MESSAGES",
    "OPENAI_URL",
    "STRUCTURED",
    "WORDS",
    "FakeOpenAI",
    "FrameStream",
    "Tokens",
    "attributes",
    "batch",
    "chat_chunks",
    "chat_completion",
    "chat_helpers",
    "embeddings",
    "error",
    "http",
    "message_item",
    "needs_responses",
    "only_span",
    "points_or_none",
    "response_events",
    "response_object",
    "sse",
    "usd",
]

OPENAI_URL = URL
# The HTTP library of the installed openai SDK: httpx2 (openai 3.x) or httpx (older releases).
http: Any = for_sdk("openai")
# What the installed openai release offers (the suite also runs against the oldest supported one, 1.40).
HAS_RESPONSES = importlib.util.find_spec("openai.resources.responses") is not None
needs_responses = pytest.mark.skipif(not HAS_RESPONSES, reason="this openai release has no Responses API")


def FrameStream(frames: list[bytes], fail_with: BaseException | None = None) -> Any:
    """An SSE body sent frame by frame (sync and async), then ``fail_with`` raised, like a dropped connection."""
    return frame_stream(http, frames, fail_with)


def chat_helpers(client: Any) -> Any:
    """Where parse()/stream() live: client.chat.completions (openai >= 1.92), else client.beta.chat.completions."""
    completions = client.chat.completions
    return completions if hasattr(completions, "parse") else client.beta.chat.completions


MESSAGES: list[Any] = [{"role": "user", "content": "Say hello"}]


def usd(*terms: tuple[int, str]) -> float:
    """Hand arithmetic of a cost: sum of tokens x $/Mtok (prices as written on the price page), in USD.

    Exact (Decimal) so that a test can compare with ``==``: e.g. ``usd((2_000, "2.50"), (500, "10"))``.
    """
    from decimal import Decimal

    total = sum((Decimal(tokens) * Decimal(price) for tokens, price in terms), Decimal(0))
    return float(total / Decimal(1_000_000))


def only_span(captured: Any) -> Any:
    """The one CLIENT span the test's single call produced (fails when there are more or fewer)."""
    spans = captured.client_spans()
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def points_or_none(captured: Any, name: str) -> list[Any]:
    """Like ``captured.points`` but also when nothing at all was recorded (the reader then returns None)."""
    captured.reader.collect()
    data = captured.reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]
