"""pytest plugin: run an official OpenTelemetry GenAI instrumentation's own test suite against otel-llmcost.

Loaded with ``-p swap_instrumentor`` before the suite's conftest is imported, it replaces the suite's instrumentor
class in its package with ``LLMCostInstrumentor``, so the conftest's
``from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor`` gets ours. Nothing else in the suite
changes: its fixtures, its cassettes (replayed by vcrpy through the real SDK) and its assertions are theirs.
``CONFORMANCE_TARGET`` names the suite's package and class
(``opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor``).
"""

from __future__ import annotations

import importlib
import os

from otel_llmcost import LLMCostInstrumentor


def _swap() -> None:
    target = os.environ["CONFORMANCE_TARGET"]
    module_name, class_name = target.split(":")
    module = importlib.import_module(module_name)

    class Ours(LLMCostInstrumentor):  # type: ignore[misc]
        """Ours, called as the suite calls its own instrumentor (its logger_provider gets our content events)."""

    Ours.__name__ = class_name
    setattr(module, class_name, Ours)


_swap()
