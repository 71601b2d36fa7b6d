"""otel-llmcost's stand-in for ``opentelemetry.test_util_genai``, the test utility of the official OpenTelemetry GenAI
instrumentations (opentelemetry-python-genai's util/opentelemetry-test-util-genai).

Their sdists on PyPI ship their tests but not this utility (it is marked "do not upload"), so the conformance stage
cannot install it. This package is ours, written to the same names and fixture semantics their tests rely on, with
one deliberate difference: ``instrumentor.instrument`` instruments ``LLMCostInstrumentor`` whatever instrumentor the
test hands it, which is how their suites run against us. It is put on the path only by scripts/conformance_genai.sh
(``PYTHONPATH=tests/conformance/standin``); ``opentelemetry`` stays an implicit namespace package, so the real
``opentelemetry.*`` packages of the virtualenv are still found beside it.
"""
