"""otel-llmcost: tokens, prompt-cache use and USD cost of every LLM SDK call, as OpenTelemetry spans and metrics."""

from .attribution import attributes
from .errors import ConfigError
from .instrumentor import LLMCostInstrumentor
from .version import __version__

__all__ = ["ConfigError", "attributes", "LLMCostInstrumentor", "__version__"]
