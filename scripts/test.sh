#!/usr/bin/env bash
# The whole test suite with the newest openai/anthropic SDKs, then the SDK tests with anthropic 1.14 (the
# first release that traces itself) and with the oldest supported releases (openai 1.40 and anthropic 0.77,
# on httpx), each in a virtualenv of its own, so that users of any of them get what the tests promise.
# Works on a fresh machine with python3 (3.10+).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

venv() {  # venv DIR EXTRAS [extra requirements...]
  local dir=$1 extras=$2; shift 2
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]" "$@"
}

echo "== newest SDKs"
venv .venv-test test,test-genai-otel
.venv-test/bin/python -c 'import openai, anthropic; print("openai", openai.__version__, "/ anthropic", anthropic.__version__)'
.venv-test/bin/python -m pytest

echo "== beside OpenTelemetry's and OpenLLMetry's OpenAI instrumentations (a virtualenv of their own)"
venv .venv-coexist test,test-coexist
.venv-coexist/bin/python -m pytest tests/test_hardening_coexistence.py

echo "== anthropic 1.14, its first release that traces itself (our span replaces its span from here on)"
venv .venv-anthropic114 test "anthropic==1.14.0"
.venv-anthropic114/bin/python -m pytest tests/test_anthropic_*.py

echo "== oldest supported SDKs"
venv .venv-oldest test "openai==1.40.0" "anthropic==0.77.0" "httpx<0.28"
.venv-oldest/bin/python -c 'import openai, anthropic; print("openai", openai.__version__, "/ anthropic", anthropic.__version__)'
.venv-oldest/bin/python -m pytest tests/test_openai_*.py tests/test_anthropic_*.py
