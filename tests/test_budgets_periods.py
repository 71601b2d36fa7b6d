"""Budget periods: calendar days and months roll over at the configured time zone's midnight (DST included),
rolling windows forget spend after N hours, and each warning fires once per period, in every store."""

from __future__ import annotations

import logging
import pickle
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from budget_support import COST, REQUEST, TOKENS, Clock, store_url
from openai_payloads import FakeOpenAI
from otel_llmcost import Budget, BudgetExceededError, ThresholdCrossing, on_budget_threshold
from otel_llmcost.budgets import remove_budget_threshold_callback
from otel_llmcost.budgets.periods import ROLLING_STEPS, parse_period

NEW_YORK = ZoneInfo("America/New_York")


def _ts(text: str, zone: ZoneInfo = NEW_YORK) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def _local(ts: float, zone: ZoneInfo = NEW_YORK) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat()


@pytest.mark.parametrize(
    ("now", "start", "reset"),
    [
        ("2025-03-08T23:59:59", "2025-03-08T00:00:00-05:00", "2025-03-09T00:00:00-05:00"),
        # 9 March 2025: clocks jump from 2:00 to 3:00, a day of 23 hours, still midnight to midnight.
        ("2025-03-09T12:00:00", "2025-03-09T00:00:00-05:00", "2025-03-10T00:00:00-04:00"),
        ("2025-11-02T01:30:00", "2025-11-02T00:00:00-04:00", "2025-11-03T00:00:00-05:00"),  # 25 hours
    ],
)
def test_calendar_day_in_a_time_zone(now: str, start: str, reset: str) -> None:
    window = parse_period("day", "America/New_York").window(_ts(now))
    assert (_local(window.bucket), _local(window.resets)) == (start, reset)
    assert window.starts == (window.bucket,) and window.mark == str(window.bucket)


def test_calendar_month_in_a_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    window = parse_period("month", "Europe/Paris").window(_ts("2024-02-29T23:30:00", paris))
    assert _local(window.bucket, paris) == "2024-02-01T00:00:00+01:00"
    assert _local(window.resets, paris) == "2024-03-01T00:00:00+01:00"
    december = parse_period("month").window(_ts("2025-12-31T23:59:59", ZoneInfo("UTC")))
    assert _local(december.resets, ZoneInfo("UTC")) == "2026-01-01T00:00:00+00:00"


def test_rolling_window_counts_the_last_n_hours_in_steps() -> None:
    period = parse_period("6h")
    now = 1_750_000_000.0
    window = period.window(now)
    step = 6 * 3600 // ROLLING_STEPS
    assert window.bucket <= now < window.bucket + step == window.resets
    assert len(window.starts) == ROLLING_STEPS + 1 and window.first == window.bucket - ROLLING_STEPS * step
    # Spend made now stops counting between 6 h and 6 h + one step from now.
    assert window.bucket not in period.window(now + 6 * 3600 + step).starts
    assert window.bucket in period.window(now + 6 * 3600 - 1).starts
    assert window.mark_expires == now + 6 * 3600


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_warning_fires_once_per_period_and_rolls_over_at_local_midnight(
    kind: str, instrument_with: Any, tmp_path: Path, redis_server: Any
) -> None:
    clock = Clock(_ts("2025-03-08T18:00:00"))  # 23:00 UTC
    budget = Budget("ny-daily", limit="0.1", period="day", timezone="America/New_York", action="block")
    cap = instrument_with(
        budgets=[budget], budget_store=store_url(kind, tmp_path, redis_server, "rollover"), budget_clock=clock
    )
    seen: list[ThresholdCrossing] = []
    callback = on_budget_threshold(seen.append)
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)

    def spend(calls: int) -> list[str]:
        """Make calls; the outcome of each: answered, or refused by the budget."""
        outcomes = []
        for _ in range(calls):
            try:
                client.chat.completions.create(**REQUEST)
                outcomes.append("answered")
            except BudgetExceededError:
                outcomes.append("refused")
        return outcomes

    try:
        assert spend(4) == ["answered"] * 4  # 0.081 settled: 80% crossed on the 4th call
        assert [(c.threshold, c.spend) for c in seen] == [(Decimal("0.8"), 4 * COST)]
        clock.at("2025-03-08T20:30:00", "America/New_York")  # 01:30 UTC: a new UTC day, the same New York day
        assert spend(2) == ["refused"] * 2  # 0.081 + 0.02026 > 0.1: still the same period
        assert len(seen) == 1  # and no second warning
        clock.at("2025-03-08T23:59:59", "America/New_York")
        assert spend(1) == ["refused"]
        clock.at("2025-03-09T00:00:00", "America/New_York")  # local midnight: a new period
        assert spend(5) == ["answered"] * 4 + ["refused"]
        assert [(c.threshold, c.resets_at.isoformat()) for c in seen] == [
            (Decimal("0.8"), "2025-03-09T00:00:00-05:00"),
            (Decimal("0.8"), "2025-03-10T00:00:00-04:00"),  # once in the new period too
        ]
    finally:
        remove_budget_threshold_callback(callback)
    assert cap.total("llmcost.budget.threshold_crossings") == 2


def test_rolling_budget_frees_spend_after_its_window(instrument_with: Any) -> None:
    clock = Clock(1_750_000_000.0)
    instrument_with(budgets=[Budget("2h", limit="0.05", period="2h", action="block")], budget_clock=clock)
    api = FakeOpenAI(tokens=TOKENS)
    client = api.client(max_retries=0)
    client.chat.completions.create(**REQUEST)
    clock.now += 3600
    client.chat.completions.create(**REQUEST)
    with pytest.raises(BudgetExceededError) as raised:
        client.chat.completions.create(**REQUEST)
    step = 2 * 3600 // ROLLING_STEPS
    assert raised.value.resets_at.timestamp() == (clock.now // step + 1) * step  # the window's next step
    assert raised.value.rolling_hours == 2
    assert str(raised.value) == (  # no reset time: a rolling window never resets, its spend ages out
        "budget '2h' has spent $0.0405 of its $0.05 limit; this call could cost up to $0.02026; "
        "spend over the last 2 h is counted; room frees up as older calls leave the window"
    )
    again = pickle.loads(pickle.dumps(raised.value))
    assert (str(again), again.rolling_hours) == (str(raised.value), 2)
    clock.now += 3600 + 2 * step  # the first call has left the window, the second has not
    client.chat.completions.create(**REQUEST)
    with pytest.raises(BudgetExceededError):
        client.chat.completions.create(**REQUEST)
    assert len(api.requests) == 3


def test_rolling_warning_fires_again_once_the_window_has_passed(
    instrument_with: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_llmcost.budgets")
    clock = Clock(1_750_000_000.0)
    instrument_with(budgets=[Budget("1h", limit="0.05", period="1h", thresholds=[])], budget_clock=clock)
    seen: list[ThresholdCrossing] = []
    callback = on_budget_threshold(seen.append)
    client = FakeOpenAI(tokens=TOKENS).client(max_retries=0)
    try:
        for _ in range(3):  # 0.06075 of 0.05: the limit is reached on the 3rd call
            client.chat.completions.create(**REQUEST)
        clock.now += 1800
        client.chat.completions.create(**REQUEST)  # still above the limit, within the hour: no new warning
        assert len(seen) == 1
        clock.now += 1800 + 120  # the first three calls and the mark are an hour old, the 4th half as old
        for _ in range(2):
            client.chat.completions.create(**REQUEST)  # 0.02025 (the 4th call) + 2 x 0.02025 >= 0.05
        assert [c.spend for c in seen] == [3 * COST, 3 * COST]
    finally:
        remove_budget_threshold_callback(callback)
    logged = [r.getMessage() for r in caplog.records if r.name == "otel_llmcost.budgets"]
    assert logged == [
        "otel-llmcost: budget '1h' (warn, scope all) reached 100% of its $0.05 limit: $0.06075 spent; "
        "spend over the last 1 h is counted; room frees up as older calls leave the window"
    ] * 2
