"""otel-llmcost: tokens, prompt-cache use and USD cost of every LLM SDK call, as OpenTelemetry spans and metrics."""

from .errors import ConfigError
from .instrumentor import LLMCostInstrumentor
from .version import __version__

__all__ = ["ConfigError", "LLMCostInstrumentor", "__version__"]
