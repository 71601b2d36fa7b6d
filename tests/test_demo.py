"""`otel-llmcost demo`: the installed command, real SDK calls against the loopback fakes, a report equal to spans."""

from __future__ import annotations

import http.server
import re
import signal
import subprocess
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from otel_llmcost.cli.main import cli
from processes import COMMAND, free_port, read_spans, span_cost, start_command

SIX = Decimal("0.000001")
DIMENSIONS = {
    "provider": "gen_ai.provider.name",
    "model": "gen_ai.request.model",
    "feature": "llmcost.feature",
    "user": "user.id",
}
# key, calls, failed, unpriced, input, from cache, to cache, output, cost ("unpriced" when none of it is priced)
ROW = re.compile(
    r"^(?P<key>\S+)\s+(?P<calls>[\d,]+)\s+(?P<failed>[\d,]+)\s+(?P<unpriced>[\d,]+)(?:\s+[\d,]+){4}"
    r"\s+(?:\$(?P<cost>[\d,.]+)|unpriced)\s"
)


def money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def section(output: str, title: str) -> dict[str, tuple[int, Decimal | None]]:
    """Rows of one printed spend table: key -> (calls, cost); None for a group of unpriced calls only."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    rows: dict[str, tuple[int, Decimal | None]] = {}
    for line in lines[start + 3 :]:
        if not line.strip() or line.startswith("─"):
            break
        match = ROW.match(line)
        assert match, f"unparsed row {line!r} in {title}"
        cost = money(match["cost"]) if match["cost"] is not None else None
        rows[match["key"]] = (int(match["calls"].replace(",", "")), cost)
    return rows


def unpriced(span: dict[str, Any]) -> bool:
    attrs = span["attributes"]
    return span_cost(span) is None and "error.type" not in attrs and "gen_ai.usage.input_tokens" in attrs


def by(spans: list[dict[str, Any]], attribute: str) -> dict[str, tuple[int, Decimal | None]]:
    """key -> (calls, cost), the cost None when the group's calls with usage are all unpriced (never $0)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        groups[str(span["attributes"].get(attribute, "(none)"))].append(span)
    result: dict[str, tuple[int, Decimal | None]] = {}
    for key, group in groups.items():
        costs = [c for c in map(span_cost, group) if c is not None]
        known = bool(costs) or not any(map(unpriced, group))
        result[key] = (len(group), sum(costs, Decimal(0)).quantize(SIX) if known else None)
    return result


def check_report_equals_spans(output: str, spans: list[dict[str, Any]]) -> Decimal:
    total = sum((c for c in map(span_cost, spans) if c is not None), Decimal(0))
    printed = re.search(r"Total spend: \$([\d,.]+) \(the sum of gen_ai\.usage\.cost on the spans\)", output)
    assert printed, output
    assert money(printed[1]) == total.quantize(SIX)
    for dimension, attribute in DIMENSIONS.items():
        assert section(output, f"Spend by {dimension}") == by(spans, attribute), dimension
    return total


def test_demo_fresh_install_finishes_fast_and_prints_what_the_spans_say(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    done = subprocess.run(
        [str(COMMAND), "demo", "--spans-file", str(spans_file)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout
    spans = read_spans(spans_file)
    assert len(spans) == 14
    total = check_report_equals_spans(output, spans)
    assert total > Decimal("0.3")
    assert f"The llmcost.cost metric agrees: ${total.quantize(SIX)}." in output

    # Both SDKs, and every call attributed to a feature, a team and a user (on the span itself).
    assert set(section(output, "Spend by provider")) == {"openai", "anthropic"}
    assert all({"llmcost.feature", "llmcost.team", "user.id"} <= set(s["attributes"]) for s in spans)
    assert len(section(output, "Spend by feature")) == 4 and len(section(output, "Spend by user")) == 5

    # The cache hit: 2,000 uncached x $2.50 + 8,000 cached x $1.25 + 400 out x $10 per million.
    assert re.search(r"chat gpt-4o\s+openai\s+support-chat\s+alice\s+10,000\s+8,000\s+400\s+0\s+\$0\.019000", output)
    assert re.search(r"RateLimitError", output) and re.search(r"OverloadedError", output)
    assert "1 unpriced (acme-llm-7b)" in output
    assert section(output, "Spend by model")["acme-llm-7b"] == (1, None)  # "unpriced", never $0.000000
    assert "14 calls: " in output and "demo: 14 calls through" in output
    saved = sum(Decimal(repr(s["attributes"].get("llmcost.savings.cache", 0.0))) for s in spans)
    assert f"saved ${saved.quantize(SIX)}." in output

    top = max((s for s in spans if span_cost(s) is not None), key=lambda s: span_cost(s) or 0)
    trace_id = top["context"]["trace_id"].removeprefix("0x")
    assert re.search(
        rf"Most expensive call: chat gpt-4\.1 at \$0\.272000 \(feature summarize, team docs, user bob\), "
        rf"trace id {trace_id}\.",
        output,
    ), output


def test_ctrl_c_stops_continuous_traffic_with_a_report_of_what_ran(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    demo = start_command("demo", "--duration", "60s", "--rate", "50", "--spans-file", str(spans_file))
    try:
        demo.wait_for(r"^\s+\d+ calls?, \$[\d.]+ spent, \d+ failed, \d+s left$", timeout=40)
        demo.process.send_signal(signal.SIGINT)
        code = demo.finish(timeout=30)
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
    output = demo.text()
    assert code == 130, output
    assert "Interrupted: reporting the calls made so far." in output
    spans = read_spans(spans_file)
    assert spans
    check_report_equals_spans(output, spans)
    assert "Every call, as its span reports it" not in output  # continuous mode: aggregates only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "5"], "--rate needs --duration"),
        (["--otlp", "localhost:4318"], "is not an http(s) URL"),
        (["--duration", "0s"], "must be longer than zero"),
        (["--duration", "soon"], "is not a duration"),
        (["--metrics-port", "70000"], "--metrics-port"),
        (["--otlp", f"http://127.0.0.1:{free_port()}"], "is the collector running?"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["demo", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_demo_help() -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--otlp", "--metrics-port", "--duration", "--rate", "--spans-file"):
        assert option in result.output


class _OTLPReceiver(http.server.ThreadingHTTPServer):
    """A loopback OTLP/HTTP endpoint that keeps what it is sent, by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = defaultdict(list)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies[self.path].append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_otlp_export_sends_every_span_and_the_cost_metric() -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    receiver = _OTLPReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        result = CliRunner().invoke(cli, ["demo", "--otlp", f"http://127.0.0.1:{receiver.server_port}"])
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert result.exit_code == 0, result.output
    spans = []
    for body in receiver.bodies["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        spans += [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 14
    assert all(any(kv.key == "llmcost.feature" for kv in span.attributes) for span in spans)
    metric_names = {
        m.name
        for body in receiver.bodies["/v1/metrics"]
        for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert {"llmcost.cost", "llmcost.tokens", "gen_ai.client.token.usage"} <= metric_names
    assert "The llmcost.cost metric" not in result.stdout  # the counters went to the exporter, not a second reader
