#!/usr/bin/env bash
# The tests, on a bare Debian machine with python3 (3.10+): installs the servers the tests drive
# (scripts/test-deps.sh), then runs every stage, each in a virtualenv of its own, even when an earlier one
# fails; prints a summary line per stage and exits non-zero if any stage failed.
#   lint               ruff, mypy and the layer contract (lint-imports, pyproject's [tool.importlinter])
#   newest SDKs        the whole suite with the newest openai / anthropic / google-genai / ollama
#   coexistence        beside OpenTelemetry's and OpenLLMetry's OpenAI instrumentations (pins of their own)
#   anthropic 1.14     the Anthropic tests on its first release that traces itself
#   oldest SDKs        the OpenAI and Anthropic tests on openai 1.40 and anthropic 0.77 (httpx)
#   web roll-ups       roll-ups under real FastAPI / Flask apps and pydantic-ai agents (their own venv)
#   conformance        the official OpenTelemetry OpenAI instrumentation's own test suite against ours
#                      (scripts/conformance.sh; its known differences listed with reasons, strict)
# Timings, CPU ratios and the 100k-call leak run are not here: benchmarks/timed_tests.sh runs them.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
bash scripts/test-deps.sh || { echo "FAILED: installing the test servers"; exit 1; }

venv() {  # venv DIR EXTRAS [extra requirements...]
  local dir=$1 extras=$2; shift 2
  { [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"; } &&
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]" "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

summary=()
failed=0
stage() {  # stage NAME COMMAND...: runs it, records how it went
  local name=$1 start=$SECONDS status; shift
  echo; echo "== $name"
  "$@"; status=$?
  local line; line=$(printf '%-16s %s  (%d s)' "$name" "$([ $status = 0 ] && echo passed || echo "FAILED ($status)")" $((SECONDS - start)))
  summary+=("$line")
  [ $status = 0 ] || failed=1
}

lint() { .venv-test/bin/ruff check src tests benchmarks && .venv-test/bin/mypy && .venv-test/bin/lint-imports; }
newest() {
  .venv-test/bin/python -c 'import openai, anthropic; print("openai", openai.__version__, "/ anthropic", anthropic.__version__)' &&
  .venv-test/bin/python -m pytest
}
coexist() { venv .venv-coexist test,test-coexist && .venv-coexist/bin/python -m pytest tests/test_hardening_coexistence.py; }
anthropic114() {
  venv .venv-anthropic114 test "anthropic==1.14.0" && .venv-anthropic114/bin/python -m pytest tests/test_anthropic_*.py
}
web() {  # the web instrumentations first, then the rest within the versions they chose (see pyproject's test-web)
  local dir=.venv-web
  { [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"; } &&
  "$dir/bin/python" -m pip install -q --disable-pip-version-check opentelemetry-distro fastapi uvicorn flask \
    opentelemetry-instrumentation-fastapi opentelemetry-instrumentation-flask "pydantic-ai-slim[openai]" \
    2> >(grep -v "is ignored: it is neither" >&2) &&
  "$dir/bin/python" -m pip freeze > "$dir/constraints.txt" &&
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -c "$dir/constraints.txt" -e ".[test-web]" \
    pytest pytest-timeout pyyaml hypothesis 2> >(grep -v "is ignored: it is neither" >&2) &&
  "$dir/bin/python" -m pytest tests/test_rollups_web.py tests/test_rollups_agents.py
}
oldest() {
  venv .venv-oldest test "openai==1.40.0" "anthropic==0.77.0" "httpx<0.28" &&
  .venv-oldest/bin/python -c 'import openai, anthropic; print("openai", openai.__version__, "/ anthropic", anthropic.__version__)' &&
  .venv-oldest/bin/python -m pytest tests/test_openai_*.py tests/test_anthropic_*.py
}

if venv .venv-test test,test-genai-otel,dev; then
  stage lint lint
  stage "newest SDKs" newest
else
  summary+=("install .venv-test FAILED"); failed=1
fi
stage coexistence coexist
stage "anthropic 1.14" anthropic114
stage "oldest SDKs" oldest
stage "web roll-ups" web
stage conformance bash scripts/conformance.sh

echo; echo "== summary"
printf '%s\n' "${summary[@]}"
exit $failed
