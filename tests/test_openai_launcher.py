"""End to end under ``opentelemetry-instrument``: an app that never mentions us still gets priced spans and metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from openai_payloads import http, usd
from otel_llmcost import names

LAUNCHER = Path(sys.executable).with_name("opentelemetry-instrument")
CALLS = 3
# gpt-4o, per call: 800 uncached x $2.50 + 200 cached x $1.25 + 50 out x $10, per million tokens.
PER_CALL = {"input": usd((800, "2.50")), "cache_read": usd((200, "1.25")), "output": usd((50, "10"))}
COST = usd((800, "2.50"), (200, "1.25"), (50, "10"))

APP = """
import HTTP_LIB as http_lib  # httpx2 for openai 3.x, httpx before
import openai

USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 50,
    "total_tokens": 1050,
    "prompt_tokens_details": {"cached_tokens": 200},
}


def handler(request):
    body = {
        "id": "chatcmpl-app",
        "object": "chat.completion",
        "created": 1735689600,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    return http_lib.Response(200, json=body)


client = openai.OpenAI(
    api_key="sk-test",
    base_url="https://api.openai.com/v1",
    http_client=http_lib.Client(transport=http_lib.MockTransport(handler)),
)
for _ in range(CALLS):
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
""".replace("CALLS", str(CALLS)).replace("HTTP_LIB", http.__name__)


def _json_documents(text: str) -> list[Any]:
    """Every JSON object printed on stdout (the console exporters print indented JSON, one after another)."""
    decoder = json.JSONDecoder()
    documents: list[Any] = []
    index = 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return documents
        try:
            document, index = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        documents.append(document)


def _metric_points(documents: list[Any], name: str) -> list[dict[str, Any]]:
    return [
        point
        for document in documents
        for rm in document.get("resource_metrics", [])
        for sm in rm["scope_metrics"]
        for metric in sm["metrics"]
        if metric["name"] == name
        for point in metric["data"]["data_points"]
    ]


@pytest.mark.skipif(not LAUNCHER.exists(), reason="opentelemetry-instrument is not installed next to this Python")
@pytest.mark.skipif(
    not entry_points(group="opentelemetry_configurator"),
    reason="no OpenTelemetry distro installed (pip install opentelemetry-distro): the launcher exports nothing",
)
def test_opentelemetry_instrument_end_to_end(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    assert "otel_llmcost" not in app.read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
    env.update(
        OTEL_METRIC_EXPORT_INTERVAL="600000",  # no periodic export: only the final one at exit
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="launcher-test",
        # Ours alone: the other OpenAI instrumentations installed with the test extra are tested beside
        # ours in test_hardening_coexistence.py.
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
    )
    result = subprocess.run(
        [str(LAUNCHER), "--traces_exporter", "console", "--metrics_exporter", "console", sys.executable, str(app)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    documents = _json_documents(result.stdout)

    spans = [d for d in documents if "context" in d and "kind" in d]
    chat_spans = [s for s in spans if s["name"] == "chat gpt-4o"]
    assert len(chat_spans) == CALLS, [s["name"] for s in spans]
    assert len(spans) == CALLS  # one span per call, nothing else
    for span in chat_spans:
        assert span["kind"] == "SpanKind.CLIENT"
        assert span["attributes"][names.GEN_AI_USAGE_COST] == COST
        assert span["attributes"][names.GEN_AI_PROVIDER_NAME] == "openai"
        assert span["resource"]["attributes"]["service.name"] == "launcher-test"

    cost_points = _metric_points(documents, names.METRIC_COST)
    by_component = {p["attributes"][names.LLMCOST_COST_COMPONENT]: p["value"] for p in cost_points}
    expected = {component: value + value + value for component, value in PER_CALL.items()}  # as the counter adds
    assert by_component == expected
    (request_cost,) = _metric_points(documents, names.METRIC_REQUEST_COST)
    assert request_cost["count"] == CALLS
    assert abs(request_cost["sum"] - CALLS * COST) < 1e-15
    (duration,) = _metric_points(documents, names.METRIC_OPERATION_DURATION)
    assert duration["count"] == CALLS
    tokens = {
        p["attributes"][names.GEN_AI_TOKEN_TYPE]: p["value"] for p in _metric_points(documents, names.METRIC_TOKENS)
    }
    assert tokens == {"input": 3_000, "output": 150, "cache_read": 600}
