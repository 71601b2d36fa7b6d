"""`otel-llmcost demo`: real SDK calls against the loopback fake, and a report that equals the telemetry."""

from __future__ import annotations

import re

from click.testing import CliRunner

from otel_llmcost.cli.main import cli


def test_demo_runs_and_its_totals_equal_the_emitted_telemetry() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    spans_total = re.search(r"total \(from spans\)\s+\$([\d,.]+)", result.output)
    metric_total = re.search(r"total \(from the llmcost\.cost metric\)\s+\$([\d,.]+)", result.output)
    assert spans_total and metric_total, result.output
    assert spans_total.group(1) == metric_total.group(1)
    assert float(spans_total.group(1).replace(",", "")) > 0.1
    # The cache hit: 2,000 uncached x $2.50 + 8,000 cached x $1.25 + 400 out x $10 per million.
    assert re.search(r"chat gpt-4o\s+10,000\s+8,000\s+400\s+0\s+\$0\.019000", result.output)
    assert "RateLimitError" in result.output
    assert "unpriced" in result.output
    assert re.search(r"Most expensive call: chat gpt-4\.1 at \$0\.272000 \(trace id [0-9a-f]{32}\)", result.output)


def test_demo_help() -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--otlp" in result.output
