"""What the coexistence tests (ours beside other OpenAI / Anthropic instrumentations) share: whether another
instrumentation is installed, the cost records and metric sums that must equal ours alone (the fixture undoing every
instrumentor a test turned on, ``cleanup``, is in conftest)."""

from __future__ import annotations

import importlib.util

from conftest import Captured
from otel_llmcost import names


def installed(module: str) -> bool:
    try:  # find_spec imports the parent packages: a missing one raises
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def costed(captured: Captured, key: str = names.GEN_AI_USAGE_COST) -> list[tuple[str, float]]:
    """(scope, cost) of every span that carries a cost (under ``key``)."""
    return [
        (span.instrumentation_scope.name if span.instrumentation_scope else "", attributes[key])
        for span in captured.spans()
        if (attributes := span.attributes) and key in attributes
    ]


def money(captured: Captured) -> dict[str, float]:
    """The llmcost metric sums a call adds: equal with or without the other instrumentations."""
    return {
        "cost": captured.total(names.METRIC_COST),
        "request_cost": captured.total(names.METRIC_REQUEST_COST),
        "input_tokens": captured.total(names.METRIC_TOKENS, gen_ai__token__type="input"),
        "output_tokens": captured.total(names.METRIC_TOKENS, gen_ai__token__type="output"),
    }

