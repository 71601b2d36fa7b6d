"""otel-llmcost: tokens, prompt-cache use and USD cost of every LLM SDK call, as OpenTelemetry spans and metrics."""

from .attribution import attributes, current_attributes
from .budgets import Budget, ThresholdCrossing, on_budget_threshold, remove_budget_threshold_callback
from .errors import BudgetError, BudgetExceededError, BudgetUnavailableError, ConfigError
from .instrumentor import LLMCostInstrumentor
from .version import __version__

__all__ = [
    "Budget",
    "BudgetError",
    "BudgetExceededError",
    "BudgetUnavailableError",
    "ConfigError",
    "LLMCostInstrumentor",
    "ThresholdCrossing",
    "__version__",
    "attributes",
    "current_attributes",
    "on_budget_threshold",
    "remove_budget_threshold_callback",
]
