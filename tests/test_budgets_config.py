"""Budgets as declared: in code and in the YAML file; a bad one fails at start-up with the file, line and reason,
and nothing of it is applied."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai.resources.chat.completions as chat_module
import pytest
import wrapt

from otel_llmcost import Budget, ConfigError, LLMCostInstrumentor, names
from otel_llmcost.budgets.loader import load_budgets
from otel_llmcost.budgets.periods import CalendarPeriod, RollingPeriod
from otel_llmcost.config import Settings

GOOD = """\
budgets:
  - name: daily-total
    limit: 50
    period: day
    timezone: Europe/Paris
    action: block
  - name: search-team
    limit: 12.5
    period: month
    scope: {team: search}
    thresholds: [0.5, 90%]
  - name: mini-6h
    limit: "0.75"
    period: 6h
    scope: {model: gpt-4o-mini}
    thresholds: []
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_file_declares_budgets(tmp_path: Path) -> None:
    daily, team, mini = load_budgets(_write(tmp_path, GOOD))
    assert (daily.name, daily.limit, daily.action, daily.scope) == ("daily-total", Decimal(50), "block", "all")
    assert isinstance(daily.period, CalendarPeriod) and daily.period.timezone == "Europe/Paris"
    assert daily.thresholds == (Decimal("0.8"), Decimal(1))  # the default warning, and the limit itself
    assert (team.limit, team.scope, team.action) == (Decimal("12.5"), "llmcost.team=search", "warn")
    assert team.thresholds == (Decimal("0.5"), Decimal("0.9"), Decimal(1))
    assert isinstance(mini.period, RollingPeriod) and mini.period.hours == 6
    assert (mini.limit, mini.scope, mini.thresholds) == (Decimal("0.75"), "gen_ai.request.model=gpt-4o-mini", (1,))


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("budgets:\n  - name: a\n    limit: [1\n", 4, "not valid YAML"),
        ("budget:\n  - name: a\n", 1, "unknown key 'budget'"),
        ("budgets: {name: a}\n", 1, "must be a list"),
        ("budgets:\n  - name: a\n    limit: 5\n    perod: day\n", 4, "unknown budget field 'perod'"),
        ("budgets:\n  - name: a\n    period: day\n", 2, "needs 'limit:'"),
        ("budgets:\n  - name: a\n    limit: five\n", 3, "'five' is not an amount in USD"),
        ("budgets:\n  - name: a\n    limit: -3\n", 2, "must be more than $0"),
        ("budgets:\n  - name: a\n    limit: 5\n    period: weekly\n", 4, "'weekly' is not day, month or <N>h"),
        ("budgets:\n  - name: a\n    limit: 5\n    period: 24\n", 4, "needs a unit"),
        ("budgets:\n  - name: a\n    limit: 5\n    timezone: Mars/Olympus\n", 4, "time zone 'Mars/Olympus' is unknown"),
        ("budgets:\n  - name: a\n    limit: 5\n    period: 6h\n    timezone: Europe/Paris\n", 4, "has no time zone"),
        ("budgets:\n  - name: a\n    limit: 5\n    thresholds: [0.5, 1.5]\n", 4, "threshold 1.5 must be between 0"),
        ("budgets:\n  - name: a\n    limit: 5\n    action: stop\n", 4, "action 'stop' is not warn or block"),
        ("budgets:\n  - name: a\n    limit: 5\n    scope: {team: x, user: y}\n", 4, "exactly one of"),
        ("budgets:\n  - name: a\n    limit: 5\n    scope: {tenant: x}\n", 4, "scope key 'tenant'"),
        ("budgets:\n  - name: a\n    limit: 5\n    scope: everything\n", 4, "must be 'all'"),
        ("budgets:\n  - name: a b\n    limit: 5\n", 2, "budget name 'a b'"),
        ("budgets:\n  - {name: a, limit: 1}\n  - {name: b, limit: 1}\n  - {name: a, limit: 2}\n", 4, "used twice"),
        ("budgets:\n  - just-a-name\n", 2, "must be a mapping"),
        ("budgets:\n  - name: a\n    limit: [10, 20]\n", 3, "limit must be a single value, not a list. Fix: e.g."),
        ("budgets:\n  - name: a\n    limit: 5\n    period: {day: 1}\n", 4, "period must be a single value, not a"),
        ("budgets:\n  - name: [a]\n    limit: 5\n", 2, "name must be a single value, not a list"),
        ("budgets:\n  - name: a\n    limit: 5\n    thresholds: [0.5, [0.8]]\n", 4, "threshold must be a single value"),
        ("budgets:\n  - name: a\n    limit: 5\n    scope: {team: [x]}\n", 4, "scope team must be a single value"),
        ("budgets:\n  - name: a\n    limit: !usd 5\n", 3, "limit: could not determine a constructor"),
        ("budgets:\n  - name: a\n    limit: 2024-13-45\n", 3, "limit: month must be in 1..12"),
        ("# nothing yet\nbudgets:\n  - name: a\n    limit: 5\n  - name: caf\u00e9\n", 5, "not UTF-8 text (byte 0xe9"),
    ],
)
def test_bad_file_names_file_line_and_reason(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_bytes(text.encode("latin-1") if "\u00e9" in text else text.encode())  # latin-1: not UTF-8
    with pytest.raises(ConfigError) as raised:
        load_budgets(path)
    message = str(raised.value)
    assert message.startswith(f"budget file {path}:{line}: "), message
    assert reason in message, message
    assert "Node" not in message and "\n" not in message  # one line, no PyYAML internals


@pytest.mark.parametrize("text", ["", "\n\n", "# budgets come later\n", "---\n"])
def test_empty_file_is_an_error(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_budgets(path)
    assert str(raised.value) == (
        f"budget file {path} is empty (no YAML in it). Fix: declare budgets (budgets: [{{name: daily, limit: 50}}]), "
        "write budgets: [] to declare none on purpose, or unset OTEL_LLMCOST_BUDGET_FILE."
    )


def test_missing_file_and_budgets_declared_empty(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_budgets(tmp_path / "nope.yaml")
    assert load_budgets(_write(tmp_path, "budgets: []\n")) == []
    assert load_budgets(_write(tmp_path, "budgets:\n")) == []  # the key is there: none declared on purpose
    assert [b.name for b in load_budgets(_write(tmp_path, "\ufeffbudgets: [{name: a, limit: 1}]\n"))] == ["a"]  # BOM


def test_non_utf8_file_fails_instrument_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_bytes(b"budgets:\n  - name: \xff\xfe\n    limit: 5\n")
    monkeypatch.setenv(names.ENV_BUDGET_FILE, str(path))
    with pytest.raises(ConfigError) as raised:
        LLMCostInstrumentor().instrument()
    assert str(raised.value) == (
        f"budget file {path}:2: not UTF-8 text (byte 0xff at offset 19). Fix: save the file as UTF-8."
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert not _patched()


def _patched() -> bool:
    return isinstance(vars(chat_module.Completions)["create"], wrapt.FunctionWrapper)


def test_bad_file_fails_instrument_and_applies_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(names.ENV_BUDGET_FILE, str(_write(tmp_path, "budgets:\n  - name: a\n    limit: x\n")))
    instrumentor = LLMCostInstrumentor()
    with pytest.raises(ConfigError, match=r"budgets.yaml:3: "):
        instrumentor.instrument()
    assert not _patched() and not instrumentor.is_instrumented_by_opentelemetry


def test_file_and_code_budgets_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instrument_with: Any) -> None:
    monkeypatch.setenv(names.ENV_BUDGET_FILE, str(_write(tmp_path, GOOD)))
    cap = instrument_with(budgets=[Budget("from-code", limit=1)])
    assert [b.name for b in cap.instrumentor.runtime.budgets.budgets] == [
        "from-code", "daily-total", "search-team", "mini-6h"
    ]  # fmt: skip
    cap.instrumentor.uninstrument()
    with pytest.raises(ConfigError, match="'daily-total' is declared twice"):
        LLMCostInstrumentor().instrument(budgets=[Budget("daily-total", limit=1)])
    assert not _patched()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"limit": 0}, "more than $0"),
        ({"limit": "1e400x"}, "not an amount"),
        ({"limit": True}, "not an amount"),
        ({"limit": 1, "team": "a", "user": "b"}, "more than one key"),
        ({"limit": 1, "thresholds": ["120%"]}, "below 100%"),
        ({"limit": 1, "period": "fortnight"}, "not day, month"),
        ({"limit": 1, "period": "0h"}, "whole number >= 1"),
        ({"limit": 1, "action": "deny"}, "not warn or block"),
    ],
)
def test_budget_in_code_is_checked(kwargs: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason.replace("$", r"\$")):
        Budget("b", **kwargs)


def test_settings_from_environment() -> None:
    env = {
        names.ENV_METRIC_ATTRIBUTES: "feature, user, llmcost.tenant",
        names.ENV_MAX_ATTRIBUTE_VALUES: "25",
        names.ENV_BUDGET_FILE: "/etc/budgets.yaml",
        names.ENV_BUDGET_STORE: "redis://cache:6379/2",
        names.ENV_BUDGET_STORE_FAILURE: "closed",
        names.ENV_BUDGET_STORE_TIMEOUT: "0.25",
        names.ENV_BUDGET_DEFAULT_MAX_TOKENS: "2048",
        names.ENV_BUDGET_RESERVATION_TTL: "120",
    }
    settings = Settings.load(env=env)
    assert settings.metric_attributes == (names.LLMCOST_FEATURE, names.USER_ID, "llmcost.tenant")
    assert settings.max_attribute_values == 25
    assert (settings.budget_file, settings.budget_store) == ("/etc/budgets.yaml", "redis://cache:6379/2")
    assert (settings.budget_store_failure, settings.budget_store_timeout) == ("closed", 0.25)
    assert (settings.budget_default_max_tokens, settings.budget_reservation_ttl) == (2048, 120.0)
    defaults = Settings.load(env={})
    assert defaults.metric_attributes == (names.LLMCOST_FEATURE, names.LLMCOST_TEAM)
    assert (defaults.budget_store, defaults.budget_store_failure, defaults.budgets) == ("memory", "open", ())
    assert Settings.load({"metric_attributes": ["team"]}, env=env).metric_attributes == (names.LLMCOST_TEAM,)
    assert Settings.load(env={names.ENV_METRIC_ATTRIBUTES: "none"}).metric_attributes == ()


@pytest.mark.parametrize(
    ("env", "options", "reason"),
    [
        ({names.ENV_BUDGET_STORE_FAILURE: "maybe"}, {}, "OTEL_LLMCOST_BUDGET_STORE_FAILURE='maybe'"),
        ({names.ENV_BUDGET_STORE_TIMEOUT: "soon"}, {}, "not a number of seconds"),
        ({names.ENV_BUDGET_STORE_TIMEOUT: "0"}, {}, "above 0"),
        ({names.ENV_MAX_ATTRIBUTE_VALUES: "0"}, {}, "at least 1"),
        ({names.ENV_METRIC_ATTRIBUTES: "feature,tenant"}, {}, "'tenant' is not feature, team, user"),
        ({}, {"budgets": ["daily"]}, "not an otel_llmcost.Budget"),
        ({}, {"budget_store_failure": "shut"}, "not open or closed"),
        ({}, {"budget_store_timeout": -1}, "above 0"),
    ],
)
def test_bad_settings(env: dict[str, str], options: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        Settings.load(options, env=env)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgres://db/spend", "is not memory, sqlite:PATH or redis://"),
        ("sqlite:", "names no file"),
        ("sqlite:/no/such/folder/spend.db", "does not exist"),
        ("redis://host:notaport/0", "not a valid Redis URL"),
    ],
)
def test_bad_store_url_fails_at_start(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        LLMCostInstrumentor().instrument(budget_store=url)
    assert not _patched()
