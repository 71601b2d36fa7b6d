#!/usr/bin/env bash
# The tests that measure time or CPU (ratios against the bare SDK, the exporter outage's call latency) and the
# 100k-call leak run: kept out of the suite (they depend on how loaded the machine is, or take minutes), run here.
# Usage: bash benchmarks/timed_tests.sh [pytest args]   (from a virtualenv made by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv-test/bin/python}
exec "$PY" -m pytest -m benchmark -s "$@" tests
