"""Per conversation: gen_ai.conversation.id from the SDK call (OpenAI Responses ``conversation``, a
``previous_response_id`` chain), on the span and the ledger (never a metric label), and
``otel-llmcost report --by conversation`` with cost, turns and input growth per turn."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from openai_payloads import HAS_RESPONSES, Tokens, http, response_object
from otel_llmcost import attributes, ledger, names
from otel_llmcost.cli.main import cli

pytestmark = pytest.mark.skipif(not HAS_RESPONSES, reason="this openai SDK has no Responses API")


class Turns:
    """A Responses API whose n-th reply is ``resp_n`` with a growing input (the conversation's history)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: Any) -> Any:
        self.count += 1
        tokens = Tokens(prompt=100 + 200 * (self.count - 1), completion=20)
        body = response_object("gpt-4o", tokens, response_id=f"resp_{self.count}")
        return http.Response(200, json=body, request=request)


def client() -> Any:
    import openai

    return openai.OpenAI(api_key="sk-test", http_client=http.Client(transport=http.MockTransport(Turns())))


def report(path: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["report", "--from", f"sqlite:{path}", "--by", "conversation", *args])
    assert result.exit_code == 0, result.output
    return result


def test_a_previous_response_id_chain_is_one_conversation_in_spans_ledger_and_report(
    instrument_with: Any, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.db"
    captured = instrument_with(budget_store=f"sqlite:{path}")
    sdk = client()
    first = sdk.responses.create(model="gpt-4o", input="hi")
    second = sdk.responses.create(model="gpt-4o", input="and?", previous_response_id=first.id)
    sdk.responses.create(model="gpt-4o", input="so?", previous_response_id=second.id)
    sdk.responses.create(model="gpt-4o", input="new", conversation="conv_abc")
    with attributes(conversation_id="mine"):  # explicit wins over what the call names
        sdk.responses.create(model="gpt-4o", input="x", conversation={"id": "conv_abc"})
    spans = captured.client_spans()
    assert [s.attributes.get(names.GEN_AI_CONVERSATION_ID) for s in spans] == [
        None, "resp_1", "resp_1", "conv_abc", "mine",
    ]
    for point in captured.points(names.METRIC_REQUESTS) + captured.points(names.METRIC_COST):
        assert names.GEN_AI_CONVERSATION_ID not in dict(point.attributes)
    captured.instrumentor.uninstrument()
    with sqlite3.connect(path) as conn:
        column = [row[0] for row in conn.execute("SELECT conversation_id FROM llm_calls ORDER BY id")]
    assert column == [None, "resp_1", "resp_1", "conv_abc", "mine"]
    doc = json.loads(report(path, "--format", "json").output)
    rows = {row["conversation"]: row for row in doc["rows"]}
    assert set(rows) == {"resp_1", "conv_abc", "mine"}
    chain = rows["resp_1"]
    assert chain["calls"] == 3  # the first turn counted by its response id
    assert (chain["first_input_tokens"], chain["last_input_tokens"]) == (100, 500)
    assert chain["input_growth_per_turn"] == 200
    assert chain["input_tokens"] == 100 + 300 + 500
    costs = [s.attributes[names.GEN_AI_USAGE_COST] for s in spans[:3]]
    assert float(chain["cost"]) == pytest.approx(sum(costs))
    assert rows["conv_abc"]["input_growth_per_turn"] is None  # one turn: no growth to tell
    table = report(path).output
    assert "resp_1" in table and "input growth/turn" in table


def test_conversation_is_ledger_only_in_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--prometheus", "http://127.0.0.1:9", "--by", "conversation"])
    assert result.exit_code != 0 and "never a metric label" in result.output


def test_an_older_ledger_gains_the_column_when_opened(instrument_with: Any, tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    added = ", ".join(f"{name} {kind}" for name, kind in ledger.ADDED_COLUMNS)
    old_schema = ledger.SCHEMA.replace(f"error_type TEXT,\n    {added}", "error_type TEXT")
    assert "conversation_id" not in old_schema
    with sqlite3.connect(path) as conn:
        for statement in ledger.statements(old_schema):
            conn.execute(statement)
        conn.execute("INSERT INTO llm_calls (ts, provider, operation, cost_usd) VALUES (1, 'openai', 'chat', '0.5')")
    captured = instrument_with(budget_store=f"sqlite:{path}")
    with attributes(conversation_id="c-9"):
        client().responses.create(model="gpt-4o", input="hi")
    captured.instrumentor.uninstrument()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT cost_usd, conversation_id FROM llm_calls ORDER BY id").fetchall()
    assert rows[0] == ("0.5", None) and rows[1][1] == "c-9"
