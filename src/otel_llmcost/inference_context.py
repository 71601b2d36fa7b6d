"""``OTEL_LLMCOST_SPAN=annotate``: one span per call beside OpenTelemetry's GenAI instrumentations.

Those instrumentations (opentelemetry-instrumentation-genai-openai, -anthropic, on opentelemetry-util-genai) keep
one span per call when their wrappers nest with a context mark: while an inference (or embedding) span of theirs is
open, the context holds an ``InferenceData`` (``EmbeddingData``) under util-genai's key for that kind; an invocation
begun under the mark makes no span, metrics or events of its own and publishes its attributes into the mark, and
the span that set the mark takes the mark's ``attributes`` when it ends. We speak that protocol from both sides:

- **Theirs wraps ours** (ours instrumented first): the mark is there when our call begins, their span current. Our
  call makes no span; its cost, cache and attribution attributes go onto theirs (``annotating``) when the call
  ends: an inner call ends before the outer one, streams included. Their span also carries the conventions'
  content and ``gen_ai.client.*`` metrics, so ours writes neither: only the ``llmcost.*`` metrics.
- **Ours wraps theirs** (ours instrumented last): ours is the outer span; while the SDK runs we set the mark
  (``marked``), so theirs makes no span and publishes into it; what they publish that our span lacks goes onto
  it when the call ends (``published``).

With no mark and their package not loaded, a call gets our own span, as with ``OTEL_LLMCOST_SPAN=own``. Nothing
here imports util-genai: its instrumentations have imported it when they are there.
"""

from __future__ import annotations

import sys
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from . import names

_INVOCATION_MODULE = "opentelemetry.util.genai.invocation"  # exports the data classes (util-genai >= 1.3b0)
# (context key, data class) by kind of call: embeddings have their own; every other operation is an inference.
_EMBEDDING = (names.UTIL_GENAI_EMBEDDING_CONTEXT_KEY, "EmbeddingData")
_INFERENCE = (names.UTIL_GENAI_INFERENCE_CONTEXT_KEY, "InferenceData")


def _kind(operation: str) -> tuple[str, str]:
    return _EMBEDDING if operation == "embeddings" else _INFERENCE


def _mark_of(value: Any) -> dict[str, Any] | None:
    """The attributes of a util-genai mark, or None when ``value`` is none (duck-typed: their class is not
    imported for a check)."""
    attributes = getattr(value, "attributes", None)
    return attributes if isinstance(attributes, dict) else None


def annotating(operation: str) -> Any:
    """Their open span when a util-genai invocation wraps the call beginning now (it is the current span), or
    None. The call's attributes go straight onto it when the call ends, before theirs does: not through the mark,
    whose attributes an instrumentation may replace after starting (genai-anthropic 1.3b0 assigns a new dict to
    ``invocation.attributes``, and the mark's are then merged into the old one)."""
    if _mark_of(otel_context.get_value(_kind(operation)[0])) is None:
        return None
    return trace.get_current_span()


def marked(context: otel_context.Context, operation: str) -> tuple[otel_context.Context, Any]:
    """``context`` with a fresh mark, and the mark (None, and ``context`` unchanged, when util-genai is not
    loaded: no instrumentation of theirs to tell)."""
    module = sys.modules.get(_INVOCATION_MODULE)
    if module is None:
        return context, None
    key, class_name = _kind(operation)
    data_class = getattr(module, class_name, None)
    if data_class is None:
        return context, None
    data = data_class()
    return otel_context.set_value(key, data, context), data


def published(mark: Any, attrs: dict[str, Any]) -> None:
    """Adds to ``attrs`` (our span's finished attributes) what an inner util-genai invocation published into our
    mark and we do not have: ours win where both wrote."""
    theirs = _mark_of(mark)
    if theirs:
        for key, value in theirs.items():
            attrs.setdefault(key, value)
