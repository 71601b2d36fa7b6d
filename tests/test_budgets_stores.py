"""The stores themselves: Redis keys expire after their period, SQLite survives a restart and keeps its lock
waits bounded, and a store that cannot answer in time follows the failure rule."""

from __future__ import annotations

import logging
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from budget_support import REQUEST, TOKENS
from conftest import free_port
from openai_payloads import FakeOpenAI
from otel_llmcost import Budget, BudgetUnavailableError, names
from otel_llmcost.budgets.periods import parse_period
from otel_llmcost.budgets.store import Line, StoreError, to_pico, to_usd
from otel_llmcost.budgets.stores import open_store


def test_redis_keys_expire_after_their_period(redis_server: Any, tmp_path: Path) -> None:
    import redis

    prefix = f"ttl-{tmp_path.name}"
    store = open_store(redis_server.url(prefix), 2)
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    now = time.time()
    day = Line("day", 10**12, parse_period("day").window(now))
    rolling = Line("rolling", 10**12, parse_period("6h").window(now))
    try:
        assert store.reserve("r1", [day, rolling], 500, now, now + 60) is None
        assert client.zcard(f"{{{prefix}}}:reservations") == 1
        assert store.settle("r1", [day, rolling], 400, now, None) == [400, 400]
        assert store.mark_once("day:0.8:x", day.window.mark_expires, now)
        assert not store.mark_once("day:0.8:x", day.window.mark_expires, now)
        for line in (day, rolling):
            key = f"{{{prefix}}}:spend:{line.budget}:{line.window.bucket}"
            assert client.get(key) == "400"
            assert abs(client.ttl(key) - (line.window.expires - now)) <= 2  # gone once no window counts it
        assert abs(client.ttl(f"{{{prefix}}}:mark:day:0.8:x") - (day.window.mark_expires - now)) <= 2
        # Nothing held any more: the reservation and its pending amounts are gone.
        assert client.zcard(f"{{{prefix}}}:reservations") == 0 and client.hlen(f"{{{prefix}}}:reservation") == 0
        assert store.spend([day, rolling], now) == [(400, 0), (400, 0)]
    finally:
        store.close()
        client.close()


def test_sqlite_spend_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'spend.db'}"
    now = time.time()
    line = Line("b", to_pico(Decimal(1)), parse_period("month").window(now))
    store = open_store(url, 1)
    assert store.reserve("r", [line], to_pico(Decimal("0.3")), now, now + 60) is None
    store.settle("r", [line], to_pico(Decimal("0.25")), now, None)
    store.close()
    again = open_store(url, 1)
    try:
        assert [(to_usd(s), p) for s, p in again.spend([line], now)] == [(Decimal("0.25"), 0)]
    finally:
        again.close()
    with sqlite3.connect(tmp_path / "spend.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_lock_wait_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "spend.db"
    store = open_store(f"sqlite:{path}", 0.2)
    now = time.time()
    line = Line("b", 10**12, parse_period("day").window(now))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    try:
        with pytest.raises(StoreError, match="locked"):  # after its busy timeout, not once the lock is gone
            store.reserve("r", [line], 1, now, now + 60)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.reserve("r", [line], 1, now, now + 60) is None  # and it works again once the lock is gone
    store.close()


@pytest.mark.parametrize("rule", ["open", "closed"])
def test_locked_sqlite_follows_the_failure_rule(instrument_with: Any, tmp_path: Path, rule: str) -> None:
    path = tmp_path / "spend.db"
    cap = instrument_with(
        budgets=[Budget("b", limit=1, action="block")],
        budget_store=f"sqlite:{path}",
        budget_store_timeout=0.2,
        budget_store_failure=rule,
    )
    api = FakeOpenAI(tokens=TOKENS)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        if rule == "open":
            api.client(max_retries=0).chat.completions.create(**REQUEST)
        else:
            with pytest.raises(BudgetUnavailableError, match="could not be reached"):
                api.client(max_retries=0).chat.completions.create(**REQUEST)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(api.requests) == (1 if rule == "open" else 0)
    assert cap.total(names.METRIC_BUDGET_STORE_ERRORS, llmcost__stage="reserve") == 1


@pytest.mark.parametrize("rule", ["closed", "open"])
def test_unreachable_redis_is_reported_when_instrumented(
    rule: str, instrument_with: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """One WARNING at instrument() time naming the store (password hidden) and what calls will meet; then the
    first call does what it said."""
    caplog.set_level(logging.WARNING, logger="otel_llmcost.budgets")
    port = free_port()  # a loopback port nothing listens on: refused at once
    cap = instrument_with(
        budgets=[Budget("b", limit=1, action="block")],
        budget_store=f"redis://:s3cret@127.0.0.1:{port}/0?prefix=probe",
        budget_store_failure=rule,
        budget_store_timeout=2,
    )
    logged = [r.getMessage() for r in caplog.records if r.name == "otel_llmcost.budgets"]
    assert len(logged) == 1, logged
    (message,) = logged
    assert message.startswith(f"otel-llmcost: budget store redis://:***@127.0.0.1:{port}/0 does not answer at start-up")
    assert "s3cret" not in message and "ConnectionError" in message and "within 2 s" in message
    if rule == "closed":
        assert message.endswith(
            "with OTEL_LLMCOST_BUDGET_STORE_FAILURE=closed, calls of block budgets will be refused "
            "(BudgetUnavailableError) until it answers"
        )
    else:
        assert message.endswith(
            "with OTEL_LLMCOST_BUDGET_STORE_FAILURE=open, calls of block budgets will go ahead unchecked and their "
            "spend will not be recorded in it"
        )
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    if rule == "closed":
        with pytest.raises(BudgetUnavailableError) as raised:
            client.chat.completions.create(**REQUEST)
        assert "s3cret" not in str(raised.value)
    else:
        client.chat.completions.create(**REQUEST)
    assert len(api.requests) == (0 if rule == "closed" else 1)
    assert cap.total(names.METRIC_BUDGET_STORE_ERRORS, llmcost__stage="reserve") == 1


def test_reachable_stores_are_not_reported(
    instrument_with: Any, redis_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_llmcost.budgets")
    for url in ("memory", f"sqlite:{tmp_path / 'spend.db'}", redis_server.url(f"probe-{tmp_path.name}")):
        cap = instrument_with(budgets=[Budget("b", limit=1, action="block")], budget_store=url)
        cap.instrumentor.uninstrument()
    assert [r.getMessage() for r in caplog.records if r.name == "otel_llmcost.budgets"] == []


def test_sqlite_file_of_the_first_schema_gains_the_charge_columns(tmp_path: Path) -> None:
    """A file made before reservations knew their bucket still works: the columns are added at open."""
    path = tmp_path / "spend.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE budget_reservations (id TEXT NOT NULL, budget TEXT NOT NULL, amount INTEGER NOT NULL, "
            "host TEXT NOT NULL, pid INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (id, budget)) WITHOUT ROWID"
        )
    store = open_store(f"sqlite:{path}", 1)
    now = 1_750_000_000.0
    line = Line("b", 1000, parse_period("day").window(now))
    try:
        assert store.reserve("r", [line], 300, now, now + 60) is None
        assert store.spend([line], now + 61) == [(300, 0)]  # expired: charged
    finally:
        store.close()


def test_redis_reservation_of_the_first_payload_format_is_released(redis_server: Any, tmp_path: Path) -> None:
    """A reservation written before charges existed ("amount|pending|pending") knows no bucket: it is released
    when it expires (as then), and never makes the scripts fail."""
    import redis

    prefix = f"old-{tmp_path.name}"
    store = open_store(redis_server.url(prefix), 2)
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    now = 1_750_000_000.0
    lines = [Line(name, 10**6, parse_period("day").window(now)) for name in ("a", "b")]
    try:
        for name in ("a", "b"):
            client.set(f"{{{prefix}}}:pending:{name}", 300)
        client.hset(f"{{{prefix}}}:reservation", "old", f"300|{{{prefix}}}:pending:a|{{{prefix}}}:pending:b")
        client.zadd(f"{{{prefix}}}:reservations", {"old": now + 60})
        assert store.spend(lines, now) == [(0, 300), (0, 300)]
        assert store.reserve("new", lines, 100, now + 61, now + 120) is None  # the old one expired: released
        assert store.spend(lines, now + 61) == [(0, 100), (0, 100)]
        assert store.settle("new", lines, 50, now + 61, None) == [50, 50]
    finally:
        store.close()
        client.close()
