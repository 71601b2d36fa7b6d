#!/usr/bin/env bash
# Conformance: the official OpenTelemetry OpenAI instrumentation's own test suite, run against otel-llmcost.
# The suite is the tests/ folder of the opentelemetry-instrumentation-openai-v2 sdist on PyPI (pinned by version
# and sha256 below; it is opentelemetry-python-contrib's instrumentation-genai/opentelemetry-instrumentation-openai-v2/tests,
# cassettes included), run with the SDK and test pins of its own requirements.latest.txt. Its cassettes are real API
# responses replayed by vcrpy through the real openai client. tests/conformance/swap_instrumentor.py puts
# LLMCostInstrumentor in place of its OpenAIInstrumentor and nothing else changes; tests/conformance/expected_failures.py
# marks the tests listed in tests/conformance/openai_v2.expected strict-xfail, each with its reason.
# The newest suites (opentelemetry-instrumentation-genai-openai / -anthropic 1.3b0) import opentelemetry.test_util_genai,
# which is not published on PyPI: scripts/conformance_genai.sh runs them on a stand-in of ours.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SUITE=opentelemetry-instrumentation-openai-v2==2.4b0
SUITE_SHA256=571a2febd05b15808d7c777455d5a74c9abe08c694cb9827a98c5b4258f2adf1
VENV=.venv-conformance
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e . "$SUITE" \
  "opentelemetry-util-genai==0.4b0" "openai==2.26.0" "httpx==0.27.2" "pytest==7.4.4" "pytest-vcr==1.0.2" \
  "pytest-asyncio==0.21.0" "vcrpy" "pyyaml" 2> >(grep -v "is ignored: it is neither" >&2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$work" "$SUITE"
sdist=$(ls "$work"/*.tar.gz)
echo "$SUITE_SHA256  $sdist" | sha256sum -c --quiet
tar xzf "$sdist" -C "$work"
suite=$(ls -d "$work"/*/)
cd "$suite"
CONFORMANCE_TARGET=opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor \
CONFORMANCE_EXPECTED="$OLDPWD/tests/conformance/openai_v2.expected" \
PYTHONPATH="$OLDPWD/tests/conformance" \
  "$OLDPWD/$VENV/bin/python" -m pytest -q -p no:cacheprovider -p swap_instrumentor -p expected_failures tests
