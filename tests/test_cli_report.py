"""`otel-llmcost report`: spend tables from a real SQLite ledger (exact sums) and from a real Prometheus server."""

from __future__ import annotations

import csv
import io
import json
import signal
import sqlite3
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from budget_support import COST, REQUEST, TOKENS, Clock
from openai_payloads import FakeOpenAI
from otel_llmcost import Budget, BudgetExceededError, ledger
from otel_llmcost import attributes as attribution
from otel_llmcost.cli.main import cli
from processes import poll, prometheus_query, read_spans, running_prometheus, span_cost, start_command

NOW = 1_800_000_000.0
DAY = 86_400


def ledger_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A real ledger: the shared schema, rows inserted with plain SQL (as the budget store's writer will)."""
    conn = sqlite3.connect(path)
    conn.executescript(ledger.SCHEMA)
    for row in rows:
        values = {column: row.get(column) for column in ledger.COLUMNS}
        values["provider"] = values["provider"] or "openai"
        values["operation"] = values["operation"] or "chat"
        values["batch"] = values["batch"] or 0
        conn.execute(
            f"INSERT INTO {ledger.TABLE} ({', '.join(ledger.COLUMNS)}) VALUES ({', '.join('?' * len(ledger.COLUMNS))})",
            [values[c] for c in ledger.COLUMNS],
        )
    conn.commit()
    conn.close()
    return path


def call(ts_ago: float, model: str, cost: str | None, **extra: Any) -> dict[str, Any]:
    return {"ts": NOW - ts_ago, "model": model, "cost_usd": cost, "input_tokens": 1000, "output_tokens": 100,
            "cache_read_tokens": 0, **extra}


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return ledger_file(
        tmp_path / "llmcost.db",
        [
            call(100, "gpt-4o", "0.1", feature="support", team="cs", user_id="alice", cache_read_tokens=500),
            call(200, "gpt-4o", "0.2", feature="support", team="cs", user_id="bob"),
            call(300, "claude-sonnet-4-6", "0.000001", provider="anthropic", feature="search", team="sr",
                 user_id="alice"),
            call(400, "acme-llm-7b", None, feature="search", team="sr"),  # unpriced, no user
            call(500, "gpt-4o", None, input_tokens=None, output_tokens=None, feature="support", team="cs",
                 user_id="alice", error_type="RateLimitError"),
            call(600, "gpt-4o", None, input_tokens=None, output_tokens=None, cache_read_tokens=None,
                 feature="support", team="cs", user_id="bob", error_type="BudgetExceededError"),  # refused
            call(2 * DAY, "gpt-4o", "100", feature="support", team="cs", user_id="carol"),  # outside 1d, inside 7d
            call(0, "gpt-4o", "1000", feature="support", team="cs"),  # at the window's end: excluded (end exclusive)
        ],
    )


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["report", *args])


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def rows_by_key(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rows by their group, found under the --by dimension's name ("model", "feature", ...)."""
    return {row[document["by"]]: row for row in document["rows"]}


def test_ledger_by_model_sums_decimal_text_exactly(sample: Path) -> None:
    doc = as_json(run("--from", f"sqlite:{sample}", "--since", "1d", "--until", str(NOW), "--format", "json"))
    rows = rows_by_key(doc)
    assert [r["model"] for r in doc["rows"]] == ["gpt-4o", "claude-sonnet-4-6", "acme-llm-7b"]  # costliest first
    assert rows["gpt-4o"] == {
        "model": "gpt-4o", "calls": 4, "errors": 1, "refused": 1, "unpriced": 0, "input_tokens": 2000,
        "output_tokens": 200, "cache_read_tokens": 500, "cache_write_tokens": 0, "cost": "0.3",
        "share_pct": "99.9997",
    }  # 0.1 + 0.2 is 0.3 here, not 0.30000000000000004; a refused call is counted, not an error, and costs 0
    assert rows["acme-llm-7b"]["unpriced"] == 1 and rows["acme-llm-7b"]["cost"] is None  # unknown, not $0
    assert rows["acme-llm-7b"]["share_pct"] is None
    assert rows["claude-sonnet-4-6"]["cost"] == "0.000001" and rows["claude-sonnet-4-6"]["share_pct"] == "0.0003"
    assert doc["total"]["cost"] == "0.300001" and doc["total"]["calls"] == 6 and doc["total"]["refused"] == 1
    assert doc["by"] == "model" and doc["since"] == "1d" and doc["source"] == f"sqlite:{sample}"


def test_ledger_window_and_dimensions(sample: Path) -> None:
    week = rows_by_key(as_json(run("--from", f"sqlite:{sample}", "--since", "7d", "--until", str(NOW),
                                   "--format", "json")))
    assert week["gpt-4o"]["cost"] == "100.3"
    users = rows_by_key(as_json(run("--from", f"sqlite:{sample}", "--by", "user", "--until", str(NOW),
                                    "--format", "json")))
    assert {k: v["cost"] for k, v in users.items()} == {"bob": "0.2", "alice": "0.100001", "(none)": None}
    assert users["alice"]["calls"] == 3 and users["alice"]["errors"] == 1
    assert (users["bob"]["calls"], users["bob"]["errors"], users["bob"]["refused"]) == (2, 0, 1)
    teams = rows_by_key(as_json(run("--from", f"sqlite:{sample}", "--by", "team", "--until", "2027-01-15T09:00:00Z",
                                    "--since", "30d", "--format", "json")))
    assert teams["cs"]["cost"] == "1100.3"  # an hour after NOW (2027-01-15T08:00Z): the call at NOW is in


def test_ledger_a_thousand_tenths_of_a_cent_are_exactly_one_dollar(tmp_path: Path) -> None:
    path = ledger_file(tmp_path / "many.db", [call(i + 1, "gpt-4o-mini", "0.001") for i in range(1000)])
    doc = as_json(run("--from", f"sqlite:{path}", "--until", str(NOW), "--format", "json"))
    assert doc["total"]["cost"] == "1.000"
    assert sum([0.001] * 1000) != 1.0  # what float sums would have printed


def test_ledger_csv_and_table(sample: Path) -> None:
    result = run("--from", f"sqlite:{sample}", "--by", "feature", "--until", str(NOW), "--format", "csv")
    assert result.exit_code == 0, result.output
    header, *_ = result.stdout.splitlines()
    assert header == ("feature,calls,errors,refused,unpriced,input_tokens,output_tokens,cache_read_tokens,"
                      "cache_write_tokens,cost,share_pct")
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["feature"], r["cost"], r["calls"], r["refused"], r["share_pct"]) for r in table] == [
        ("support", "0.3", "4", "1", "99.9997"), ("search", "0.000001", "2", "0", "0.0003")
    ]
    result = run("--from", f"sqlite:{sample}", "--by", "feature", "--until", str(NOW))
    assert result.exit_code == 0, result.output
    assert "Spend by feature, last 1d" in result.stdout
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[1] == ["feature", "calls", "errors", "refused", "unpriced", "input", "tokens", "output", "tokens",
                        "cache", "read", "cache", "write", "cost", "(USD)", "share"]
    assert ["support", "4", "1", "1", "0", "2,000", "200", "500", "0", "$0.300000", "100.0%"] in lines
    assert ["search", "2", "0", "0", "1", "2,000", "200", "0", "0", "$0.000001", "0.0%"] in lines
    assert ["total", "6", "1", "1", "1", "4,000", "400", "500", "0", "$0.300001"] in lines
    assert "\x1b[" not in result.stdout  # no colours when not a terminal


def test_ledger_empty_window(sample: Path) -> None:
    result = run("--from", f"sqlite:{sample}", "--until", str(NOW - 100 * DAY))
    assert result.exit_code == 0
    assert "No calls recorded in this window." in result.stdout


def one_line_error(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_bad_sources_are_one_clear_line(tmp_path: Path) -> None:
    assert "no ledger file at" in one_line_error(run("--from", f"sqlite:{tmp_path / 'missing.db'}"))
    (tmp_path / "notes.txt").write_text("not a database" * 100)
    assert "is not a SQLite database" in one_line_error(run("--from", f"sqlite:{tmp_path / 'notes.txt'}"))
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.commit()
    assert "has no llm_calls table" in one_line_error(run("--from", f"sqlite:{tmp_path / 'other.db'}"))
    assert "is not sqlite:PATH nor postgresql://" in one_line_error(run("--from", "mysql://db/x"))
    assert "--from sqlite:PATH, --from postgresql://... or --prometheus URL" in one_line_error(run())
    assert "(one)" in one_line_error(run("--from", "sqlite:x.db", "--prometheus", "http://localhost:9090"))
    assert "is not a duration" in one_line_error(run("--from", "sqlite:x.db", "--since", "7x"))
    assert "'region' is not one of" in one_line_error(run("--from", "sqlite:x.db", "--by", "region"))
    assert "is not a time" in one_line_error(run("--from", "sqlite:x.db", "--until", "yesterday"))
    assert "is not an http(s) URL" in one_line_error(run("--prometheus", "localhost:9090"))


def test_unreachable_prometheus_is_one_line_exit_1() -> None:
    from processes import free_port

    error = one_line_error(run("--prometheus", f"http://127.0.0.1:{free_port()}"), code=1)
    assert "cannot query Prometheus at" in error


def test_prometheus_report_equals_the_demo_spans(tmp_path: Path) -> None:
    """The demo serves /metrics; a real Prometheus scrapes it; the report equals the costs on the spans."""
    spans_file = tmp_path / "spans.jsonl"
    demo = start_command(
        "demo", "--metrics-port", "0", "--metrics-addr", "127.0.0.1", "--spans-file", str(spans_file)
    )
    try:
        target = demo.wait_for(r"Serving http://(127\.0\.0\.1:\d+)/metrics until Ctrl-C", timeout=60)[1]
        spans = read_spans(spans_file)
        expected: dict[str, dict[str, Decimal]] = {"model": defaultdict(Decimal), "provider": defaultdict(Decimal)}
        for span in spans:
            cost = span_cost(span)
            if cost:
                expected["model"][span["attributes"]["gen_ai.request.model"]] += cost
                expected["provider"][span["attributes"]["gen_ai.provider.name"]] += cost
        total = sum(expected["model"].values(), Decimal(0))
        assert total > 0

        with running_prometheus(tmp_path, target) as prometheus:
            def scraped_in_full() -> float | None:  # a new series reads 0 on its first scrape, in full after
                found = prometheus_query(prometheus, "sum(llmcost_cost_USD_total)")
                return float(found[0]["value"][1]) if found and float(found[0]["value"][1]) > 0 else None

            assert abs(Decimal(repr(poll(scraped_in_full, 30, "a scrape with the demo's costs"))) - total) < Decimal(
                "1e-9"
            )
            last_scrape = prometheus_query(prometheus, "max(timestamp(llmcost_cost_USD_total))")[0]["value"][1]
            for dimension in ("model", "provider"):
                doc = as_json(run("--prometheus", prometheus, "--since", "1h", "--by", dimension,
                                  "--until", last_scrape, "--format", "json"))
                got = {row[dimension]: Decimal(row["cost"]) for row in doc["rows"]
                       if row["cost"] is not None and Decimal(row["cost"])}
                assert got.keys() == expected[dimension].keys()
                for key, cost in expected[dimension].items():
                    assert abs(got[key] - cost) < Decimal("1e-9"), (dimension, key, got[key], cost)
            unpriced = rows_by_key(as_json(run("--prometheus", prometheus, "--since", "1h", "--until", last_scrape,
                                               "--format", "json")))
            assert unpriced["acme-llm-7b"]["unpriced"] == 1 and unpriced["acme-llm-7b"]["cost"] is None
            # Calls, failures and prompt-cache tokens per model, from the requests and tokens counters.
            for model, row in unpriced.items():
                mine = [s["attributes"] for s in spans if s["attributes"]["gen_ai.request.model"] == model]
                assert row["calls"] == len(mine) and row["refused"] == 0
                assert row["errors"] == sum("error.type" in a for a in mine)
                assert row["cache_read_tokens"] == sum(a.get("gen_ai.usage.cache_read.input_tokens", 0) for a in mine)
                assert row["cache_write_tokens"] == sum(
                    a.get("gen_ai.usage.cache_write.input_tokens", 0) for a in mine
                )
            assert unpriced["claude-sonnet-4-6"]["cache_write_tokens"] > 0
            assert unpriced["gpt-4.1"]["input_tokens"] == 120_000 and unpriced["gpt-4.1"]["output_tokens"] == 4_000
            by_feature = run("--prometheus", prometheus, "--since", "1h", "--by", "feature", "--until", last_scrape)
            if "(none)" in by_feature.stdout:  # until attribution is allowed on metrics, one "(none)" row says so
                assert "No series carries the llmcost_feature label" in by_feature.stdout
            table = run("--prometheus", prometheus, "--since", "1h", "--until", last_scrape)
            assert table.exit_code == 0 and "$0.272000" in table.stdout and f"from {prometheus}" in table.stdout
            acme = next(line.split() for line in table.stdout.splitlines() if line.startswith("acme-llm-7b"))
            assert acme[-2:] == ["unpriced", "—"]
        demo.process.send_signal(signal.SIGINT)
        assert demo.finish(timeout=30) == 0  # Ctrl-C after the traffic ends the /metrics serving normally
    finally:
        if demo.process.poll() is None:
            demo.process.kill()


def test_unpriced_groups_say_unpriced_never_zero_dollars(sample: Path) -> None:
    result = run("--from", f"sqlite:{sample}", "--until", str(NOW))
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    acme = next(line for line in lines if line[0] == "acme-llm-7b")
    assert acme[-2:] == ["unpriced", "—"] and not any("$" in cell for cell in acme)
    assert next(line for line in lines if line[0] == "claude-sonnet-4-6")[-2:] == ["$0.000001", "0.0%"]


def test_calls_a_budget_refused_are_in_the_ledger_and_counted_as_refused(instrument_with: Any, tmp_path: Path) -> None:
    """A real block budget on the SQLite store: the refused call is a ledger row, reported as refused at $0."""
    path = tmp_path / "spend.db"
    instrument_with(budgets=[Budget("daily", limit="0.05", action="block")], budget_store=f"sqlite:{path}",
                    budget_clock=Clock(NOW - 60))
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    with attribution(feature="chat"):
        client.chat.completions.create(**REQUEST)
        client.chat.completions.create(**REQUEST)
        with pytest.raises(BudgetExceededError):
            client.chat.completions.create(**REQUEST)  # 0.0405 spent + 0.02026 worst case > 0.05
    assert len(api.requests) == 2
    doc = as_json(run("--from", f"sqlite:{path}", "--by", "feature", "--until", str(NOW), "--format", "json"))
    row = rows_by_key(doc)["chat"]
    assert (row["calls"], row["errors"], row["refused"], row["unpriced"]) == (3, 0, 1, 0)
    assert Decimal(row["cost"]) == 2 * COST and row["share_pct"] == "100.0000"
