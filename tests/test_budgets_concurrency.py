"""Block budgets under load: concurrent calls never overshoot, in one process (memory) or many (SQLite, Redis),
and a process killed mid-call loses no settled spend and holds nothing for long."""

from __future__ import annotations

import json
import os
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from budget_support import COST, REQUEST, TOKENS, WORST, start_worker, store_url
from conftest import Captured
from openai_payloads import FakeOpenAI
from otel_llmcost import Budget, BudgetExceededError, ledger, names
from otel_llmcost.budgets import on_budget_threshold, remove_budget_threshold_callback
from otel_llmcost.budgets.periods import parse_period
from otel_llmcost.budgets.store import Line, SpendStore, open_store, to_pico, to_usd

LIMIT = Decimal(1)
# Every call reserves WORST: 49 of them fit in $1 (49 x 0.02026 = 0.99274), a 50th never does.
ADMITTED = int(LIMIT // WORST)


def _spend(url: str, budget: str = "shared") -> tuple[Decimal, Decimal]:
    """(settled, held) of a budget's current day, read from the store itself."""
    store = open_store(url, 5)
    try:
        line = Line(budget, to_pico(LIMIT), parse_period("day").window(time.time()))
        ((settled, pending),) = store.spend([line], time.time())
    finally:
        store.close()
    return to_usd(settled), to_usd(pending)


def test_memory_32_threads_never_overshoot(instrument_with: Any) -> None:
    cap: Captured = instrument_with(budgets=[Budget("shared", limit=LIMIT, action="block")])
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    crossings: list[Decimal] = []
    callback = on_budget_threshold(lambda crossing: crossings.append(crossing.threshold))
    outcomes: list[str] = []
    start = threading.Barrier(32)

    def run() -> None:
        start.wait()
        for _ in range(6):
            try:
                client.chat.completions.create(**REQUEST)
                outcomes.append("answered")
            except BudgetExceededError:
                outcomes.append("exceeded")

    threads = [threading.Thread(target=run) for _ in range(32)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        remove_budget_threshold_callback(callback)
    answered = outcomes.count("answered")
    assert answered == ADMITTED and len(api.requests) == answered  # a refused call sent nothing
    assert outcomes.count("exceeded") == 32 * 6 - ADMITTED
    spans = cap.client_spans()
    spent = sum(Decimal(repr(s.attributes[names.GEN_AI_USAGE_COST])) for s in spans if s.attributes and
                names.GEN_AI_USAGE_COST in s.attributes)  # fmt: skip
    assert spent == ADMITTED * COST <= LIMIT
    assert crossings == [Decimal("0.8")]  # once, though many threads settled past 80%
    assert cap.total(names.METRIC_BUDGET_BLOCKED, llmcost__budget__name="shared") == 32 * 6 - ADMITTED
    (spend,) = cap.points(names.METRIC_BUDGET_SPEND)
    assert Decimal(repr(spend.value)) == ADMITTED * COST


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_four_processes_of_eight_threads_never_overshoot(kind: str, tmp_path: Path, redis_server: Any) -> None:
    url = store_url(kind, tmp_path, redis_server, "hammer")
    open_store(url, 5).close()  # the schema exists before four processes race to make it
    # One worker imports everything, then forks the four processes that hammer the store.
    worker = start_worker(mode="hammer", store=url, processes=4, threads=8, attempts=6, limit=str(LIMIT))
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    results = [json.loads(line) for line in out.strip().splitlines()]
    assert len({r["pid"] for r in results}) == 4
    answered = sum(r["answered"] for r in results)
    assert answered == ADMITTED
    assert sum(r["sent"] for r in results) == answered  # refused calls sent no HTTP request
    assert sum(r["exceeded"] for r in results) == 4 * 8 * 6 - ADMITTED
    assert sum(r["unavailable"] for r in results) == 0
    settled, held = _spend(url)
    assert settled == ADMITTED * COST <= LIMIT and held == 0
    # The 80% warning fired once in all four processes together (the mark lives in the store).
    assert sum(r["crossings"].count("0.8") for r in results) == 1
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:")) as db:
            rows = list(db.execute(f"SELECT cost_usd, error_type FROM {ledger.TABLE}"))
        costs = [Decimal(c) for c, error in rows if error is None]
        assert len(costs) == ADMITTED and sum(costs) == settled  # one ledger row per call, same money
        refused = [(c, error) for c, error in rows if error is not None]  # refused calls are rows too, at no cost
        assert refused == [(None, "BudgetExceededError")] * (4 * 8 * 6 - ADMITTED)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_killed_mid_call_keeps_settled_spend_and_releases_its_hold(
    kind: str, tmp_path: Path, redis_server: Any, instrument_with: Any
) -> None:
    url = store_url(kind, tmp_path, redis_server, "kill")
    open_store(url, 5).close()
    # Room for the 3 settled calls, the one killed mid-call, and one more only once the dead call's hold is gone.
    limit = 3 * COST + WORST + WORST / 2
    ttl = 600 if kind == "sqlite" else 1  # SQLite finds the dead process at once; Redis waits for the TTL
    worker = start_worker(mode="kill", store=url, settle=3, limit=str(limit), ttl=ttl)
    assert worker.stdout is not None
    lines = []
    try:
        while "in-flight" not in lines:
            line = worker.stdout.readline().strip()
            assert line, worker.stderr.read() if worker.stderr else "worker ended"
            lines.append(line)
    finally:
        worker.kill()
        worker.wait(timeout=10)
    assert lines == ["settled"] * 3 + ["in-flight"]
    settled, held = _spend(url)
    assert settled == 3 * COST  # nothing settled was lost
    if kind == "redis":
        assert held == WORST  # the dead call's hold, until its reservation expires
        deadline = time.monotonic() + 15
        while _spend(url)[1]:
            assert time.monotonic() < deadline, "the dead call's reservation never expired"
            time.sleep(0.05)
    cap = instrument_with(budgets=[Budget("shared", limit=limit, action="block")], budget_store=url)
    api = FakeOpenAI(tokens=TOKENS)
    api.client(max_retries=0).chat.completions.create(**REQUEST)  # fits only without the dead call's hold
    assert len(api.requests) == 1
    assert _spend(url) == (4 * COST, Decimal(0))
    assert cap.total(names.METRIC_BUDGET_BLOCKED) == 0


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_store_reserve_settle_from_threads(kind: str, tmp_path: Path, redis_server: Any) -> None:
    """Each store on its own, from 8 threads: settled plus held never passes the limit, and nothing stays held."""
    store: SpendStore = open_store(store_url(kind, tmp_path, redis_server, "direct"), 5)
    window = parse_period("month").window(time.time())
    limit = 1_000
    lines = [Line("direct", limit, window)]
    admitted: list[int] = []
    barrier = threading.Barrier(8)

    def run(worker: int) -> None:
        barrier.wait()
        for attempt in range(40):
            reservation = f"{os.getpid()}-{worker}-{attempt}"
            if store.reserve(reservation, lines, 30, time.time(), time.time() + 60) is None:
                admitted.append(1)
                store.settle(reservation, lines, 25, time.time(), None)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ((settled, held),) = store.spend(lines, time.time())
    finally:
        store.close()
    assert held == 0
    assert settled == 25 * len(admitted) <= limit
    assert len(admitted) == 39  # 39 x 25 = 975; a 40th needs 975 + 30 > 1000
