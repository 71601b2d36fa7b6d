#!/usr/bin/env bash
# The tests, on a bare Debian machine with python3 (3.10+): installs the servers the tests drive
# (scripts/test-deps.sh), then runs every stage, each in a virtualenv of its own, even when an earlier one
# fails; prints a summary line per stage and exits non-zero if any stage failed.
#   lint               ruff, mypy and the layer contract (lint-imports, pyproject's [tool.importlinter])
#   newest (...)       the whole suite with the newest releases; the stage name lists the versions it ran
#   coexistence        beside OpenTelemetry's (util-genai), OpenLLMetry's and Logfire's OpenAI and Anthropic
#                      instrumentations, in both load orders and under the launcher, and OTEL_LLMCOST_SPAN=annotate
#                      (one span per call beside util-genai's) (a virtualenv of their own)
#   oldest <pkg> <v>   one stage per package we depend on (openai, anthropic, google-genai, ollama, genai-prices,
#                      opentelemetry-sdk): that package's tests under its oldest supported release, the lower bound
#                      written in pyproject.toml (so a bound cannot lie), the rest newest; plus anthropic 1.14, its
#                      first release that traces itself. One virtualenv for all of them (.venv-compat): each stage
#                      resolver-installs its release over the newest set, then puts the newest set back.
#   web roll-ups       roll-ups under real FastAPI / Flask apps and pydantic-ai agents (their own venv)
#   conformance        official OpenTelemetry instrumentations' own test suites against ours, their known
#                      differences listed with reasons, strict: openai-v2 2.4b0 (scripts/conformance.sh, its own
#                      .venv-conformance), then genai-anthropic and genai-openai 1.3b0 on our stand-in of their
#                      unpublished test utility (scripts/conformance_genai.sh, in .venv-coexist; about 80 s)
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
  local line; line=$(printf '%-30s %s  (%d s)' "$name" "$([ $status = 0 ] && echo passed || echo "FAILED ($status)")" $((SECONDS - start)))
  summary+=("$line")
  [ $status = 0 ] || failed=1
}

lint() { .venv-test/bin/ruff check src tests benchmarks && .venv-test/bin/mypy && .venv-test/bin/lint-imports; }
newest() { .venv-test/bin/python -m pytest; }
# The packages whose releases we follow: each one's tests, and (bound) the pyproject.toml bound of each.
COMPAT_PACKAGES=(openai anthropic google-genai ollama genai-prices opentelemetry-sdk)
# Installed with opentelemetry-sdk at their own bounds: the resolver does not walk installed packages back.
OTEL_SET=(opentelemetry-api opentelemetry-sdk opentelemetry-instrumentation opentelemetry-semantic-conventions
          opentelemetry-exporter-otlp opentelemetry-distro opentelemetry-exporter-prometheus)
PROVIDER_TESTS="tests/test_openai_*.py tests/test_anthropic_*.py tests/test_gemini_*.py tests/test_ollama_*.py"
tests_of() {  # tests_of PACKAGE: the provider tests that exercise it
  case $1 in
    openai) echo tests/test_openai_*.py ;;
    anthropic) echo tests/test_anthropic_*.py ;;
    google-genai) echo tests/test_gemini_*.py ;;
    ollama) echo tests/test_ollama_*.py ;;
    genai-prices) echo tests/test_pricing.py tests/test_*_costs.py ;;
    *) echo $PROVIDER_TESTS ;;
  esac
}
bound() {  # bound PACKAGE: its lower bound in pyproject.toml (the first ">=" that names it)
  grep -oE "\"$1>=[^\",;]+" pyproject.toml | head -1 | cut -d= -f2
}
versions() {  # versions PYTHON: "openai 3.63.0, anthropic 2.17.0, ..." as installed there
  "$1" - "${COMPAT_PACKAGES[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import PackageNotFoundError, version
def of(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"
print(", ".join(f"{name} {of(name)}" for name in sys.argv[1:]))
PY
}
compat_venv() {  # the newest set once, frozen: each compat stage returns to it
  venv .venv-compat test && .venv-compat/bin/python -m pip freeze --exclude-editable > .venv-compat/newest.txt
}
compat() {  # compat TESTS REQUIREMENT...: resolver-installs the requirements, runs the tests, restores the newest set
  local tests=$1 status; shift
  [ -s .venv-compat/newest.txt ] || { echo "the .venv-compat virtualenv could not be installed"; return 1; }
  .venv-compat/bin/python -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2) &&
  echo "installed: $(versions .venv-compat/bin/python)" &&
  .venv-compat/bin/python -m pytest $tests; status=$?
  .venv-compat/bin/python -m pip install -q --disable-pip-version-check -r .venv-compat/newest.txt \
    2> >(grep -v -e "is ignored: it is neither" -e "dependency resolver does not" -e "requires opentelemetry" >&2)
  return $status
}
coexist() { venv .venv-coexist test,test-coexist && .venv-coexist/bin/python -m pytest tests/test_hardening_coexistence*.py; }
conformance() {  # both scripts, even when the first fails
  local status=0
  bash scripts/conformance.sh || status=1
  { [ -x .venv-coexist/bin/python ] || venv .venv-coexist test,test-coexist; } && bash scripts/conformance_genai.sh || status=1
  return $status
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

if venv .venv-test test,test-genai-otel,dev; then
  stage lint lint
  stage "newest ($(versions .venv-test/bin/python))" newest
else
  summary+=("install .venv-test FAILED"); failed=1
fi
stage coexistence coexist
compat_venv || echo "FAILED: installing .venv-compat (every oldest stage fails)"
for package in "${COMPAT_PACKAGES[@]}"; do
  requirements=("$package==$(bound "$package")")
  case $package in
    openai) requirements+=("httpx<0.28") ;;  # openai before 1.55 passes httpx an argument 0.28 removed
    opentelemetry-sdk) requirements=(); for p in "${OTEL_SET[@]}"; do requirements+=("$p==$(bound "$p")"); done ;;
  esac
  stage "oldest $package $(bound "$package")" compat "$(tests_of "$package")" "${requirements[@]}"
done
stage "anthropic 1.14.0 (traces)" compat "$(tests_of anthropic)" "anthropic==1.14.0"
stage "web roll-ups" web
stage conformance conformance

echo; echo "== summary"
printf '%s\n' "${summary[@]}"
exit $failed
