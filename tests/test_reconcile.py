"""Reconciliation against loopback fakes of both providers' report endpoints, driving the real SDK clients.

The fakes' bodies are the SDKs' own response types; the ledger is a real SQLite file in the shared schema.
Each explanation class has a scenario made to produce it; exact decimal totals; every failure is one line,
exit code 2, and no admin key appears in any output, log line or metric.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from otel_llmcost import ledger
from otel_llmcost.cli.main import cli
from otel_llmcost.config import ReconcileSettings
from otel_llmcost.demo.billing_fake import BillingFake, Charge
from otel_llmcost.reconcile import exporter, service
from otel_llmcost.reconcile.compare import (
    ALL_MODELS,
    CREDIT_LINE,
    DIFFERS,
    EXPLAINED,
    MATCH,
    NOT_BILLED,
    OPEN,
    OPEN_DAY,
    UNEXPLAINED,
    UNINSTRUMENTED,
    UNPRICED_CALLS,
    UNPRICED_DIMENSION,
)

TODAY = datetime.now(timezone.utc).date()
D1 = (TODAY - timedelta(days=5)).isoformat()  # closed days (settled after 1 day)
D2 = (TODAY - timedelta(days=4)).isoformat()
D3 = (TODAY - timedelta(days=3)).isoformat()
OPEN_D = TODAY.isoformat()


def ts(day: str, hour: int = 12) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp() + hour * 3600


def ledger_file(path: Path, rows: list[dict[str, Any]]) -> str:
    conn = sqlite3.connect(path)
    conn.executescript(ledger.SCHEMA)
    for row in rows:
        values = {column: row.get(column) for column in ledger.COLUMNS}
        values.setdefault("operation", "chat")
        values["operation"] = values["operation"] or "chat"
        values["batch"] = values["batch"] or 0
        conn.execute(
            f"INSERT INTO {ledger.TABLE} ({', '.join(ledger.COLUMNS)}) VALUES ({', '.join('?' * len(ledger.COLUMNS))})",
            [values[c] for c in ledger.COLUMNS],
        )
    conn.commit()
    conn.close()
    return f"sqlite:{path}"


def call(day: str, provider: str, model: str, cost: str | None, tokens: tuple[int, int] = (1000, 100),
         **extra: Any) -> dict[str, Any]:
    return {"ts": ts(day), "provider": provider, "model": model, "response_model": model, "cost_usd": cost,
            "input_tokens": tokens[0], "output_tokens": tokens[1], **extra}


@pytest.fixture
def fake() -> Any:
    with BillingFake(page_size=2) as server:
        yield server


def env(fake: BillingFake, *providers: str) -> dict[str, str]:
    keys = {"openai": "OPENAI_ADMIN_KEY", "anthropic": "ANTHROPIC_ADMIN_KEY"}
    return {keys[p]: fake.keys[p] for p in providers or ("openai", "anthropic")}


def run(fake: BillingFake, source: str, *args: str, providers: tuple[str, ...] = (), since: str = "7d",
        extra_env: dict[str, str] | None = None) -> Result:
    variables = {"OPENAI_ADMIN_KEY": None, "ANTHROPIC_ADMIN_KEY": None, **env(fake, *providers),
                 **(extra_env or {})}
    return CliRunner().invoke(
        cli,
        ["reconcile", "--since", since, "--from", source,
         "--openai-url", fake.openai_url, "--anthropic-url", fake.anthropic_url, *args],
        env=variables,
    )


def lines(result: Result) -> dict[tuple[str, str, str], dict[str, Any]]:
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    return {(line["provider"], line["day"], line["model"]): line for line in document["lines"]}


def causes(line: dict[str, Any]) -> dict[str, Decimal]:
    return {e["cause"]: Decimal(e["amount"]) for e in line["explanations"]}


# --- exact totals, pagination, empty days ----------------------------------------------------------------
def test_exact_totals_both_providers_across_pages(fake: BillingFake, tmp_path: Path) -> None:
    fake.add(
        Charge("openai", D1, "gpt-4o-2024-08-06", "input", Decimal("0.012345"), 5000, 0, 3),
        Charge("openai", D1, "gpt-4o-2024-08-06", "output", Decimal("0.02"), 0, 2000, 0),
        Charge("openai", D3, "gpt-4o-2024-08-06", "input", Decimal("1.1"), 100, 0, 1),
        Charge("anthropic", D1, "claude-sonnet-4-5", "tokens", Decimal("0.123456"), 1000, 100, 2),
        Charge("anthropic", D2, "claude-sonnet-4-5", "tokens", Decimal("0.5"), 10, 10, 1),
        Charge("anthropic", D3, "claude-sonnet-4-5", "tokens", Decimal("0.25"), 10, 10, 1),
    )
    source = ledger_file(tmp_path / "l.db", [
        call(D1, "openai", "gpt-4o-2024-08-06", "0.012345", (2500, 1000)),
        call(D1, "openai", "gpt-4o-2024-08-06", "0.02", (2500, 1000)),
        call(D3, "openai", "gpt-4o-2024-08-06", "1.1", (100, 0)),
        call(D1, "anthropic", "claude-sonnet-4-5-20250929", "0.123456", (1000, 100)),
        call(D2, "anthropic", "claude-sonnet-4-5-20250929", "0.5", (10, 10)),
        call(D3, "anthropic", "claude-sonnet-4-5-20250929", "0.25", (10, 10)),
    ])
    found = lines(run(fake, source, "--format", "json"))
    day = found[("openai", D1, ALL_MODELS)]
    assert (day["billed"], day["computed"], day["status"]) == ("0.032345", "0.032345", MATCH)
    assert Decimal(day["difference"]) == 0
    assert (day["billed_input_tokens"], day["billed_output_tokens"]) == (5000, 2000)
    model = found[("anthropic", D1, "claude-sonnet-4-5")]  # snapshot in the ledger, alias on the bill
    assert Decimal(model["billed"]) == Decimal("0.123456") and model["status"] == MATCH
    assert found[("openai", D3, ALL_MODELS)]["billed"] == "1.1"
    assert Decimal(found[("anthropic", D2, ALL_MODELS)]["billed"]) == Decimal("0.5")
    # an empty day (D2 for openai) has no line; the pages were followed
    assert ("openai", D2, ALL_MODELS) not in found
    pages = [query.get("page") for path, query in fake.requests if path.endswith("/organization/costs")]
    assert pages[0] is None and len(pages) >= 4  # 8 days in pages of 2 buckets
    assert sum(1 for path, _ in fake.requests if path.endswith("/analytics/cost")) == 2  # 3 rows, pages of 2


# --- every explanation class --------------------------------------------------------------------------------
def test_every_explanation_class(fake: BillingFake, tmp_path: Path) -> None:
    fake.add(
        Charge("openai", D1, "gpt-4o", "input", Decimal("1.00"), 1000, 0, 1),          # matches
        Charge("openai", D1, "gpt-4.1-mini", "input", Decimal("0.40"), 9000, 0, 9),    # no call of ours: uninstrumented
        Charge("openai", D1, None, "web search tool calls", Decimal("0.25")),          # not priced by us
        Charge("openai", D1, None, "promotional credit", Decimal("-0.10")),            # credit
        Charge("openai", D2, "gpt-4o", "input", Decimal("2.00"), 1000, 0, 2),          # we computed half: unexplained
        Charge("openai", D3, "o3", "input", Decimal("0.30"), 1000, 0, 2),              # one call unpriced
        Charge("openai", OPEN_D, "gpt-4o", "input", Decimal("0.10"), 1000, 0, 1),      # today: open
    )
    source = ledger_file(tmp_path / "l.db", [
        call(D1, "openai", "gpt-4o", "1.00"),
        call(D1, "openai", "gpt-4o-mini", "0.05"),                                       # not on the bill
        call(D2, "openai", "gpt-4o", "1.00"),
        call(D3, "openai", "o3", "0.10"),
        call(D3, "openai", "o3", None),                                                   # unpriced call
        call(OPEN_D, "openai", "gpt-4o", "0.04"),
    ])
    found = lines(run(fake, source, "--format", "json", providers=("openai",)))
    assert found[("openai", D1, "gpt-4o")]["status"] == MATCH
    assert causes(found[("openai", D1, "gpt-4.1-mini")]) == {UNINSTRUMENTED: Decimal("-0.40")}
    assert causes(found[("openai", D1, "(none)")]) == {UNPRICED_DIMENSION: Decimal("-0.25"),
                                                       CREDIT_LINE: Decimal("0.10")}
    assert causes(found[("openai", D1, "gpt-4o-mini")]) == {NOT_BILLED: Decimal("0.05")}
    day1 = found[("openai", D1, ALL_MODELS)]
    assert day1["status"] == EXPLAINED and Decimal(day1["unexplained"]) == 0
    assert Decimal(day1["billed"]) == Decimal("1.55") and Decimal(day1["computed"]) == Decimal("1.05")
    assert causes(found[("openai", D2, "gpt-4o")]) == {UNEXPLAINED: Decimal("-1.00")}
    assert found[("openai", D2, ALL_MODELS)]["status"] == DIFFERS
    assert found[("openai", D2, ALL_MODELS)]["difference_pct"] == "-50.00"
    o3 = found[("openai", D3, "o3")]
    assert causes(o3) == {UNPRICED_CALLS: Decimal("-0.20")} and o3["status"] == EXPLAINED
    today = found[("openai", OPEN_D, "gpt-4o")]
    assert causes(today) == {OPEN_DAY: Decimal("-0.06")} and today["status"] == OPEN and not today["closed"]


def test_tolerance_turns_a_small_rest_into_a_match(fake: BillingFake, tmp_path: Path) -> None:
    fake.add(Charge("anthropic", D1, "claude-haiku-4-5", "tokens", Decimal("10.00"), 1, 1, 1))
    source = ledger_file(tmp_path / "l.db", [call(D1, "anthropic", "claude-haiku-4-5", "9.95")])
    strict = lines(run(fake, source, "--format", "json", "--tolerance", "0.001", providers=("anthropic",)))
    assert strict[("anthropic", D1, ALL_MODELS)]["status"] == DIFFERS
    loose = lines(run(fake, source, "--format", "json", "--tolerance", "1%", providers=("anthropic",)))
    assert loose[("anthropic", D1, ALL_MODELS)]["status"] == MATCH


def test_anthropic_day_after_data_refreshed_at_is_open(fake: BillingFake, tmp_path: Path) -> None:
    fake.add(Charge("anthropic", D1, "claude-haiku-4-5", "tokens", Decimal("1"), 1, 1, 1),
             Charge("anthropic", D3, "claude-haiku-4-5", "tokens", Decimal("1"), 1, 1, 1))
    fake.refreshed_at = ts(D2, 0) + 86400  # complete up to the end of D2
    source = ledger_file(tmp_path / "l.db", [call(D1, "anthropic", "claude-haiku-4-5", "1")])
    found = lines(run(fake, source, "--format", "json", providers=("anthropic",)))
    assert found[("anthropic", D1, ALL_MODELS)]["closed"] is True
    assert found[("anthropic", D3, ALL_MODELS)]["closed"] is False
    assert found[("anthropic", D3, ALL_MODELS)]["status"] == OPEN


# --- output formats -------------------------------------------------------------------------------------------
def test_table_and_csv(fake: BillingFake, tmp_path: Path) -> None:
    fake.add(Charge("openai", D1, "gpt-4.1-mini", "input", Decimal("0.40"), 9000, 0, 9))
    source = ledger_file(tmp_path / "l.db", [])
    table = run(fake, source, providers=("openai",))
    assert table.exit_code == 0, table.output
    assert "uninstrumented" in table.stdout and "Why they differ" in table.stdout and "-$0.400000" in table.stdout
    csv_out = run(fake, source, "--format", "csv", "--days-only", providers=("openai",))
    header, *rows = csv_out.stdout.splitlines()
    assert header.startswith("provider,day,model,status,billed,computed,difference")
    assert rows == [f"openai,{D1},(all),explained,0.4,0,-0.4,-100.00,9000,0,0,0,uninstrumented -$0.400000"]


# --- failures: one line, exit 2, no key anywhere ------------------------------------------------------------------
def _one_line_error(result: Result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


def test_no_key(fake: BillingFake, tmp_path: Path) -> None:
    source = ledger_file(tmp_path / "l.db", [])
    result = CliRunner().invoke(cli, ["reconcile", "--from", source],
                                env={"OPENAI_ADMIN_KEY": None, "ANTHROPIC_ADMIN_KEY": None})
    _one_line_error(result, "OPENAI_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY", "admin key")
    result = CliRunner().invoke(cli, ["reconcile", "--from", source, "--provider", "anthropic"],
                                env={"OPENAI_ADMIN_KEY": "x", "ANTHROPIC_ADMIN_KEY": None})
    _one_line_error(result, "ANTHROPIC_ADMIN_KEY")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_bad_key_is_refused_and_never_shown(fake: BillingFake, tmp_path: Path, provider: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    source = ledger_file(tmp_path / "l.db", [])
    wrong = f"sk-admin-WRONG-{provider}-0123456789abcdef"
    variable = "OPENAI_ADMIN_KEY" if provider == "openai" else "ANTHROPIC_ADMIN_KEY"
    result = run(fake, source, providers=(provider,), extra_env={variable: wrong})
    message = _one_line_error(result, "401", variable)
    assert wrong not in result.output and wrong[:12] not in message and wrong[-8:] not in message
    assert wrong not in caplog.text


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_normal_api_key_is_forbidden(fake: BillingFake, tmp_path: Path, provider: str) -> None:
    fake.non_admin.add("sk-normal-api-key-0000000000000")
    variable = "OPENAI_ADMIN_KEY" if provider == "openai" else "ANTHROPIC_ADMIN_KEY"
    result = run(fake, ledger_file(tmp_path / "l.db", []), providers=(provider,),
                 extra_env={variable: "sk-normal-api-key-0000000000000"})
    message = _one_line_error(result, "403", "admin key")
    assert "sk-normal-api-key" not in message


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_rate_limit_is_retried_after_retry_after(fake: BillingFake, tmp_path: Path, provider: str) -> None:
    fake.add(Charge(provider, D1, "m", "input" if provider == "openai" else "tokens", Decimal("0.5"), 1, 1, 1))
    fake.fail(429, times=2)
    found = lines(run(fake, ledger_file(tmp_path / "l.db", []), "--format", "json", providers=(provider,)))
    assert found[(provider, D1, ALL_MODELS)]["billed"] in ("0.5", "0.50")


@pytest.mark.parametrize(("status", "words"), [(429, ("429", "rate limited")), (503, ("HTTP 503",)),
                                               (400, ("refused the window", "too long"))])
def test_persistent_failures(fake: BillingFake, tmp_path: Path, status: int, words: tuple[str, ...]) -> None:
    fake.fail(status, times=5, message="range too long" if status == 400 else "")
    result = run(fake, ledger_file(tmp_path / "l.db", []), providers=("openai",))
    _one_line_error(result, *words)


def test_unreachable_api(tmp_path: Path) -> None:
    source = ledger_file(tmp_path / "l.db", [])
    result = CliRunner().invoke(cli, ["reconcile", "--from", source, "--provider", "anthropic",
                                      "--anthropic-url", "http://127.0.0.1:9"],
                                env={"ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-secret-0123456789"})
    message = _one_line_error(result, "cannot reach the anthropic API")
    assert "secret" not in message


def test_bad_options(fake: BillingFake, tmp_path: Path) -> None:
    source = ledger_file(tmp_path / "l.db", [])
    _one_line_error(run(fake, source, "--tolerance", "lots"), "--tolerance='lots'", "share")
    _one_line_error(run(fake, "sqlite:" + str(tmp_path / "missing.db")), "no ledger file")
    result = CliRunner().invoke(cli, ["reconcile"], env=env(fake))
    assert result.exit_code == 2 and "--from sqlite:PATH, --from postgresql://... or --prometheus URL" in result.stderr


# --- the exporter ---------------------------------------------------------------------------------------------
def test_exporter_serves_billed_computed_and_drift(fake: BillingFake, tmp_path: Path) -> None:
    fake.add(Charge("openai", D1, "gpt-4o", "input", Decimal("2.00"), 1, 1, 1),
             Charge("anthropic", D1, "claude-haiku-4-5", "tokens", Decimal("1.00"), 1, 1, 1))
    source = ledger_file(tmp_path / "l.db", [call(D1, "openai", "gpt-4o", "1.50"),
                                             call(D1, "anthropic", "claude-haiku-4-5", "1.00")])
    settings = ReconcileSettings(openai_admin_key=fake.keys["openai"], anthropic_admin_key=fake.keys["anthropic"])
    served = exporter.Exporter(settings, source, 7 * 86400, (), {"openai": fake.openai_url,
                                                                  "anthropic": fake.anthropic_url})
    served.poll(now=time.time())
    server, _ = exporter.start(served, "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
    billed = (f'{exporter.COST}{{gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",'
              f'llmcost_cost_source="billed",llmcost_day="{D1}",llmcost_day_closed="true"}} 2.0')
    assert billed in text
    assert f'{exporter.DRIFT}{{gen_ai_provider_name="openai",llmcost_day="{D1}"}} -0.25' in text
    assert f'{exporter.DRIFT}{{gen_ai_provider_name="anthropic",llmcost_day="{D1}"}} 0.0' in text
    assert exporter.LAST_SUCCESS in text
    for key in fake.keys.values():
        assert key not in text


def test_settings_repr_hides_keys() -> None:
    settings = ReconcileSettings.load(env={"OPENAI_ADMIN_KEY": "sk-admin-topsecret"})
    assert "topsecret" not in repr(settings) and settings.openai_admin_key == "sk-admin-topsecret"
    assert service.window(86400, 10 * 86400 + 5) == (9 * 86400, 11 * 86400)


def test_keys_reach_no_log_span_or_metric_and_nothing_is_recorded_as_spend(
    fake: BillingFake, tmp_path: Path, captured: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Reconciling inside an instrumented process (SDK debug logs on): the admin keys appear nowhere, and the
    report reads are no LLM calls (no cost, no tokens)."""
    caplog.set_level(logging.DEBUG)
    fake.add(Charge("openai", D1, "gpt-4o", "input", Decimal("1"), 10, 10, 1),
             Charge("anthropic", D1, "claude-haiku-4-5", "tokens", Decimal("1"), 10, 10, 1))
    fake.fail(429)
    settings = ReconcileSettings(openai_admin_key=fake.keys["openai"], anthropic_admin_key=fake.keys["anthropic"])
    result = service.run(settings, ledger_file(tmp_path / "l.db", []), 7 * 86400, time.time(), time.time(), (),
                         {"openai": fake.openai_url, "anthropic": fake.anthropic_url})
    assert {line.provider for line in result.lines} == {"openai", "anthropic"}
    texts = [caplog.text, repr(settings), repr(result)]
    for span in captured.spans():
        texts += [span.name, repr(dict(span.attributes or {})), repr([dict(e.attributes or {}) for e in span.events])]
    for resource_metrics in captured.metrics().resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                texts += [repr(dict(p.attributes or {})) for p in metric.data.data_points]
    for key in fake.keys.values():
        assert not any(key in text for text in texts), key
    assert captured.total("llmcost.cost") == 0 and captured.total("llmcost.tokens") == 0


def test_serve_polls_on_schedule_and_keeps_the_last_numbers_when_a_poll_fails(fake: BillingFake, tmp_path: Path,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    import threading

    from stack_servers import free_port, poll

    fake.add(Charge("openai", D1, "gpt-4o", "input", Decimal("2.00"), 1, 1, 1))
    settings = ReconcileSettings(openai_admin_key=fake.keys["openai"], interval=0.05)
    served = exporter.Exporter(settings, ledger_file(tmp_path / "l.db", []), 7 * 86400, (),
                               {"openai": fake.openai_url})
    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=exporter.serve, args=(served, "127.0.0.1", port, stop), daemon=True)
    thread.start()
    try:
        poll(lambda: len([p for p, _ in fake.requests if p.endswith("/costs")]) >= 3, "a few scheduled polls")
        fake.fail(503, times=1000)
        poll(lambda: served.failures >= 2, "failed polls")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert f'{exporter.DRIFT}{{gen_ai_provider_name="openai",llmcost_day="{D1}"}} -1.0' in text  # kept
        assert "poll failed, keeping the last numbers: openai answered HTTP 503" in caplog.text
        assert fake.keys["openai"] not in caplog.text
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_serve_with_a_refused_key_exits_2_before_serving(fake: BillingFake, tmp_path: Path) -> None:
    result = run(fake, ledger_file(tmp_path / "l.db", []), "--serve", "--port", "0", providers=("openai",),
                 extra_env={"OPENAI_ADMIN_KEY": "sk-admin-wrong-wrong-wrong-0000"})
    _one_line_error(result, "401", "OPENAI_ADMIN_KEY")


def test_the_demo_reconciles_its_traffic_and_explains_the_planted_difference() -> None:
    import subprocess
    import sys

    from otel_llmcost.demo import reconcile_demo

    done = subprocess.run([sys.executable, "-c", "from otel_llmcost.cli.main import main; main()", "demo"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout
    assert "Reconciliation: the demo's spend against (fake) provider bills" in output
    planted = f"-${reconcile_demo.UNINSTRUMENTED_USD:.6f}"
    why = output.split("Why they differ:", 1)[1].split("\n\n", 1)[0]
    assert f"openai {(TODAY - timedelta(days=1)).isoformat()} {reconcile_demo.UNINSTRUMENTED_MODEL}: uninstrumented " \
           f"{planted}" in why
    assert len([line for line in why.splitlines() if line.strip()]) == 1  # the only difference: the rest matches
    assert "differs" not in output.split("Reconciliation:", 1)[1]


def test_unreachable_prometheus_is_one_line(fake: BillingFake) -> None:
    result = CliRunner().invoke(
        cli, ["reconcile", "--prometheus", "http://127.0.0.1:9", "--provider", "openai",
              "--openai-url", fake.openai_url],
        env={"OPENAI_ADMIN_KEY": fake.keys["openai"]},
    )
    _one_line_error(result, "cannot query Prometheus at http://127.0.0.1:9")
