"""Block budgets under load: concurrent calls never overshoot, in one process (memory) or many (SQLite, Redis),
and a process killed mid-call loses no settled spend and has its hold charged (never released): spend never
passes the limit."""

from __future__ import annotations

import json
import os
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from budget_support import COST, REQUEST, TOKENS, WORST, Clock, start_worker, store_url
from conftest import Captured
from openai_payloads import FakeOpenAI
from otel_llmcost import Budget, BudgetExceededError, ledger, names
from otel_llmcost.budgets import on_budget_threshold, remove_budget_threshold_callback
from otel_llmcost.budgets.periods import parse_period
from otel_llmcost.budgets.store import Line, SpendStore, to_pico, to_usd
from otel_llmcost.budgets.stores import open_store

LIMIT = Decimal(1)
# Every call reserves WORST: 49 of them fit in $1 (49 x 0.02026 = 0.99274), a 50th never does.
ADMITTED = int(LIMIT // WORST)


def _spend(url: str, budget: str = "shared", now: float | None = None, period: str = "day") -> tuple[Decimal, Decimal]:
    """(settled, held) of a budget's current period at ``now``, read from the store itself."""
    when = time.time() if now is None else now
    store = open_store(url, 5)
    try:
        line = Line(budget, to_pico(LIMIT), parse_period(period).window(when))
        ((settled, pending),) = store.spend([line], when)
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
def test_one_of_four_processes_killed_mid_call_never_lets_spend_pass_the_limit(
    kind: str, tmp_path: Path, redis_server: Any
) -> None:
    """4 processes x 8 threads; the first is SIGKILLed once 3 of its requests reached the provider (billed, never
    settled, perhaps more calls of its threads in flight); then the others spend. What the provider billed
    stays within the limit: the dead calls' reservations are charged, not handed to the survivors."""
    url = store_url(kind, tmp_path, redis_server, "killed-hammer")
    open_store(url, 5).close()
    billing = tmp_path / "billing.txt"
    billing.touch()
    # TTL: 1 s of the workers' real clock for Redis (which cannot see dead processes), so the survivors meet
    # the dead process's reservations held, then charged; SQLite charges them as soon as a reserve looks.
    ttl = 1 if kind == "redis" else 600
    worker = start_worker(
        mode="hammer", store=url, processes=4, threads=8, attempts=8, limit=str(LIMIT), billing=str(billing),
        die_after=3, ttl=ttl, period="24h",
    )  # fmt: skip
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    results = [json.loads(line) for line in out.strip().splitlines()]
    assert len(results) == 3  # the killed process printed nothing
    billed = len(billing.read_text().splitlines())
    survivors = sum(r["sent"] for r in results)
    assert survivors and billed >= survivors + 3  # the dead process's 3 requests were billed (maybe more)
    assert billed * COST <= LIMIT  # what the provider billed never passed the limit
    now = time.time() + ttl + 1  # every reservation of the dead process has expired by now
    settled, held = _spend(url, now=now, period="24h")
    assert held == 0
    assert billed * COST <= settled <= LIMIT  # the dead calls are counted at their worst case, not released


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_killed_mid_call_is_charged_its_worst_case(
    kind: str, tmp_path: Path, redis_server: Any, instrument_with: Any
) -> None:
    """The killed call may have been answered and billed: its hold becomes spend, never room for others."""
    url = store_url(kind, tmp_path, redis_server, "kill")
    open_store(url, 5).close()
    # Room for the 3 settled calls, the one killed mid-call, and half a call more: the dead call's worst case
    # must stay counted, so no further call fits. A rolling day: no midnight between the worker and the test.
    limit = 3 * COST + WORST + WORST / 2
    worker = start_worker(mode="kill", store=url, settle=3, limit=str(limit), ttl=60, period="24h")
    assert worker.stdout is not None
    lines = []
    try:
        while "in-flight" not in lines:  # the worker says when its 4th call is being sent: no sleeps
            line = worker.stdout.readline().strip()
            assert line, worker.stderr.read() if worker.stderr else "worker ended"
            lines.append(line)
    finally:
        worker.kill()  # SIGKILL: no settlement, no cleanup
        worker.wait(timeout=10)
    assert lines == ["settled"] * 3 + ["in-flight"]
    now = time.time()
    if kind == "sqlite":  # the reservation's process is gone (same host): charged at once
        assert _spend(url, now=now, period="24h") == (3 * COST + WORST, Decimal(0))
    else:  # Redis cannot see processes: the reservation is held until its TTL (60 s), then charged
        assert _spend(url, now=now, period="24h") == (3 * COST, WORST)
        now += 61
        assert _spend(url, now=now, period="24h") == (3 * COST + WORST, Decimal(0))
    clock = Clock(now)
    cap = instrument_with(
        budgets=[Budget("shared", limit=limit, period="24h", action="block")], budget_store=url, budget_clock=clock
    )
    api = FakeOpenAI(tokens=TOKENS)
    with pytest.raises(BudgetExceededError) as raised:
        api.client(max_retries=0).chat.completions.create(**REQUEST)  # fitted before: the dead call was released
    assert not api.requests
    assert (raised.value.spend, raised.value.reserved) == (3 * COST + WORST, 0)
    assert cap.total(names.METRIC_BUDGET_BLOCKED) == 1
    assert _spend(url, now=now, period="24h") == (3 * COST + WORST, Decimal(0))  # charged once, not again


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_reservation_past_its_ttl_is_charged_then_replaced_by_a_late_settlement(
    kind: str, tmp_path: Path, redis_server: Any, instrument_with: Any
) -> None:
    """A call that outlives its reservation (live process): charged its worst case at the TTL, so the money
    it may spend is never handed out twice; when it does settle, its real cost replaces the charge."""
    clock = Clock(1_750_000_000.0)
    url = store_url(kind, tmp_path, redis_server, "late")
    limit = 2 * WORST + WORST / 2  # two calls in flight fit, a third never does
    cap = instrument_with(
        budgets=[Budget("late", limit=limit, action="block")],
        budget_store=url,
        budget_clock=clock,
        budget_reservation_ttl=60,
    )
    enforcer = cap.instrumentor.runtime.budgets
    in_flight, finish = threading.Event(), threading.Event()

    def on_request(request: Any) -> None:
        if len(api.requests) == 1:
            in_flight.set()
            assert finish.wait(timeout=30)  # a bound against a hung test, not synchronization

    api = FakeOpenAI(tokens=TOKENS, on_request=on_request)
    client = api.client(max_retries=0)
    slow = threading.Thread(target=lambda: client.chat.completions.create(**REQUEST))
    slow.start()
    try:
        assert in_flight.wait(timeout=30)
        assert enforcer.store.spend([_line(enforcer, clock.now)], clock.now) == [(0, to_pico(WORST))]
        clock.now += 61  # past the reservation's TTL, the call still in flight
        assert enforcer.state() == [("late", WORST, limit)]  # charged at its worst case
        client.chat.completions.create(**REQUEST)  # fits: WORST charged + WORST held <= limit
        with pytest.raises(BudgetExceededError) as raised:
            client.chat.completions.create(**REQUEST)
        assert raised.value.spend == WORST + COST
    finally:
        finish.set()
        slow.join()
    assert len(api.requests) == 2
    # The slow call settled: its real cost replaced its charge.
    assert enforcer.state() == [("late", 2 * COST, limit)]
    assert enforcer.store.spend([_line(enforcer, clock.now)], clock.now) == [(to_pico(2 * COST), 0)]


def _line(enforcer: Any, now: float) -> Line:
    (budget,) = enforcer.budgets
    return Line(budget.name, to_pico(budget.limit), budget.period.window(now))


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_expired_reservation_is_charged_to_the_bucket_it_was_made_in(
    kind: str, tmp_path: Path, redis_server: Any
) -> None:
    """In a rolling window the charge leaves the window with the bucket of the reservation, not later."""
    store: SpendStore = open_store(store_url(kind, tmp_path, redis_server, "bucket"), 5)
    period = parse_period("2h")
    step = 2 * 3600 // 60
    t0 = 1_750_000_000.0
    try:
        assert store.reserve("r", [Line("b", 10**9, period.window(t0))], 300, t0, t0 + 60) is None
        later = t0 + 3600  # expired long ago: charged to the bucket of t0
        assert store.spend([Line("b", 10**9, period.window(later))], later) == [(300, 0)]
        assert store.reserve("s", [Line("b", 10**9, period.window(later))], 200, later, later + 60) is None
        store.settle("s", [Line("b", 10**9, period.window(later))], 100, later, None)
        gone = t0 + 2 * 3600 + 2 * step  # the bucket of t0 has left the window, the one of `later` has not
        assert store.spend([Line("b", 10**9, period.window(gone))], gone) == [(100, 0)]
        # A settlement of a reservation that was neither held nor charged changes nothing but its own cost.
        store.settle("never-held", [Line("b", 10**9, period.window(gone))], 5, gone, None)
        assert store.spend([Line("b", 10**9, period.window(gone))], gone) == [(105, 0)]
    finally:
        store.close()


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
