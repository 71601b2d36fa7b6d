"""Per-member budgets: a wildcard scope (``user: "*"``) gives every user (team, feature, model) its own limit, with
overrides; on every store, with the no-overshoot guarantee of any block budget, thresholds once per member,
refusals that name the member, bounded state, and gauges with one series per budget (never per member)."""

from __future__ import annotations

import json
import pickle
import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from budget_support import COST, REQUEST, TOKENS, WORST, Clock, start_worker, store_url
from openai_payloads import FakeOpenAI
from otel_llmcost import Budget, BudgetExceededError, attributes, names
from otel_llmcost.budgets import ThresholdCrossing, on_budget_threshold, remove_budget_threshold_callback
from otel_llmcost.budgets.loader import load_budgets
from otel_llmcost.budgets.memory_store import MemoryStore
from otel_llmcost.budgets.periods import parse_period
from otel_llmcost.budgets.store import Line, member_key, to_pico
from otel_llmcost.budgets.stores import open_store
from otel_llmcost.errors import ConfigError

TWO = 2 * WORST + WORST / 2  # two calls fit (their worst case), a third never does
FOUR = 4 * WORST + WORST / 2
NOW = 1_750_000_000.0


# --- the budget and its file ------------------------------------------------------------------------------
def test_wildcard_budget_with_overrides() -> None:
    budget = Budget("per-user", limit=5, user="*", overrides={"alice": 20, "bob": "2.5"}, action="block")
    assert budget.per_member and budget.scope == "user.id=*"
    assert budget.limit_for("alice") == 20 and budget.limit_for("bob") == Decimal("2.5")
    assert budget.limit_for("carol") == 5
    assert budget.matches(None, {names.USER_ID: "carol"})
    assert not budget.matches(None, {})  # a call for no user counts against no member
    assert not budget.matches(None, {names.USER_ID: ""})
    assert Budget("per-model", limit=1, model="*").matches("gpt-4o", {})
    assert "overrides={'alice': '20', 'bob': '2.5'}" in repr(budget)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overrides": {"alice": 20}}, "overrides {'alice': 20} need a wildcard scope"),
        ({"team": "search", "overrides": {"alice": 20}}, "Fix: scope: {user: '*'}"),
        ({"user": "*", "overrides": {"alice": 0}}, "override 'alice' limit 0 must be more than $0"),
        ({"user": "*", "overrides": {"alice": "lots"}}, "override 'alice' 'lots' is not an amount in USD"),
        ({"user": "*", "overrides": {"*": 3}}, "override key '*' is not a user.id value"),
        ({"user": "*", "overrides": ["alice"]}, "must map member values to limits"),
    ],
)
def test_bad_overrides_in_code(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Budget("b", limit=5, **kwargs)
    assert message in str(raised.value)


def test_budget_file_with_wildcards_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "budgets:\n"
        "  - name: per-user\n"
        "    limit: 5\n"
        '    scope: {user: "*"}\n'
        "    overrides: {alice: 20, 42: 7.5}\n"
        "    action: block\n"
        "  - name: per-team\n"
        "    limit: 100\n"
        "    scope:\n"
        "      team: '*'\n"
        "  - name: per-feature\n"
        "    limit: 1\n"
        '    scope: {feature: "*"}\n'
    )
    per_user, per_team, per_feature = load_budgets(path)
    assert per_user.overrides == {"alice": Decimal(20), "42": Decimal("7.5")} and per_user.blocks
    assert per_team.per_member and per_team.scope_key == names.LLMCOST_TEAM and not per_team.overrides
    assert per_feature.scope == "llmcost.feature=*"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("scope: {user: *}\n", 4, 'quote the wildcard (YAML reads a bare * as an alias): scope: {user: "*"}'),
        ("scope: all\n    overrides: {alice: 20}\n", 5, "overrides need a wildcard scope"),
        ('scope: {user: "*"}\n    overrides: {alice: -1}\n', 5, "override 'alice': limit -1 must be more than $0"),
        ('scope: {user: "*"}\n    overrides:\n      alice: 2\n      bob: ten\n', 7, "'ten' is not an amount in USD"),
        ('scope: {user: "*"}\n    overrides: [alice]\n', 5, "overrides must map members to limits"),
        ('scope: {user: "*"}\n    overrides: {alice: 1, alice: 2}\n', 5, "override member 'alice' is given twice"),
    ],
)
def test_bad_budget_file_names_line_and_fix(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(f"budgets:\n  - name: per-user\n    limit: 5\n    {text}")
    with pytest.raises(ConfigError) as raised:
        load_budgets(path)
    assert f"budget file {path}:{line}: " in str(raised.value)
    assert message in str(raised.value)


def test_member_keys_are_short_distinct_and_safe() -> None:
    keys = {member_key("b", m) for m in ("alice", "a|b", "a:b", "a%7Cb", "x" * 500, "x" * 501, "é")}
    assert len(keys) == 7
    for key in keys:
        assert key.startswith("b#") and "|" not in key and ":" not in key.removeprefix("b#sha256:")
        assert len(key) < 120
    assert member_key("b", "alice@example.com") == "b#alice@example.com"


# --- enforcement, on every store --------------------------------------------------------------------------
def _call(client: Any, user: str | None) -> str:
    try:
        if user is None:
            client.chat.completions.create(**REQUEST)
        else:
            with attributes(user_id=user):
                client.chat.completions.create(**REQUEST)
    except BudgetExceededError as error:
        return f"refused: {error}"
    return "answered"


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_each_member_has_its_own_limit_and_overrides(
    kind: str, tmp_path: Path, redis_server: Any, instrument_with: Any
) -> None:
    clock = Clock(NOW)
    clock.at("2026-12-05T10:00:00")
    cap = instrument_with(
        budgets=[
            Budget("per-user", limit=TWO, user="*", overrides={"alice": FOUR}, action="block", thresholds=["50%"])
        ],
        budget_store=store_url(kind, tmp_path, redis_server, "members"),
        budget_clock=clock,
    )
    crossings: list[ThresholdCrossing] = []
    callback = on_budget_threshold(crossings.append)
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    try:
        bob = [_call(client, "bob") for _ in range(3)]
        alice = [_call(client, "alice") for _ in range(5)]
        carol = [_call(client, "carol") for _ in range(2)]
        nobody = [_call(client, None) for _ in range(3)]  # no user: no member, not counted, never refused
    finally:
        remove_budget_threshold_callback(callback)
    assert bob[:2] == ["answered"] * 2 and bob[2].startswith("refused: budget 'per-user' for user.id='bob' has spent")
    assert alice[:4] == ["answered"] * 4 and "for user.id='alice'" in alice[4]
    assert f"of its ${FOUR} limit" in alice[4]  # alice's own limit, not the budget's
    assert carol == ["answered"] * 2
    assert nobody == ["answered"] * 3
    assert len(api.requests) == 2 + 4 + 2 + 3  # a refused call sent nothing
    with pytest.raises(BudgetExceededError) as raised, attributes(user_id="bob"):
        client.chat.completions.create(**REQUEST)
    error = raised.value
    assert error.member == (names.USER_ID, "bob") and error.spend == 2 * COST and error.limit == TWO
    copy = pickle.loads(pickle.dumps(error))  # crosses process pools (multiprocessing, Celery) intact
    assert copy.member == error.member and str(copy) == str(error)
    # Thresholds: once per member per period, of each one's own limit (2 calls are 79.96% of TWO, 4 are 88.8% of
    # FOUR: past 50%, not 100%).
    seen = sorted((c.member or "", str(c.threshold), c.limit) for c in crossings)
    assert seen == [("alice", "0.5", FOUR), ("bob", "0.5", TWO), ("carol", "0.5", TWO)]
    assert all(c.scope == f"user.id={c.member}" for c in crossings)
    # Gauges: one series for the budget (the members' total), no limit or remaining, no series per member.
    (spend,) = cap.points(names.METRIC_BUDGET_SPEND)
    assert Decimal(repr(spend.value)) == 8 * COST and dict(spend.attributes) == {names.LLMCOST_BUDGET_NAME: "per-user"}
    assert cap.points(names.METRIC_BUDGET_LIMIT) == [] and cap.points(names.METRIC_BUDGET_REMAINING) == []
    (over,) = cap.points(names.METRIC_BUDGET_MEMBERS_OVER_THRESHOLD)
    assert over.value == 3 and dict(over.attributes) == {names.LLMCOST_BUDGET_NAME: "per-user"}
    assert cap.total(names.METRIC_BUDGET_BLOCKED, llmcost__budget__name="per-user") == 3
    assert {tuple(p.attributes.items()) for p in cap.points(names.METRIC_BUDGET_THRESHOLD_CROSSINGS)} == {
        ((names.LLMCOST_BUDGET_NAME, "per-user"), (names.LLMCOST_BUDGET_THRESHOLD, 0.5))
    }
    # The next day every member starts again from $0; the gauge counts this day's members only.
    clock.at("2026-12-06T10:00:00")
    assert _call(client, "bob") == "answered"
    (over,) = cap.points(names.METRIC_BUDGET_MEMBERS_OVER_THRESHOLD)
    assert over.value == 0


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_shared_store_keeps_one_row_or_key_per_member_and_period(
    kind: str, tmp_path: Path, redis_server: Any, instrument_with: Any
) -> None:
    clock = Clock(NOW)
    clock.at("2026-12-05T10:00:00")
    url = store_url(kind, tmp_path, redis_server, "rows")
    instrument_with(
        budgets=[Budget("per-team", limit=1, team="*", action="block")], budget_store=url, budget_clock=clock
    )
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    for team in ("a", "b", "c", "a", "b", "a"):
        with attributes(team=team):
            client.chat.completions.create(**REQUEST)
    if kind == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:")) as db:
            rows = sorted(db.execute("SELECT budget, spend FROM budget_spend"))
            held = list(db.execute("SELECT * FROM budget_reservations"))
        assert rows == [
            ("per-team", to_pico(6 * COST)),  # the members' total
            ("per-team#a", to_pico(3 * COST)),
            ("per-team#b", to_pico(2 * COST)),
            ("per-team#c", to_pico(COST)),
        ]
        assert held == []
    else:
        import redis

        prefix = url.rpartition("prefix=")[2]
        server = redis.Redis(port=redis_server.port, decode_responses=True)
        keys = sorted(k for k in server.keys(f"{{{prefix}}}:*"))
        day = int(parse_period("day").window(clock.now).bucket)
        assert keys == sorted(f"{{{prefix}}}:spend:{b}:{day}" for b in ("per-team", *(f"per-team#{t}" for t in "abc")))
        assert all(0 < server.ttl(k) <= 2 * 86_400 + 1 for k in keys)  # expire a day after the period ends
        server.close()


def test_memory_store_forgets_the_least_recently_used_member_past_its_cap(instrument_with: Any) -> None:
    cap = instrument_with(budgets=[Budget("per-user", limit=TWO, user="*", action="block")])
    enforcer = cap.instrumentor.runtime.budgets
    store = enforcer.store
    assert isinstance(store, MemoryStore)
    store.members_cap = 3
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    for user in ("u1", "u1", "u2", "u3"):
        assert _call(client, user) == "answered"
    assert _call(client, "u1").startswith("refused")  # u1 is now the most recently used
    assert _call(client, "u4") == "answered"  # a 4th member: u2, least recently used, is forgotten
    assert store.evicted == 1 and cap.total(names.METRIC_BUDGET_MEMBERS_EVICTED, llmcost__budget__name="per-user") == 1
    assert _call(client, "u1").startswith("refused")  # u1 was kept, with its spend
    assert len(store._members) == 3  # bounded: the LRU never holds more than its cap
    (spend,) = cap.points(names.METRIC_BUDGET_SPEND)
    assert Decimal(repr(spend.value)) == 5 * COST  # the total is the budget's own line: no member forgets it


def test_memory_store_keeps_a_member_with_a_call_in_flight() -> None:
    store = MemoryStore(members_cap=1)
    window = parse_period("day").window(NOW)
    first = Line(member_key("b", "one"), 10, window, "b")
    second = Line(member_key("b", "two"), 10, window, "b")
    assert store.reserve("r1", [first], 4, NOW, NOW + 60) is None
    assert store.reserve("r2", [second], 4, NOW, NOW + 60) is None
    assert store.evicted == 0  # both hold money: neither may be forgotten
    assert store.settle("r1", [first], 3, NOW, None) == [3]
    assert store.settle("r2", [second], 3, NOW, None) == [3]  # "one" is idle now: forgotten
    assert store.evicted == 1 and store.spend([first, second], NOW) == [(0, 0), (3, 0)]
    assert store._pending == {}  # no entry left for members with nothing in flight


# --- concurrency: 4 processes x 8 threads, two members ------------------------------------------------------
def test_memory_threads_never_overshoot_any_member(instrument_with: Any) -> None:
    limit = Decimal("0.5")
    admitted = int(limit // WORST)
    instrument_with(budgets=[Budget("per-team", limit=limit, team="*", overrides={"t2": 1}, action="block")])
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    answered: dict[str, int] = {"t0": 0, "t1": 0, "t2": 0}
    lock = threading.Lock()
    start = threading.Barrier(24)

    def run(team: str) -> None:
        start.wait()
        for _ in range(8):
            with attributes(team=team):
                try:
                    client.chat.completions.create(**REQUEST)
                except BudgetExceededError as error:
                    assert error.member == (names.LLMCOST_TEAM, team)
                    continue
            with lock:
                answered[team] += 1

    threads = [threading.Thread(target=run, args=(f"t{i % 3}",)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answered == {"t0": admitted, "t1": admitted, "t2": int(1 // WORST)}  # 64 attempts each, never more


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_members_never_overshoot_across_processes(kind: str, tmp_path: Path, redis_server: Any) -> None:
    limit = Decimal(1)
    admitted = int(limit // WORST)
    url = store_url(kind, tmp_path, redis_server, "member-hammer")
    open_store(url, 5).close()
    worker = start_worker(
        mode="hammer", store=url, processes=4, threads=8, attempts=6, limit=str(limit), members=2
    )  # fmt: skip
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    results = [json.loads(line) for line in out.strip().splitlines()]
    assert len(results) == 4
    for member in ("u0", "u1"):  # each member: exactly as many calls as its own limit holds, never one more
        assert sum(r["members"].get(member, 0) for r in results) == admitted
        crossings = [c for r in results for c in r["crossings"] if c.startswith(f"{member}:")]
        assert crossings == [f"{member}:0.8"]  # once per member across the four processes
    assert sum(r["answered"] for r in results) == sum(r["sent"] for r in results) == 2 * admitted
    assert sum(r["unavailable"] for r in results) == 0
    store = open_store(url, 5)
    try:
        window = parse_period("day").window(_now())
        lines = [Line(member_key("shared", m), to_pico(limit), window, "shared") for m in ("u0", "u1")]
        lines.append(Line("shared", to_pico(limit), window))
        spent = store.spend(lines, _now())
        assert spent == [(to_pico(admitted * COST), 0)] * 2 + [(to_pico(2 * admitted * COST), 0)]
        assert store.count_marks([f"shared:{window.mark}"], _now()) == [2]  # the gauge: 2 members past 80%
    finally:
        store.close()
    if kind == "redis":
        import redis

        server = redis.Redis(port=redis_server.port, decode_responses=True)
        assert not server.keys("{member-hammer*}:pending:*")  # nothing in flight: no pending key left behind
        server.close()


def _now() -> float:
    return time.time()
