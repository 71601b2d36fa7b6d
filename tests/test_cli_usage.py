"""Every bad command-line argument is one `Error: ...` line on stderr and exit code 2, never a traceback;
a group run without a command prints its help and exits 0; counts agree with their nouns."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from otel_llmcost.cli.main import cli
from otel_llmcost.cli.output import plural


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    return result.stderr


@pytest.mark.parametrize("group", [[], ["stack"]])
def test_a_group_without_a_command_prints_its_help(group: list[str]) -> None:
    result = invoke(*group)
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith(f"Usage: {' '.join(['cli', *group])} [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in result.stdout and "Error" not in result.stdout


def test_stack_render_out_that_cannot_be_written(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    assert "is a file" in one_line_error(invoke("stack", "render", "--out", str(a_file)))
    error = one_line_error(invoke("stack", "render", "--out", str(a_file / "sub")))
    assert "--out" in error and "Not a directory" in error and "Fix:" in error
    error = one_line_error(invoke("stack", "render", "--out", "/proc/otel-llmcost-test"))
    assert "--out" in error and "/proc/otel-llmcost-test" in error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read the stack config (No such file or directory)"),
        ("limits: [\n", "line 2, column 1: not valid YAML (expected the node content"),
        ("warning_ratio: 0.8\nbudget: 5\n", "line 2: budget: unknown key in the stack config"),
    ],
)
def test_stack_render_bad_config(tmp_path: Path, text: str | None, message: str) -> None:
    config = tmp_path / "limits.yaml"
    if text is not None:
        config.write_text(text)
    error = one_line_error(invoke("stack", "render", "--config", str(config), "--out", str(tmp_path / "out")))
    assert "--config" in error and str(config) in error and message in error
    assert not (tmp_path / "out").exists()
    # The directory's own limits file, found without --config: the same one line, naming the file.
    if text is not None:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "llmcost-stack.yaml").write_text(text)
        assert message in one_line_error(invoke("stack", "render", "--out", str(tmp_path / "out")))


def test_demo_spans_file_in_a_missing_directory_is_refused_before_any_call(tmp_path: Path) -> None:
    error = one_line_error(invoke("demo", "--spans-file", str(tmp_path / "no" / "such" / "x.jsonl")))
    assert "--spans-file" in error and "No such file or directory" in error


def test_estimate_unknown_service_tier_lists_the_valid_ones() -> None:
    error = one_line_error(invoke("estimate", "-m", "gpt-4o", "-i", "1000", "-o", "100", "--service-tier", "flexx"))
    assert "--service-tier" in error and "'flexx' is not a service tier" in error
    valid = error.split("valid: ", 1)[1].split(".", 1)[0].split(", ")
    assert {"default", "flex", "priority"} <= set(valid)


def test_counts_agree_with_their_nouns() -> None:
    assert [plural(n, "call") for n in (0, 1, 2, 1_000)] == ["0 calls", "1 call", "2 calls", "1,000 calls"]
    assert plural(1, "reasoning token") == "1 reasoning token" and plural(3, "query", "queries") == "3 queries"
    result = invoke("estimate", "-m", "o4-mini", "-i", "10", "-o", "5", "--reasoning", "1")
    assert "Output includes 1 reasoning token, billed as output." in result.stdout
    result = invoke("estimate", "-m", "o4-mini", "-i", "10", "-o", "5", "--calls", "2")
    assert "2 calls: $" in result.stdout


@pytest.mark.parametrize("url", ["http://", "http://[::1", "http://localhost:99999", "ftp://localhost", "localhost:1"])
def test_urls_without_a_host_or_with_a_bad_port(url: str) -> None:
    report = one_line_error(invoke("report", "--prometheus", url))
    assert f"{url!r} is not an http(s) URL such as http://localhost:9090" in report
    assert "is not an http(s) URL such as http://localhost:4318" in one_line_error(invoke("demo", "--otlp", url))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until", "nan"], "'nan' is not a time a date can show"),
        (["--until", "inf"], "'inf' is not a time a date can show"),
        (["--until", "1e400"], "'1e400' is not a time a date can show"),
        (["--since", "99999999999d"], "'99999999999d' is longer than a century"),
    ],
)
def test_report_windows_out_of_any_calendar(tmp_path: Path, args: list[str], message: str) -> None:
    error = one_line_error(invoke("report", "--from", f"sqlite:{tmp_path / 'x.db'}", *args))
    assert message in error and args[0] in error
