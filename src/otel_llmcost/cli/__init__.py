"""The ``otel-llmcost`` command line."""
