"""`otel-llmcost prices` and `estimate`: the rates and costs the instrumentation charges, and clear errors for typos."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from otel_llmcost import names
from otel_llmcost.cli.main import cli


@pytest.fixture(autouse=True)
def no_price_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(names.ENV_PRICE_FILE, raising=False)
    monkeypatch.delenv(names.ENV_MODEL_ALIASES, raising=False)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""
    return result.stderr


# --- prices ---------------------------------------------------------------------------------------
def test_prices_of_an_openai_model_with_batch_and_priority() -> None:
    doc = as_json(invoke("prices", "gpt-4o", "--format", "json"))
    assert doc["provider"] == "openai" and doc["source"].startswith("genai-prices@")
    standard = doc["prices"]["standard"]
    assert (standard["input"], standard["cache_read"], standard["output"]) == ("2.5", "1.25", "10")
    assert standard["cache_write_5m"] == "2.5"  # OpenAI bills no cache write: the input price
    assert (doc["prices"]["batch"]["input"], doc["prices"]["batch"]["output"]) == ("1.25", "5")
    assert "priority" in doc["prices"]


def test_prices_table_shows_every_context_and_the_source() -> None:
    result = invoke("prices", "gpt-5")
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0][:2] == ["gpt-5", "(openai)"] and lines[0][-1].startswith("genai-prices@")
    header = next(line for line in lines if line[:4] == ["USD", "per", "1M", "tokens"])
    assert header[4:] == ["standard", "batch", "flex", "priority", "fast"]
    assert ["input", "$1.25", "$0.625", "$0.625", "$2.50", "$2.50"] in lines
    assert ["output", "$10.00", "$5.00", "$5.00", "$20.00", "$20.00"] in lines


def test_prices_anthropic_cache_writes_and_long_context_tiers() -> None:
    doc = as_json(invoke("prices", "claude-sonnet-4-6", "--format", "json"))
    standard = doc["prices"]["standard"]
    assert (standard["cache_write_5m"], standard["cache_write_1h"], standard["cache_read"]) == ("3.75", "6", "0.3")
    tiered = as_json(invoke("prices", "gemini-2.5-pro", "--format", "json"))
    assert tiered["provider"] == "gcp.gemini"
    assert tiered["prices"]["standard"]["input"] == {"base": "1.25", "tiers": [{"above": 200000, "price": "2.5"}]}
    table = invoke("prices", "gemini-2.5-pro").stdout
    assert "input, prompts over 200,000 tokens" in table


def test_prices_dated_ids_and_models_outside_the_provider_pattern() -> None:
    assert "priced as gpt-4o" in invoke("prices", "gpt-4o-2024-08-06").stdout
    assert as_json(invoke("prices", "text-embedding-3-small", "--format", "json"))["provider"] == "openai"
    assert as_json(invoke("prices", "claude-haiku-4-5", "-p", "anthropic", "--format", "json"))["source"]


def test_price_file_wins_and_is_named_as_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    price_file = tmp_path / "prices.yaml"
    price_file.write_text(
        "models:\n"
        "  - {model: gpt-4o, provider: openai, input: 9, output: 18}\n"
        "  - {model: my-finetune, input: 1.5, output: 6, batch: {input: 0.75, output: 3}}\n"
    )
    doc = as_json(invoke("prices", "gpt-4o", "--price-file", str(price_file), "--format", "json"))
    assert doc["source"] == "override:prices.yaml" and doc["prices"]["standard"]["input"] == "9"
    monkeypatch.setenv(names.ENV_PRICE_FILE, str(price_file))
    doc = as_json(invoke("prices", "my-finetune", "--format", "json"))
    assert doc["provider"] is None  # a price-file entry without provider prices the model everywhere
    assert doc["prices"]["batch"] == {**doc["prices"]["batch"], "input": "0.75", "output": "3"}
    assert "any provider" in invoke("prices", "my-finetune").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prices", "gpt4o"], "no price known for model 'gpt4o'; did you mean gpt-4o"),
        (["prices", "claude-sonet-4-6"], "did you mean claude-sonnet-4-6"),
        (["prices", "gpt-4o", "--provider", "opnai"], "no prices for provider 'opnai'; did you mean openai"),
        (["prices", "gpt-4o", "--provider", "anthropic"], "no price known for model 'gpt-4o' at provider 'anthropic'"),
        (["prices", "zzzzzz-qqqq"], "price it in a price file (OTEL_LLMCOST_PRICE_FILE)"),
        (["prices"], "Missing argument 'MODEL'"),
        (["prices", "gpt-4o", "--format", "xml"], "'xml' is not one of"),
    ],
)
def test_prices_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    assert message in one_line_error(invoke(*args))


def test_bad_price_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - {model: x, input: 1}\n")
    error = one_line_error(invoke("prices", "x", "--price-file", str(bad)))
    assert "bad.yaml" in error and "'output' is required" in error


# --- estimate -------------------------------------------------------------------------------------
def estimate(*args: str) -> dict[str, Any]:
    return as_json(invoke("estimate", *args, "--format", "json"))


def test_estimate_a_cache_hit() -> None:
    doc = estimate("-m", "gpt-4o", "-i", "10000", "-o", "400", "--cache-read", "8000")
    # 2,000 uncached x $2.50 + 8,000 cached x $1.25 + 400 out x $10 per million.
    assert doc["cost_usd"] == "0.019" and doc["saved_usd"] == "0.01"
    assert sum(Decimal(line["cost"]) for line in doc["lines"]) == Decimal(doc["cost_per_call_usd"])
    table = invoke("estimate", "-m", "gpt-4o", "-i", "10000", "-o", "400", "--cache-read", "8000").stdout
    lines = [line.split() for line in table.splitlines()]
    assert ["cache", "read", "8,000", "$1.25", "$0.010000"] in lines
    assert ["total", "10,400", "$0.019000"] in lines


def test_estimate_anthropic_cache_writes_by_ttl() -> None:
    doc = estimate("-m", "claude-sonnet-4-6", "-i", "9500", "-o", "350", "--cache-write", "6000",
                   "--cache-write-1h", "2000")
    # 1,500 x $3 + 6,000 x $3.75 (5m) + 2,000 x $6 (1h) + 350 x $15 per million.
    assert doc["cost_usd"] == "0.04425" and doc["provider"] == "anthropic"


def test_estimate_batch_tiers_and_many_calls() -> None:
    batch = estimate("-m", "gpt-4o", "-i", "1000", "-o", "100", "--batch")
    assert batch["context"] == "batch" and batch["cost_usd"] == "0.00175" and batch["saved_usd"] == "0.00175"
    flex = estimate("-m", "gpt-5", "-i", "1000", "-o", "100", "--service-tier", "flex")
    assert flex["cost_usd"] == "0.001125"
    # Past 200k input tokens every token pays the tier price: 250,000 x $2.50 + 1,000 x $15 per million.
    long = estimate("-m", "gemini-2.5-pro", "-i", "250000", "-o", "1000", "--calls", "1000")
    assert long["cost_per_call_usd"] == "0.64" and long["cost_usd"] == "640.00"


def test_estimate_batch_without_a_batch_price_says_so_and_what_rate_it_used() -> None:
    """genai-prices has no batch price for claude-sonnet-4: the estimate says so and prices the standard rate."""
    standard = estimate("-m", "claude-sonnet-4", "-i", "1000", "-o", "100")
    batch = estimate("-m", "claude-sonnet-4", "-i", "1000", "-o", "100", "--batch")
    assert batch["cost_usd"] == standard["cost_usd"] == "0.0045"  # 1,000 x $3 + 100 x $15 per million
    assert (batch["context"], batch["requested_context"]) == ("standard", "batch")
    assert batch["note"].startswith("no batch price is known for claude-sonnet-4: priced at the standard rate")
    assert batch["saved_usd"] == "0"
    table = invoke("estimate", "-m", "claude-sonnet-4", "-i", "1000", "-o", "100", "--batch").stdout
    first, second = table.splitlines()[:2]
    assert first.startswith("claude-sonnet-4 (anthropic, standard)")
    assert second.startswith("Note: no batch price is known for claude-sonnet-4: priced at the standard rate")
    # Where the data has a batch price, it is used and no note is printed.
    priced = estimate("-m", "gpt-4o", "-i", "1000", "-o", "100", "--batch")
    assert (priced["context"], priced["note"]) == ("batch", None)
    assert "Note:" not in invoke("estimate", "-m", "gpt-4o", "-i", "1000", "-o", "100", "--batch").stdout
    flex = estimate("-m", "gpt-4o", "-i", "1000", "-o", "100", "--service-tier", "flex")  # no flex price for gpt-4o
    assert flex["context"] == "standard" and flex["note"].startswith("no flex price is known for gpt-4o")
    default = estimate("-m", "gpt-4o", "-i", "1000", "-o", "100", "--service-tier", "default")
    assert (default["context"], default["note"]) == ("standard", None)


def test_estimate_says_how_many_calls_each_budget_holds_per_member(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "budgets:\n"
        '  - {name: per-user, limit: 5, scope: {user: "*"}, overrides: {alice: 20}, action: block}\n'
        "  - {name: daily, limit: 50}\n"
    )
    args = ("-m", "gpt-4o", "-i", "2000", "-o", "500", "--budget-file", str(budgets))  # $0.01 a call
    doc = estimate(*args)
    assert doc["budgets"] == [
        {"budget": "per-user", "limit_usd": "5", "period": "day", "per": "user", "calls": 500,
         "overrides": {"alice": 2000}},
        {"budget": "daily", "limit_usd": "50", "period": "day", "per": None, "calls": 5000, "overrides": {}},
    ]  # fmt: skip
    table = invoke("estimate", *args).stdout
    assert "Budget per-user ($5 per user per day) holds 500 such calls per user (alice: 2,000 such calls)." in table
    assert "Budget daily ($50 per day) holds 5,000 such calls." in table
    assert "budgets" not in estimate("-m", "gpt-4o", "-i", "2000", "-o", "500")  # asked for only
    bad = tmp_path / "bad.yaml"
    bad.write_text('budgets:\n  - {name: b, limit: 5, scope: {team: "*"}, overrides: {x: 0}}\n')
    message = one_line_error(invoke("estimate", "-m", "gpt-4o", "-i", "1", "-o", "1", "--budget-file", str(bad)))
    assert f"{bad}:2: override 'x': limit 0 must be more than $0" in message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "gpt-4o", "-i", "10", "-o", "4", "--service-tier", "flexx"], "'flexx' is not a service tier; valid:"),
        (["-m", "gpt-4o", "-i", "10", "-o", "4", "--cache-read", "80"], "exceed --input-tokens (10)"),
        (["-m", "gpt-4o", "-i", "10", "-o", "4", "--reasoning", "5"], "--reasoning (5) exceeds --output-tokens (4)"),
        (["-m", "gpt-4o", "-i", "-1", "-o", "4"], "-1 is not in the range x>=0"),
        (["-m", "gpt-4o", "-i", "10"], "Missing option '--output-tokens'"),
        (["-m", "gtp-4o", "-i", "10", "-o", "4"], "did you mean gpt-4o"),
        (["-m", "gpt-4o", "-i", "10", "-o", "4", "--calls", "0"], "0 is not in the range x>=1"),
    ],
)
def test_estimate_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    assert message in one_line_error(invoke("estimate", *args))


def test_every_command_has_help() -> None:
    for command in ("demo", "prices", "estimate", "report", "check"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage: " in result.stdout, command
    assert "Start with `otel-llmcost demo`" in invoke("--help").stdout
    assert one_line_error(invoke("nope")).startswith("Error: No such command 'nope'")
