"""Expensive-request thresholds in the budget file (``expensive_request_usd: {default:, features:}``).

Real openai SDK calls over the fakes' MockTransport; each call of TOKENS costs the same, so which calls are told
shows which threshold applied. A bad section fails ``instrument()`` naming the file, the line and the fix.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openai_payloads import MESSAGES, FakeOpenAI, Tokens
from otel_llmcost import ConfigError, attributes, names, on_expensive_request, remove_expensive_request_callback
from otel_llmcost.budgets.loader import load_budget_file, load_budgets

TOKENS = Tokens(prompt=1_000, cached=0, completion=100)  # gpt-4o: $0.0025 + $0.001 = $0.0035 a call
COST = Decimal("0.0035")


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "budgets.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def _calls_by_feature(captured: Any, features: list[str | None]) -> list[Any]:
    """One call per feature (None: no feature); the ExpensiveRequest of each call that was told."""
    seen: list[Any] = []
    on_expensive_request(seen.append)
    try:
        client = FakeOpenAI(tokens=TOKENS).client()
        for feature in features:
            with attributes(feature=feature) if feature else attributes():
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        remove_expensive_request_callback(seen.append)
    return seen


def test_file_thresholds_default_and_per_feature(tmp_path: Path, instrument_with: Any) -> None:
    path = _file(tmp_path, """\
        budgets: []
        expensive_request_usd:
          default: 0.001
          features:
            summarize: 0.01     # above a call's cost: summarize calls are never told
            chat: 0.0035        # exactly a call's cost: not above it, not told
            triage: "0.003"
    """)
    captured = instrument_with(budget_file=path)
    told = _calls_by_feature(captured, ["summarize", "chat", "triage", None, "other"])
    assert [(r.feature, r.threshold) for r in told] == [
        ("triage", Decimal("0.003")), (None, Decimal("0.001")), ("other", Decimal("0.001"))]
    assert all(r.cost == COST for r in told)
    spans = captured.client_spans()
    assert [bool(s.events) for s in spans] == [False, False, True, True, True]
    (event,) = spans[2].events
    assert event.name == names.LLMCOST_EXPENSIVE_REQUEST_EVENT
    assert event.attributes[names.LLMCOST_EXPENSIVE_THRESHOLD_USD] == 0.003


def test_a_file_of_features_only_adds_to_the_settings_default(tmp_path: Path, instrument_with: Any) -> None:
    path = _file(tmp_path, "expensive_request_usd:\n  features: {summarize: 1}\n")  # no budgets: key needed
    assert load_budgets(path) == []
    captured = instrument_with(budget_file=path, expensive_request_usd="0.002")
    told = _calls_by_feature(captured, ["summarize", "chat"])
    assert [(r.feature, r.threshold) for r in told] == [("chat", Decimal("0.002"))]


def test_a_bare_amount_is_the_default_and_equal_amounts_in_both_places_agree(
    tmp_path: Path, instrument_with: Any
) -> None:
    path = _file(tmp_path, "budgets: []\nexpensive_request_usd: 0.002\n")
    found = load_budget_file(path)
    assert (found.expensive_default, found.expensive_by_feature) == (Decimal("0.002"), {})
    captured = instrument_with(budget_file=path, expensive_request_usd="0.0020",
                               expensive_request_usd_by_feature="summarize=1")
    told = _calls_by_feature(captured, ["summarize", None])
    assert [(r.feature, r.threshold) for r in told] == [(None, Decimal("0.002"))]


def test_without_the_section_nothing_is_told(tmp_path: Path, instrument_with: Any) -> None:
    path = _file(tmp_path, "budgets: [{name: daily, limit: 50}]\n")
    assert load_budget_file(path).expensive_default is None
    captured = instrument_with(budget_file=path)
    assert _calls_by_feature(captured, ["chat", None]) == []
    assert not any(s.events for s in captured.client_spans())


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("expensive_request_usd: lots\n", 1, "'lots' is not an amount in USD"),
        ("expensive_request_usd: -1\n", 1, "must be an amount in USD >= 0"),
        ("expensive_request_usd:\n", 1, "needs an amount in USD"),
        ("expensive_request_usd: [1, 2]\n", 1, "must be an amount in USD or a mapping"),
        ("expensive_request_usd: {}\n", 1, "sets no threshold"),
        ("budgets: []\nexpensive_request_usd:\n  defualt: 1\n", 3, "unknown expensive_request_usd key 'defualt'"),
        ("expensive_request_usd:\n  default: 1\n  features: [summarize]\n", 3, "must map features to USD"),
        ("expensive_request_usd:\n  features:\n    summarize: 1\n    chat: free\n", 4,
         "expensive_request_usd for feature 'chat' 'free' is not an amount"),
        ("expensive_request_usd:\n  features:\n    summarize: 1\n    summarize: 2\n", 4,
         "two expensive-request thresholds (first on line 3)"),
        ("expensive_request_usd:\n  features: {'*': 1}\n", 2, "'*' is not a feature name"),
        ("expensive_request_usd:\n  features: {true: 1}\n", 2, "True is not a feature name"),
        ("expensive_usd: 1\n", 1, "unknown key 'expensive_usd'; the top-level keys are budgets, expensive"),
        ("budgets: []\nexpensive_request_usd:\n  default: {usd: 1}\n", 3, "must be a single value, not a mapping"),
    ],
)
def test_a_bad_section_names_file_line_and_reason(
    tmp_path: Path, instrument_with: Any, text: str, line: int, reason: str
) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        instrument_with(budget_file=path)
    message = str(raised.value)
    assert message.startswith(f"budget file {path}:{line}: "), message
    assert reason in message, message


@pytest.mark.parametrize(
    ("text", "options", "line", "reason"),
    [
        ("expensive_request_usd: {default: 0.5}\n", {"expensive_request_usd": "0.25"}, 1,
         "default 0.5 differs from OTEL_LLMCOST_EXPENSIVE_REQUEST_USD (expensive_request_usd=) 0.25"),
        ("budgets: []\nexpensive_request_usd:\n  features:\n    summarize: 2\n",
         {"expensive_request_usd_by_feature": "summarize=1"}, 4,
         "feature 'summarize' 2 differs from OTEL_LLMCOST_EXPENSIVE_REQUEST_USD_BY_FEATURE"),
    ],
)
def test_one_threshold_set_twice_differently_is_an_error(
    tmp_path: Path, instrument_with: Any, text: str, options: dict[str, str], line: int, reason: str
) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        instrument_with(budget_file=path, **options)
    message = str(raised.value)
    assert message.startswith(f"budget file {path}:{line}: ") and reason in message, message
    assert "Fix: set" in message
