"""The PostgreSQL ledger against a real PostgreSQL server: rows of real SDK calls, exact NUMERIC costs, the schema
version, the spill file across an outage (replayed in order, once), a full queue that spills instead of blocking,
SIGTERM, and ``report`` giving the same answer from PostgreSQL as from the SQLite ledger of the same calls."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from budget_support import COST, REQUEST, TOKENS, Clock
from openai_payloads import FakeOpenAI
from otel_llmcost import Budget, BudgetExceededError, LLMCostInstrumentor
from otel_llmcost import attributes as attribution
from otel_llmcost.cli.main import cli
from otel_llmcost.ledgers import postgres
from otel_llmcost.ledgers.reader import open_reader
from otel_llmcost.ledgers.spill import Spill
from otel_llmcost.ledgers.writer import LedgerWriter, pending
from postgres_server import PostgresServer, postgres_server  # noqa: F401

TESTS = Path(__file__).parent


def writer_of(cap: Any) -> LedgerWriter:
    writer = cap.instrumentor.runtime.ledger
    assert isinstance(writer, LedgerWriter)
    return writer


def users(url: str) -> list[str]:
    """The user ids of the ledger's rows, in insertion order."""
    with psycopg.connect(url) as conn:
        return [user for (user,) in conn.execute("SELECT user_id FROM llm_calls ORDER BY id")]


def test_calls_become_rows_with_exact_costs_and_a_schema_version(
    instrument_with: Any, postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
) -> None:
    url = postgres_server.new_database()
    cap = instrument_with(ledger=url, ledger_spill=str(tmp_path / "spill.db"))
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    for n in range(3):
        with attribution(feature="chat", team="cs", user_id=f"u{n}"):
            client.chat.completions.create(**REQUEST)
    writer_of(cap).flush()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT cost_usd, input_tokens, output_tokens, feature, team, user_id, row_id, trace_id, provider, model "
            "FROM llm_calls ORDER BY id"
        ).fetchall()
        (version,) = conn.execute("SELECT MAX(version) FROM llmcost_schema_version").fetchone() or (None,)
        (total,) = conn.execute("SELECT SUM(cost_usd) FROM llm_calls").fetchone() or (None,)
    assert version == postgres.LATEST
    assert [r[0] for r in rows] == [COST] * 3 and total == 3 * COST  # NUMERIC: exact, as Decimal
    assert [r[1:6] for r in rows] == [(100, 2_000, "chat", "cs", f"u{n}") for n in range(3)]
    assert len({r[6] for r in rows}) == 3 and all(len(r[7]) == 32 for r in rows)
    assert {(r[8], r[9]) for r in rows} == {("openai", "gpt-4o")}
    spans = cap.client_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {r[7] for r in rows}
    assert pending(writer_of(cap)) == {"queued": 0, "spilled": 0}


def test_migrations_run_once_for_processes_starting_together(postgres_server: PostgresServer) -> None:  # noqa: F811
    url = postgres_server.new_database()
    conns = [postgres.connect(url) for _ in range(3)]
    try:
        assert [postgres.migrate(c) for c in conns] == [postgres.LATEST] * 3
        (count,) = conns[0].execute("SELECT COUNT(*) FROM llmcost_schema_version").fetchone() or (None,)
        assert count == len(postgres.MIGRATIONS)
    finally:
        for conn in conns:
            conn.close()


def test_an_outage_spills_and_the_spill_is_replayed_in_order_once(
    instrument_with: Any, postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
) -> None:
    url = postgres_server.new_database()
    spill_path = tmp_path / "spill.db"
    cap = instrument_with(ledger=url, ledger_spill=str(spill_path))
    writer = writer_of(cap)
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)

    def calls(prefix: str, n: int) -> list[str]:
        made = []
        for i in range(n):
            with attribution(user_id=f"{prefix}{i}"):
                client.chat.completions.create(**REQUEST)
            made.append(f"{prefix}{i}")
        return made

    expected = calls("before-", 3)
    writer.flush()
    postgres_server.stop()
    try:
        expected += calls("during-", 5)
        writer.flush()  # the database is down: to the spill file
        assert pending(writer) == {"queued": 0, "spilled": 5}
    finally:
        postgres_server.start()
    # A crash after PostgreSQL committed a replayed batch but before the spill forgot it: replayed twice.
    spilled = Spill(spill_path).oldest(writer.target, 2)
    with postgres.connect(url) as conn:
        postgres.insert(conn, [row for _, row in spilled])
    expected += calls("after-", 4)
    writer.flush()
    assert users(url)[:3] == expected[:3]
    assert sorted(users(url)) == sorted(expected)  # each once
    assert users(url)[3:8] == expected[3:5] + expected[5:8]  # the spill in its order, then the new rows
    assert users(url)[8:] == expected[8:]
    assert pending(writer) == {"queued": 0, "spilled": 0}
    assert writer.counts["spilled"] == 5 and writer.counts["replayed"] == 5


def test_a_full_queue_spills_instead_of_blocking(
    instrument_with: Any, postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
) -> None:
    url = postgres_server.new_database()
    cap = instrument_with()
    writer = LedgerWriter(url, spill=tmp_path / "spill.db", queue_size=2, flush_every=3600, handle_sigterm=False)
    cap.instrumentor.runtime.ledger = writer
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    assert writer.started.wait(30)  # its first pass (connect, migrate, replay) is over: it sleeps from now on
    try:
        for i in range(5):
            with attribution(user_id=f"u{i}"):
                client.chat.completions.create(**REQUEST)
        # The thread sleeps: the 3rd call found the queue full and moved u0, u1 to the spill file, the 5th u2, u3.
        assert pending(writer) == {"queued": 1, "spilled": 4}
        writer.flush()
        assert users(url) == [f"u{i}" for i in range(5)] and pending(writer)["spilled"] == 0  # in order
    finally:
        writer.close()


def test_close_with_the_database_down_spills_and_a_later_process_replays(
    instrument_with: Any, postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
) -> None:
    url = postgres_server.new_database()
    spill = tmp_path / "spill.db"
    first = LedgerWriter(url, spill=spill, flush_every=3600, exit_timeout=1, handle_sigterm=False)
    assert first.started.wait(30)
    cap = instrument_with()
    cap.instrumentor.runtime.ledger = first
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    for i in range(3):
        with attribution(user_id=f"u{i}"):
            client.chat.completions.create(**REQUEST)
    postgres_server.stop()
    try:
        first.close()  # what the queue held is in the spill file, not lost
    finally:
        postgres_server.start()
    assert Spill(spill).count() == 3
    second = LedgerWriter(url, spill=spill, handle_sigterm=False)  # the next run of the app
    second.flush()
    second.close()
    assert users(url) == ["u0", "u1", "u2"] and Spill(spill).count() == 0


def test_sigterm_flushes_the_queue_then_ends_the_process(
    postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
) -> None:
    url = postgres_server.new_database()
    answered = tmp_path / "answered"
    config = {"url": url, "spill": str(tmp_path / "spill.db"), "index": 0, "threads": 4, "calls": 10,
              "answered": str(answered)}  # fmt: skip
    worker = subprocess.Popen([sys.executable, str(TESTS / "ledger_worker.py"), json.dumps(config)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert worker.stdin is not None and worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    worker.stdin.write("go\n")
    worker.stdin.flush()
    assert worker.stdout.readline().strip() == "done 0"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == -signal.SIGTERM  # still ended by SIGTERM, as without us
    assert sorted(users(url)) == sorted(answered.read_text().split())


def report_json(source: str, by: str, until: float) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["report", "--from", source, "--by", by, "--since", "1d", "--until", str(until), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = dict(json.loads(result.stdout))
    doc.pop("source", None)
    doc.get("meta", {}).pop("source", None)
    return doc


def test_report_from_postgresql_equals_report_from_sqlite(
    instrument_with: Any, postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
) -> None:
    """The same calls in both ledgers (the SQLite budget store's and PostgreSQL): the same report, to the cent."""
    url = postgres_server.new_database()
    store = tmp_path / "spend.db"
    cap = instrument_with(budgets=[Budget("daily", limit="0.05", action="block", feature="chat")],
                          budget_store=f"sqlite:{store}", ledger=url,
                          ledger_spill=str(tmp_path / "spill.db"))  # fmt: skip
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    for n in range(6):
        with attribution(feature="chat" if n % 2 else "search", team=f"t{n % 3}", user_id=f"u{n % 4}"), \
                contextlib.suppress(BudgetExceededError):
                client.chat.completions.create(**{**REQUEST, "model": "gpt-4o-mini" if n == 5 else "gpt-4o"})
    with attribution(feature="search"):
        client.chat.completions.create(**{**REQUEST, "model": "acme-unknown-7b"})  # unpriced
    writer_of(cap).flush()
    until = time.time() + 60
    for by in ("model", "provider", "feature", "team", "user"):
        from_sqlite = report_json(f"sqlite:{store}", by, until)
        from_postgres = report_json(url, by, until)
        assert from_postgres == from_sqlite, by
    with open_reader(f"sqlite:{store}") as lite, open_reader(url) as pg:
        assert [r.cost for r in pg.spend("feature", 0, until)] == [r.cost for r in lite.spend("feature", 0, until)]
        ignore = {"row_id", "ts"}
        strip = [lambda rows: [{k: v for k, v in r.items() if k not in ignore} for r in rows]][0]
        assert strip(pg.calls(0, until)) == strip(lite.calls(0, until))
        assert strip(pg.calls(0, until, costliest=2)) == strip(lite.calls(0, until, costliest=2))
        assert sum((r["cost_usd"] or Decimal(0) for r in pg.calls(0, until)), Decimal(0)) == sum(
            (r.cost for r in pg.spend("model", 0, until)), Decimal(0)
        )
    assert "secret" not in postgres.safe_url("postgresql://u:secret@h/db")
    with sqlite3.connect(store) as conn:  # the SQLite ledger keeps the same versioning
        assert conn.execute("SELECT MAX(version) FROM llmcost_schema_version").fetchone() == (1,)


# --- digest, reconcile and advise: the same answer from either ledger ------------------------------------------
BUDGETS = """\
budgets:
  - name: chat-daily
    limit: 0.05
    period: day
    scope: {feature: chat}
    action: block
  - name: all-monthly
    limit: 5
    period: month
"""


def both_ledgers(make: Any, postgres_server: PostgresServer, tmp_path: Path,  # noqa: F811
                 monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, list[str]]:
    """The same calls, on four closed UTC days, in a SQLite ledger (the budget store's) and a PostgreSQL one, at
    the same moments (one clock for the budgets and the PostgreSQL writer): chat calls a budget ends up refusing,
    an unpriced model, repeated requests and calls outside any server span (what advise finds), a call that
    fails. Returns the two URLs and the days, oldest first."""
    from datetime import datetime, timedelta, timezone

    import openai

    from otel_llmcost.ledgers import writer as writer_module

    url = postgres_server.new_database()
    store = tmp_path / "spend.db"
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    clock = Clock(0)
    monkeypatch.setattr(writer_module, "_now", clock)
    cap = make(budget_store=f"sqlite:{store}", budget_file=str(tmp_path / "budgets.yaml"), budget_clock=clock,
               ledger=url, ledger_spill=str(tmp_path / "spill.db"), fingerprint_key="fleet-key-for-tests")
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    failing = FakeOpenAI(tokens=TOKENS, fail=(500, "overloaded")).client(max_retries=0)
    today = datetime.now(timezone.utc).date()
    days = [(today - timedelta(days=back)).isoformat() for back in (5, 4, 3, 2)]
    for number, day in enumerate(days):
        for n in range(6 + number):
            clock.at(f"{day}T{8 + n:02d}:{number * 7:02d}:00")
            model = "gpt-4o-mini" if n % 3 == 2 else "gpt-4o"
            with attribution(feature="chat" if n % 2 else "search", team=f"t{n % 3}", user_id=f"u{n % 4}"), \
                    contextlib.suppress(BudgetExceededError):
                client.chat.completions.create(**{**REQUEST, "model": model})
        clock.at(f"{day}T20:00:00")
        with attribution(feature="search"):
            client.chat.completions.create(**{**REQUEST, "model": "acme-unknown-7b"})  # unpriced
            with contextlib.suppress(openai.InternalServerError):
                failing.chat.completions.create(**REQUEST)
    writer_of(cap).flush()
    return f"sqlite:{store}", url, days


def test_digest_reconcile_and_advise_read_postgresql_as_they_read_sqlite(
    instrument_with: Any, postgres_server: PostgresServer, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import datetime, timezone

    from otel_llmcost.demo.billing_fake import BillingFake, Charge
    from otel_llmcost.reconcile import computed
    from otel_llmcost.reporting import REFUSED_ERRORS

    lite, url, days = both_ledgers(instrument_with, postgres_server, tmp_path, monkeypatch)
    with open_reader(lite) as a, open_reader(url) as b:
        assert len(a.calls(0, time.time())) == len(b.calls(0, time.time())) == 38  # 30 chat+search, 4 unpriced, 4 fail
        refused = [r for r in b.calls(0, time.time()) if r["error_type"] in REFUSED_ERRORS]
        assert refused and b.daily(0, time.time()) == a.daily(0, time.time())
        scope = ("feature", "chat")
        assert b.spend(None, 0, time.time(), scope) == a.spend(None, 0, time.time(), scope)
        assert b.spend(None, 0, 1) == a.spend(None, 0, 1)  # an empty window: one zero row
        assert b.costliest(0, time.time(), 3) == a.costliest(0, time.time(), 3)

    def digest(source: str, day: str) -> str:
        result = CliRunner().invoke(cli, ["digest", "--from", source, "--date", day, "--budgets",
                                          str(tmp_path / "budgets.yaml"), "--dry-run"], env={})
        assert result.exit_code == 0, result.output
        return result.stdout.replace(source, "LEDGER")

    for day in (days[0], days[-1]):
        from_sqlite = digest(lite, day)
        assert digest(url, day) == from_sqlite
        assert "$" in from_sqlite and "chat-daily" in from_sqlite

    start = int(datetime.fromisoformat(days[0]).replace(tzinfo=timezone.utc).timestamp())
    end = start + 4 * 86_400
    assert computed.read(url, start, end, ["openai"]) == computed.read(lite, start, end, ["openai"]) != []
    with BillingFake(page_size=2) as fake:
        fake.add(Charge("openai", days[1], "gpt-4o-2024-08-06", "input", Decimal("0.1"), 500, 0, 5))

        def reconcile(source: str) -> dict[str, Any]:
            result = CliRunner().invoke(
                cli, ["reconcile", "--since", "7d", "--from", source, "--openai-url", fake.openai_url,
                      "--anthropic-url", fake.anthropic_url, "--format", "json"],
                env={"OPENAI_ADMIN_KEY": fake.keys["openai"], "ANTHROPIC_ADMIN_KEY": None},
            )
            assert result.exit_code == 0, result.output
            return dict(json.loads(result.stdout.replace(source, "LEDGER")))

        from_sqlite = reconcile(lite)
        assert reconcile(url) == from_sqlite
        assert {line["computed"] for line in from_sqlite["lines"]} - {"0"}

    def advise(source: str) -> dict[str, Any]:
        result = CliRunner().invoke(cli, ["advise", "--from", source, "--since", "14d", "--until",
                                          str(end + 86_400), "--format", "json"])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    from_sqlite = advise(lite)
    assert advise(url) == from_sqlite
    assert from_sqlite["findings"]  # repeats and calls outside a server span: something to find


def test_check_probes_the_ledger(postgres_server: PostgresServer, tmp_path: Path) -> None:  # noqa: F811
    """``check`` names the ledger, says whether it answers and its schema version, and rows waiting in the spill
    file; it never migrates (a fresh database stays empty) and never shows the password."""

    def check(url: str) -> tuple[int, list[str]]:
        result = CliRunner().invoke(cli, ["check"], env={"OTEL_LLMCOST_LEDGER": url,
                                                         "OTEL_LLMCOST_LEDGER_SPILL": str(spill_path)})
        return result.exit_code, [" ".join(line.split()) for line in result.stdout.splitlines()]

    spill_path = tmp_path / "spill.db"
    url = postgres_server.new_database()
    code, out = check(url)
    assert code == 0 and any(line.startswith(f"✓ ledger {url} answers; no schema yet") for line in out), out
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('llm_calls')").fetchone() == (None,)  # check did not migrate
    with postgres.connect(url) as conn:
        postgres.migrate(conn)
    code, out = check(url)
    assert code == 0 and f"✓ ledger {url} answers; schema version {postgres.LATEST}" in out, out
    assert not spill_path.exists()  # check creates no spill file
    Spill(spill_path).add(postgres.safe_url(url), [{"row_id": "r1", "ts": 1.0, "provider": "openai"}])
    code, out = check(url)
    assert code == 0 and f"! spill {spill_path}: 1 row waiting for the ledger (replayed by the next " \
        "instrumented process)" in out, out
    down = "postgresql://llmcost:hunter2@127.0.0.1:1/llmcost"
    code, out = check(down)
    (line,) = [line for line in out if line.startswith("✗ ledger")]
    assert code == 2 and "OTEL_LLMCOST_LEDGER=postgresql://llmcost:***@127.0.0.1:1/llmcost" in line, line
    assert "hunter2" not in "\n".join(out)


def test_instrument_without_psycopg_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_llmcost.errors import ConfigError

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError, match=r"otel-llmcost\[postgres\]"):
        LLMCostInstrumentor().instrument(ledger="postgresql://127.0.0.1:1/x")
    LLMCostInstrumentor().uninstrument()


def test_four_processes_an_outage_and_a_killed_process(
    postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
) -> None:
    """4 processes x 8 threads of real SDK calls; the database stopped and started between phases; process 0
    SIGKILLed in the last phase. Every answered call of the 3 others is in the ledger exactly once; of process 0's,
    those it had not written or spilled (in memory when it died) are counted: the loss bound the README states."""
    url = postgres_server.new_database()
    spill = tmp_path / "spill.db"
    processes, threads, calls, queue_size = 4, 8, 25, 10_000
    workers = []
    for index in range(processes):
        config = {"url": url, "spill": str(spill), "index": index, "threads": threads, "calls": calls,
                  "answered": str(tmp_path / f"answered-{index}"), "die_in_phase": 2 if index == 0 else None,
                  "die_after": 100, "queue_size": queue_size}  # fmt: skip
        workers.append(subprocess.Popen([sys.executable, str(TESTS / "ledger_worker.py"), json.dumps(config)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))  # fmt: skip
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"

    def phase(number: int, running: list[subprocess.Popen[str]]) -> None:
        for worker in running:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in running:
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            assert line == f"done {number}" or (worker is workers[0] and number == 2 and line == ""), line

    try:
        phase(0, workers)  # the database answers
        postgres_server.stop()
        try:
            phase(1, workers)  # it does not: rows go to the spill file
        finally:
            postgres_server.start()
        phase(2, workers)  # it answers again; process 0 is killed after 100 answered calls of this phase
        assert workers[0].wait(timeout=60) == -signal.SIGKILL
        for worker in workers[1:]:
            assert worker.stdin is not None
            worker.stdin.close()  # end of phases: a normal exit, which flushes
            assert worker.wait(timeout=120) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    found = users(url)
    counts: dict[str, int] = {}
    for user in found:
        counts[user] = counts.get(user, 0) + 1
    assert max(counts.values()) == 1  # nothing twice, the replays of 3 processes sharing one spill file included
    for index in range(1, processes):
        answered = (tmp_path / f"answered-{index}").read_text().split()
        assert len(answered) == 3 * threads * calls
        assert all(user in counts for user in answered), index  # every answered call of a survivor
    killed = (tmp_path / "answered-0").read_text().split()
    lost = [user for user in killed if user not in counts]
    assert len(killed) >= 2 * threads * calls + 100
    assert all(user.startswith("p0-ph2-") for user in lost)  # what phases 0 and 1 wrote or spilled survived
    assert len(lost) <= queue_size + postgres.BATCH
    assert Spill(spill).count() == 0
    print(f"\nkilled process: {len(killed)} answered calls, {len(lost)} not in the ledger (in memory when killed)")
