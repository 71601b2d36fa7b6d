"""otel-llmcost: tokens, prompt-cache use and USD cost of every LLM SDK call, as OpenTelemetry spans and metrics.

The public names load on first use (module ``__getattr__``): ``import otel_llmcost``, which
``opentelemetry-instrument`` does in every process it starts, costs only this module and ``errors``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import BudgetError, BudgetExceededError, BudgetUnavailableError, ConfigError
from .version import __version__

if TYPE_CHECKING:
    from .attribution import attributes, current_attributes
    from .budgets import Budget, ThresholdCrossing, on_budget_threshold, remove_budget_threshold_callback
    from .expensive import ExpensiveRequest, on_expensive_request, remove_expensive_request_callback
    from .instrumentor import LLMCostInstrumentor

# Public name -> the submodule that defines it.
_LAZY = {
    "attributes": "attribution",
    "current_attributes": "attribution",
    "Budget": "budgets.definitions",
    "ThresholdCrossing": "budgets.enforcer",
    "on_budget_threshold": "budgets.enforcer",
    "remove_budget_threshold_callback": "budgets.enforcer",
    "LLMCostInstrumentor": "instrumentor",
    "ExpensiveRequest": "expensive",
    "on_expensive_request": "expensive",
    "remove_expensive_request_callback": "expensive",
}

__all__ = [
    "Budget",
    "BudgetError",
    "BudgetExceededError",
    "BudgetUnavailableError",
    "ConfigError",
    "ExpensiveRequest",
    "LLMCostInstrumentor",
    "ThresholdCrossing",
    "__version__",
    "attributes",
    "current_attributes",
    "on_budget_threshold",
    "on_expensive_request",
    "remove_budget_threshold_callback",
    "remove_expensive_request_callback",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
