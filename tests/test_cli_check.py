"""`otel-llmcost check`: a good configuration says what will happen; each bad one is named, with exit code 2."""

from __future__ import annotations

import os
from pathlib import Path

import openai
import pytest
import wrapt
from click.testing import CliRunner, Result

from otel_llmcost.cli.main import cli


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("OTEL_"):
            monkeypatch.delenv(key)


def check(*args: str, **env: str) -> Result:
    return CliRunner().invoke(cli, ["check", *args], env=env)


def lines(result: Result) -> list[str]:
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def test_good_configuration_says_what_the_instrumentation_will_do(tmp_path: Path) -> None:
    price_file = tmp_path / "prices.yaml"
    price_file.write_text("models:\n  - {model: llama3.1:8b, input: 0, output: 0}\naliases: {my-gpt: gpt-4o}\n")
    result = check("--verbose", OTEL_LLMCOST_PRICE_FILE=str(price_file), OTEL_TRACES_EXPORTER="console",
                   OTEL_METRICS_EXPORTER="otlp_proto_http", OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318")
    assert result.exit_code == 0, result.output
    out = lines(result)
    assert "✓ settings    valid (OTEL_LLMCOST_PRICE_FILE)" in out
    assert f"✓ price file  {price_file}: 1 model, 1 alias; they win" in out
    assert any(line.startswith(f"✓ openai      {openai.__version__}: ") and "methods will be patched" in line
               for line in out)
    assert "openai.resources.chat.completions.completions.Completions.create" in out
    assert any(line.startswith("✓ anthropic") for line in out)
    assert "✓ launcher    opentelemetry-instrument will load the 'llmcost' instrumentor" in out
    assert "✓ traces      console" in out
    assert "✓ metrics     otlp_proto_http over http/protobuf to http://collector:4318/v1/metrics" in out
    assert out[-1].startswith("Ready")


def test_check_leaves_nothing_patched() -> None:
    assert check().exit_code == 0
    assert not isinstance(openai.resources.chat.completions.Completions.__dict__["create"], wrapt.FunctionWrapper)


def test_defaults_name_the_distro_exporters() -> None:
    out = lines(check())
    assert "✓ settings    defaults (no OTEL_LLMCOST_* variable set)" in out
    assert "· price file  none (set OTEL_LLMCOST_PRICE_FILE to add or replace prices)" in out
    assert "✓ traces      otlp (opentelemetry-distro's default) over grpc to http://localhost:4317" in out


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"OTEL_LLMCOST_MAX_MODELS": "lots"}, "✗ settings    OTEL_LLMCOST_MAX_MODELS='lots' is not a whole number. "
         "Fix: e.g. OTEL_LLMCOST_MAX_MODELS=100 or instrument(max_models=100)."),
        ({"OTEL_LLMCOST_PRICEFILE": "p.yaml"},
         "✗ settings    OTEL_LLMCOST_PRICEFILE is not a setting of otel-llmcost and is ignored; "
         "did you mean OTEL_LLMCOST_PRICE_FILE?"),
        ({"OTEL_LLMCOST_PROVIDER_HOSTS": "gateway"},
         "OTEL_LLMCOST_PROVIDER_HOSTS='gateway' holds 'gateway', which is not KEY=VALUE."),
        # Read by the settings model, as instrument() reads it: one problem, not a crash of the store check.
        ({"OTEL_LLMCOST_BUDGET_STORE_TIMEOUT": "soon"},
         "✗ settings    OTEL_LLMCOST_BUDGET_STORE_TIMEOUT='soon' is not a number of seconds."),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "maybe"},
         "✗ settings    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT='maybe' is not true or false"),
        ({"OTEL_LLMCOST_PRICE_FILE": "/no/such/prices.yaml"},
         "✗ price file  price file '/no/such/prices.yaml' (set by OTEL_LLMCOST_PRICE_FILE or price_file=): "
         "cannot be read"),
        ({"OTEL_TRACES_EXPORTER": "jaegr"}, "✗ traces      OTEL_TRACES_EXPORTER: no exporter 'jaegr' installed"),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "collector:4317"},
         "✗ metrics     OTLP endpoint 'collector:4317' is not an http(s) URL"),
        # Both signals read it: still one problem.
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "htp"},
         "✗ traces      OTEL_EXPORTER_OTLP_PROTOCOL='htp' is not an OTLP protocol; valid: grpc, http/protobuf, "
         "http/json"),
        ({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpcs", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
         "✗ metrics     OTEL_EXPORTER_OTLP_METRICS_PROTOCOL='grpcs' is not an OTLP protocol"),
    ],
)
def test_each_bad_setting_is_one_clear_line_and_exit_2(env: dict[str, str], problem: str) -> None:
    result = check(**env)
    assert result.exit_code == 2, result.output
    matching = [line for line in lines(result) if problem in line]
    assert len(matching) == 1, result.stdout
    assert lines(result)[-1].startswith("1 problem: fix it before launching.")
    # A settings problem is never followed by a contradicting "✓ settings" line.
    settings_lines = [line for line in lines(result) if line.split()[1] == "settings"]
    assert settings_lines == (matching if "settings" in problem else settings_lines), settings_lines


def test_bad_settings_leave_the_files_unchecked_rather_than_guessed() -> None:
    out = lines(check(OTEL_LLMCOST_MAX_MODELS="0", OTEL_LLMCOST_BUDGET_FILE="/no/such/budgets.yaml"))
    assert "· price file  not checked: fix the settings above first" in out
    assert "· budgets     not checked: fix the settings above first" in out


def test_an_unknown_variable_without_a_close_name_gets_no_suggestion() -> None:
    result = check(OTEL_LLMCOST_FOO="1")
    assert result.exit_code == 2
    (line,) = [line for line in lines(result) if line.split()[1] == "settings"]
    assert line == ("✗ settings    OTEL_LLMCOST_FOO is not a setting of otel-llmcost and is ignored "
                    "(the README's configuration table lists them)")


def test_good_otlp_protocols_pass() -> None:
    for protocol in ("grpc", "http/protobuf", "http/json"):
        result = check(OTEL_EXPORTER_OTLP_PROTOCOL=protocol, OTEL_METRICS_EXPORTER="none")
        assert result.exit_code == 0, result.output
        assert any(line.startswith("✓ traces") and f" over {protocol} to " in line for line in lines(result))


def test_bad_price_file_entry_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - {model: my-model, input: 1, output: cheap}\n")
    result = check("--price-file", str(bad))
    assert result.exit_code == 2
    assert any("models[0] (model 'my-model'): 'output' must be a number" in line for line in lines(result))


def test_warnings_do_not_fail() -> None:
    result = check(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="requests,llmcost", OTEL_SDK_DISABLED="true")
    assert result.exit_code == 0
    assert "! launcher    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS turns llmcost off" in lines(result)


def test_budget_file_and_store_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "budgets.yaml"
    good.write_text(
        "budgets:\n  - {name: daily-total, limit: 50, period: day, timezone: Europe/Paris, action: block}\n"
    )
    store = tmp_path / "spend.db"
    result = check(OTEL_LLMCOST_BUDGET_FILE=str(good), OTEL_LLMCOST_BUDGET_STORE=f"sqlite:{store}")
    assert result.exit_code == 0, result.output
    out = lines(result)
    assert any(line.startswith("✓ budgets") and "1 budget: daily-total $50 per day (Europe/Paris) (block)" in line
               for line in out), out
    assert f"✓ store budget spend store sqlite:{store}" in [" ".join(line.split()) for line in out]
    two = tmp_path / "two.yaml"
    two.write_text("budgets:\n  - {name: a, limit: 5, period: 24h}\n  - {name: b, limit: 9, period: month}\n")
    out = lines(check(OTEL_LLMCOST_BUDGET_FILE=str(two)))
    assert any(line.endswith("2 budgets: a $5 per 24h (warn), b $9 per month (warn)") for line in out), out
    members = tmp_path / "members.yaml"
    members.write_text(
        'budgets:\n  - {name: per-user, limit: 5, scope: {user: "*"}, overrides: {alice: 20, bob: 1}, action: block}\n'
        "  - {name: per-team, limit: 50, period: month, scope: {team: '*'}}\n"
    )
    out = [" ".join(line.split()) for line in lines(check(OTEL_LLMCOST_BUDGET_FILE=str(members)))]
    assert any(
        line.endswith("2 budgets: per-user $5 per user per day, alice $20, bob $1 (block), per-team $50 per team per "
                      "month (warn)") for line in out
    ), out

    bad = tmp_path / "bad-budgets.yaml"
    bad.write_text("budgets:\n  - {name: daily-total, limit: lots, period: day}\n")
    result = check(OTEL_LLMCOST_BUDGET_FILE=str(bad))
    assert result.exit_code == 2
    (line,) = [line for line in lines(result) if str(bad) in line]
    assert f"{bad}:2: limit 'lots' is not an amount in USD" in line, line


def test_unreachable_redis_store_fails_the_check() -> None:
    result = check(OTEL_LLMCOST_BUDGET_STORE="redis://127.0.0.1:1/0", OTEL_LLMCOST_BUDGET_STORE_TIMEOUT="0.2")
    assert result.exit_code == 2
    assert any("OTEL_LLMCOST_BUDGET_STORE=redis://127.0.0.1:1/0" in line for line in lines(result)), result.output


def test_the_ledger_setting_is_reported(tmp_path: Path) -> None:
    out = [" ".join(line.split()) for line in lines(check())]
    assert "· ledger none (set OTEL_LLMCOST_LEDGER=postgresql://..., or OTEL_LLMCOST_BUDGET_STORE=sqlite:PATH)" in out
    store = tmp_path / "spend.db"
    out = [" ".join(line.split()) for line in lines(check(OTEL_LLMCOST_BUDGET_STORE=f"sqlite:{store}"))]
    assert f"· ledger the SQLite budget store keeps it (sqlite:{store})" in out, out
    result = check(OTEL_LLMCOST_LEDGER="sqlite:/tmp/x.db")
    assert result.exit_code == 2 and "kept by the SQLite budget store" in result.stdout


def test_expensive_request_thresholds_are_shown_and_a_conflict_fails(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - {name: daily, limit: 5, period: day}\n"
                       "expensive_request_usd: {default: 0.50, features: {summarize: 2.00}}\n")
    out = [" ".join(line.split()) for line in lines(check(OTEL_LLMCOST_BUDGET_FILE=str(budgets)))]
    assert ("✓ expensive told at once (span event, WARNING, callbacks): any call over $0.5, summarize calls over "
            "$2.0") in out, out
    env_only = [" ".join(line.split()) for line in lines(check(OTEL_LLMCOST_EXPENSIVE_REQUEST_USD_BY_FEATURE="chat=1"))]
    assert "✓ expensive told at once (span event, WARNING, callbacks): chat calls over $1" in env_only, env_only
    result = check(OTEL_LLMCOST_BUDGET_FILE=str(budgets), OTEL_LLMCOST_EXPENSIVE_REQUEST_USD="1")
    assert result.exit_code == 2
    assert any(line.startswith("✗ expensive") and f"{budgets}:3: expensive_request_usd default 0.5 differs" in line
               for line in lines(result)), result.stdout
    assert any(line.startswith("· expensive") and "no threshold" in line for line in lines(check()))
