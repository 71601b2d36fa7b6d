"""A bad setting or file under ``opentelemetry-instrument``: one log line, the launcher carries on, budgets fail as set.

Through the real launcher: an app that never mentions us (it only catches the budget's refusal), a scripted
OpenAI API over the SDK's mock transport, and a marker plugin whose ``opentelemetry_instrumentor`` and
``opentelemetry_post_instrument`` entry points print when the launcher reaches them (an exception out of our
``instrument()`` used to end the launcher's loop before them, with "Failed to auto initialize OpenTelemetry").
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from openai_payloads import http
from otel_llmcost import names
from test_openai_launcher import LAUNCHER

pytestmark = [
    pytest.mark.skipif(not LAUNCHER.exists(), reason="opentelemetry-instrument is not installed next to this Python"),
    pytest.mark.skipif(not entry_points(group="opentelemetry_configurator"), reason="no OpenTelemetry distro"),
]

APP = """
import HTTP_LIB as http_lib
import openai

sent = []


def handler(request):
    sent.append(request)
    return http_lib.Response(200, json={
        "id": "chatcmpl-app", "object": "chat.completion", "created": 1735689600, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050},
    })


client = openai.OpenAI(api_key="sk-test", http_client=http_lib.Client(transport=http_lib.MockTransport(handler)))
try:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    print("ANSWERED")
except Exception as error:  # the app's own handling: what reached it, exactly
    print("REFUSED", type(error).__name__, error)
print("SENT", len(sent))
""".replace("HTTP_LIB", http.__name__)

MARKER = """
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor


class MarkerInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self):
        return ()

    def _instrument(self, **kwargs):
        print("MARKER instrumented", flush=True)

    def _uninstrument(self, **kwargs):
        pass


def post_instrument():
    print("MARKER post_instrument", flush=True)
"""

BUDGETS = """
budgets:
  - name: monthly
    limit: 100
    period: month
    action: block
"""


def launch(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "marker_plugin.py").write_text(textwrap.dedent(MARKER))
    dist = tmp_path / "marker_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: marker-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[opentelemetry_instrumentor]\nzz_marker = marker_plugin:MarkerInstrumentor\n\n"
        "[opentelemetry_post_instrument]\nmarker = marker_plugin:post_instrument\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
    env.update(
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",  # ours alone, as in test_openai_launcher.py
        PYTHONPATH=str(tmp_path),
        **settings,
    )
    return subprocess.run(
        [str(LAUNCHER), sys.executable, "app.py"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )


def our_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "otel-llmcost" in line]


def assert_launcher_carried_on(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Failed to auto initialize" not in result.stderr
    assert "MARKER instrumented" in result.stdout
    assert "MARKER post_instrument" in result.stdout


def test_a_bad_setting_is_one_error_line_and_the_app_runs_unpriced(tmp_path: Path) -> None:
    result = launch(tmp_path, **{names.ENV_MAX_MODELS: "lots"})
    assert_launcher_carried_on(result)
    (line,) = our_lines(result.stderr)
    assert names.ENV_MAX_MODELS in line and "'lots'" in line and "Fix" in line
    assert "ANSWERED" in result.stdout and "SENT 1" in result.stdout
    assert '"chat gpt-4o"' not in result.stdout  # no span of ours: nothing is recorded from a bad configuration


def test_a_bad_budget_file_with_failure_closed_refuses_every_call(tmp_path: Path) -> None:
    budget_file = tmp_path / "budgets.yaml"
    budget_file.write_text("budgets: [this is: not: valid")
    result = launch(
        tmp_path, **{names.ENV_BUDGET_FILE: str(budget_file), names.ENV_BUDGET_STORE_FAILURE: "closed"}
    )
    assert_launcher_carried_on(result)
    (line,) = our_lines(result.stderr)
    assert str(budget_file) in line and "refused" in line
    refused = next(x for x in result.stdout.splitlines() if x.startswith("REFUSED"))
    assert refused.startswith("REFUSED BudgetUnavailableError")
    assert str(budget_file) in refused and names.ENV_BUDGET_STORE_FAILURE in refused
    assert "SENT 0" in result.stdout  # nothing reached the provider


def test_a_bad_budget_file_with_failure_open_warns_that_budgets_are_off(tmp_path: Path) -> None:
    budget_file = tmp_path / "budgets.yaml"
    budget_file.write_text(BUDGETS.replace("limit: 100", "limit: lots"))
    result = launch(tmp_path, **{names.ENV_BUDGET_FILE: str(budget_file), names.ENV_BUDGET_STORE_FAILURE: "open"})
    assert_launcher_carried_on(result)
    error, warning = our_lines(result.stderr)
    assert str(budget_file) in error
    assert "budgets are off" in warning and names.ENV_BUDGET_STORE_FAILURE in warning
    assert "ANSWERED" in result.stdout and "SENT 1" in result.stdout


def test_a_good_budget_file_under_the_launcher_still_enforces(tmp_path: Path) -> None:
    """The control case: the same launch with a valid file prints nothing of ours and prices the call."""
    budget_file = tmp_path / "budgets.yaml"
    budget_file.write_text(BUDGETS)
    result = launch(tmp_path, **{names.ENV_BUDGET_FILE: str(budget_file), names.ENV_BUDGET_STORE_FAILURE: "closed"})
    assert_launcher_carried_on(result)
    assert our_lines(result.stderr) == []
    assert "ANSWERED" in result.stdout and "SENT 1" in result.stdout
    assert '"chat gpt-4o"' in result.stdout
