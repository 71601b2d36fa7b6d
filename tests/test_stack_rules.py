"""``promtool test rules`` for every alert of the rendered Prometheus rule file, and the calendar arithmetic.

Each scenario renders the rules from a limits config, feeds promtool series shaped like the plugin's
(counters born at 0; histograms from the SDK starting at their first value), and states which alerts
fire, with which summary, at which time, and when they stay quiet. Time 0 is 1970-01-01 00:00 UTC.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_llmcost.stack import alerts, parse, promql, render
from stack_servers import PROMTOOL, need

JOB = 'job="app", instance="10.0.0.1:9464"'
COST = promql.COST.name
OPENAI = (f'{COST}{{{JOB}, gen_ai_provider_name="openai", gen_ai_request_model="gpt-4o", '
          'llmcost_cost_component="input"}')
ANTHROPIC = (f'{COST}{{{JOB}, gen_ai_provider_name="anthropic", gen_ai_request_model="claude-sonnet-4-5", '
             'llmcost_cost_component="output"}')


def promtool(tmp_path: Path, config: dict[str, Any], evaluation_interval: str, tests: list[dict[str, Any]]) -> None:
    """Render the rules for ``config`` and run promtool on the tests; fail with promtool's report."""
    binary = need(PROMTOOL, "promtool")
    rules = tmp_path / "rules.yaml"
    rules.write_text(render(parse(config))["prometheus/rules/otel-llmcost.rules.yaml"])
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(
        {"rule_files": [str(rules)], "evaluation_interval": evaluation_interval, "tests": tests}, width=10_000))
    result = subprocess.run([binary, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def alert(name: str, labels: dict[str, str], value: float, config: Any = None, **extra: float) -> dict[str, Any]:
    """An expected alert with its exact annotations: the rule's summary with this value (and extra values)."""
    scope = labels.get(alerts.SCOPE_LABEL)
    (rule,) = [a for a in alerts.alerts(parse(config or {})) if a.name == name
               and a.labels.get(alerts.SCOPE_LABEL) == scope]
    summary = rule.summary.replace("{value}", rule.value_format % value)
    for short, label in (("model", promql.MODEL), ("provider", promql.PROVIDER), ("service", promql.SERVICE),
                         ("budget", promql.BUDGET)):
        summary = summary.replace("{{" + short + "}}", labels.get(label, ""))
    for ref, number in extra.items():
        summary = summary.replace("{" + ref + "}", f"{number:.2f}")
    return {"exp_labels": labels, "exp_annotations": {"summary": summary, "description": rule.description}}


def check(name: str, at: str, *expected: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name, "exp_alerts": list(expected)}


def daily(scope: str, severity: str) -> dict[str, str]:
    return {alerts.SCOPE_LABEL: scope, "severity": severity}


def test_daily_limit_and_80_percent_warning_per_scope(tmp_path: Path) -> None:
    # From 23:00 UTC (1380m), $1.50/min on Anthropic and $1.20/min on OpenAI: "all" ($100/day) passes $80 at
    # 23:30 and $100 at 23:38; the "openai" scope ($50/day) passes $50 at 23:42. Midnight starts a new day.
    config = {"limits": [{"name": "all", "daily_usd": 100}, {"name": "openai", "match": {"provider": "openai"},
                                                             "daily_usd": 50}]}
    over, warn = alerts.DAILY_OVER, alerts.DAILY_WARNING
    tests = [{
        "interval": "1m",
        "input_series": [{"series": ANTHROPIC, "values": "_x1380 0+1.5x80"},
                         {"series": OPENAI, "values": "_x1380 0+1.2x80"}],
        "alert_rule_test": [
            check(warn, "1395m"), check(over, "1395m"),
            check(warn, "1410m", alert(warn, daily("all", "warning"), 81, config)),
            check(over, "1410m"),
            # Still the one warning (no new alert per request); Prometheus keeps it firing past the limit,
            # Alertmanager inhibits it while the limit alert fires.
            check(warn, "1425m", alert(warn, daily("all", "warning"), 121.5, config),
                  alert(warn, daily("openai", "warning"), 54, config)),
            check(over, "1425m", alert(over, daily("all", "critical"), 121.5, config),
                  alert(over, daily("openai", "critical"), 54, config)),
            # 00:15, a new UTC day: $40.50 so far, everything is quiet again.
            check(over, "1455m"), check(warn, "1455m"),
        ],
    }]
    promtool(tmp_path, config, "15m", tests)
    summary = alerts.alerts(parse(config))[0].summary
    assert summary == "LLM spend today (UTC) is ${value}, over the daily limit of $100.00 (all LLM calls)."


def test_monthly_limit_and_warning_over_a_calendar_month(tmp_path: Path) -> None:
    # From Jan 21 00:00 (480h), $10/h: $1600 at 640h, $2000 at 680h; February (744h) starts at zero.
    config = {"limits": [{"name": "all", "monthly_usd": 2000}]}
    over, warn = alerts.MONTHLY_OVER, alerts.MONTHLY_WARNING
    scope = {alerts.SCOPE_LABEL: "all"}
    tests = [{
        "interval": "1h",
        "input_series": [{"series": OPENAI, "values": "_x480 0+10x300"}],
        "alert_rule_test": [
            check(warn, "636h"), check(over, "636h"),
            check(warn, "654h", alert(warn, {**scope, "severity": "warning"}, 1740, config)),
            check(over, "690h", alert(over, {**scope, "severity": "critical"}, 2100, config)),
            check(warn, "690h", alert(warn, {**scope, "severity": "warning"}, 2100, config)),
            check(over, "750h"), check(warn, "750h"),
            check(alerts.ANOMALY, "750h"),
        ],
    }]
    promtool(tmp_path, config, "6h", tests)


def test_one_expensive_request_alerts_for_the_event_window(tmp_path: Path) -> None:
    # request_cost histograms come from the SDK: a new series starts at its first value. Python writes
    # le="1.0", the collector le="1": both are matched.
    h = promql.REQUEST_COST
    labels = f'{JOB}, gen_ai_provider_name="openai", gen_ai_request_model="gpt-4o"'
    other = f'{JOB}, gen_ai_provider_name="anthropic", gen_ai_request_model="claude-sonnet-4-5"'
    cheap = f'{JOB}, gen_ai_provider_name="openai", gen_ai_request_model="gpt-4o-mini"'
    tests = [{
        "interval": "1m",
        "input_series": [
            # Born at 10m carrying one $5 request (count 1, nothing at or below $1).
            {"series": f'{h.count}{{{labels}}}', "values": "_x10 1x60"},
            {"series": f'{h.bucket}{{{labels}, le="1.0"}}', "values": "_x10 0x60"},
            # Long-lived series (collector format le="1"): one request above $1 at 40m among cheap ones.
            {"series": f'{h.count}{{{other}}}', "values": "5+1x39 45 46 47x30"},
            {"series": f'{h.bucket}{{{other}, le="1"}}', "values": "5+1x39 44 45 46x30"},
            # Only cheap requests: never alerts.
            {"series": f'{h.count}{{{cheap}}}', "values": "0+2x70"},
            {"series": f'{h.bucket}{{{cheap}, le="1.0"}}', "values": "0+2x70"},
        ],
        "alert_rule_test": [
            check(alerts.EXPENSIVE, "5m"),
            check(alerts.EXPENSIVE, "12m", alert(alerts.EXPENSIVE, {
                "job": "app", "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o",
                "severity": "warning"}, 1)),
            check(alerts.EXPENSIVE, "42m", alert(alerts.EXPENSIVE, {
                "job": "app", "gen_ai_provider_name": "anthropic", "gen_ai_request_model": "claude-sonnet-4-5",
                "severity": "warning"}, 1)),
            check(alerts.EXPENSIVE, "65m"),
        ],
    }]
    promtool(tmp_path, {}, "1m", tests)


def test_summaries_say_the_spend_the_limit_and_the_scope() -> None:
    config = parse({"limits": [{"name": "search", "match": {"team": "search"}, "daily_usd": 20}]})
    texts = {a.name: a.summary for a in alerts.alerts(config)}
    assert texts[alerts.DAILY_OVER] == (
        "LLM spend today (UTC) is ${value}, over the daily limit of $20.00 (team=search).")
    assert texts[alerts.DAILY_WARNING].endswith("past 80% of the daily limit of $20.00 (team=search).")
    assert "more than 2x the daily average of the previous 7 days (${baseline}; limit 2x) (team=search)" in texts[
        alerts.ANOMALY]
    assert "spend ${spend} of its ${limit} limit" in texts[alerts.BUDGET_BLOCKED]
    assert alerts.MONTHLY_OVER not in texts  # no monthly limit in this scope


def test_unpriced_calls_alert_and_resolve(tmp_path: Path) -> None:
    unpriced = promql.UNPRICED.name
    mystery = f'{unpriced}{{{JOB}, gen_ai_provider_name="openai", gen_ai_request_model="mystery"}}'
    tests = [{
        "interval": "1m",
        # Born at 0 on its first collection, then 2 calls.
        "input_series": [{"series": mystery, "values": "_x5 0 2x40"}],
        "alert_rule_test": [
            check(alerts.UNPRICED, "5m"),
            check(alerts.UNPRICED, "8m", alert(alerts.UNPRICED, {
                "job": "app", "gen_ai_provider_name": "openai", "gen_ai_request_model": "mystery",
                "severity": "warning"}, 2)),
            check(alerts.UNPRICED, "30m"),
        ],
    }]
    promtool(tmp_path, {}, "1m", tests)


def test_budget_blocks_alert_with_the_budgets_spend_and_limit(tmp_path: Path) -> None:
    budget = f'{JOB}, llmcost_budget_name="nightly"'
    tests = [{
        "interval": "1m",
        "input_series": [
            {"series": f'{promql.BUDGET_BLOCKED.name}{{{budget}}}', "values": "_x3 0 0 3x30"},
            {"series": f'{promql.BUDGET_SPEND.name}{{{budget}}}', "values": "9.5x40"},
            {"series": f'{promql.BUDGET_LIMIT.name}{{{budget}}}', "values": "10x40"},
        ],
        "alert_rule_test": [
            check(alerts.BUDGET_BLOCKED, "4m"),
            check(alerts.BUDGET_BLOCKED, "7m", alert(alerts.BUDGET_BLOCKED, {
                "job": "app", "llmcost_budget_name": "nightly", "severity": "critical"}, 3, spend=9.5, limit=10)),
            check(alerts.BUDGET_BLOCKED, "25m"),
        ],
    }]
    promtool(tmp_path, {}, "1m", tests)


@pytest.mark.parametrize(
    ("first_day", "spike", "fires"),
    [
        (0, True, True),      # 9 days of $144/day, then $60/h more on day 9: fires
        (3, True, False),     # the same spike with only 6 days of history: quiet
        (0, False, False),    # steady spend: quiet
    ],
)
def test_anomaly_needs_eight_days_of_history(tmp_path: Path, first_day: int, spike: bool, fires: bool) -> None:
    series = [{"series": ANTHROPIC, "values": f"_x{24 * first_day} 0+6x{24 * (10 - first_day)}"}]  # $144/day
    if spike:
        series.append({"series": OPENAI, "values": "_x216 0+60x24"})  # from day 9, 00:00: $60/h more
    # At 228h: the last 24h are $144 + 12h x $60 = $864, more than 2 x the $144/day of the 7 days before.
    labels = {alerts.SCOPE_LABEL: "all", "severity": "warning"}
    expected = [alert(alerts.ANOMALY, labels, 864, baseline=144)] if fires else []
    tests = [{"interval": "1h", "input_series": series,
              "alert_rule_test": [check(alerts.ANOMALY, "228h", *expected), check(alerts.ANOMALY, "180h")]}]
    promtool(tmp_path, {"limits": [{"name": "all", "daily_usd": 1000}]}, "6h", tests)


def _expr_tests(expr: str, cases: list[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"expr": expr, "eval_time": at, "exp_samples": [{"labels": "{}", "value": value}]} for at, value in cases]


def run_exprs(tmp_path: Path, interval: str, series: list[dict[str, str]], tests: list[dict[str, Any]]) -> None:
    binary = need(PROMTOOL, "promtool")
    test_file = tmp_path / "exprs.yaml"
    test_file.write_text(yaml.safe_dump(
        {"rule_files": [], "tests": [{"interval": interval, "input_series": series, "promql_expr_test": tests}]},
        width=100_000))
    result = subprocess.run([binary, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_calendar_spend_is_exact_across_midnight_restarts_gaps_and_stopped_processes(tmp_path: Path) -> None:
    c = 'c{a="1"}'
    today, month, window = promql.today("c"), promql.this_month("c"), promql.total("c", "2d")
    # Born at 0 at 23:50 (1430m), $1/min; restarted at 00:31 on day 1 (value 0 again at 1471m), $2/min;
    # the process stops at 02:00 (1560m). A second series is born between two 5-minute steps.
    series = [
        {"series": c, "values": "_x1430 0+1x40 0+2x89"},
        {"series": 'c{a="2"}', "values": "_x1502 0 5x100"},
    ]
    # Exact values: before the restart the counter reads t-1430; at 1471m it restarts at 0 and adds 2/min.
    tests = _expr_tests(today, [
        ("1439m", 9), ("1440m", 0), ("1447m", 7),
        ("1470m", 30), ("1475m", 30 + 8), ("1500m", 30 + 58),
        ("1503m", 30 + 64 + 5),            # the new series' first (zero) sample at 1502m, 5 a minute later
        ("1560m", 30 + 178 + 5),            # the first series stops here (last value 178)
        ("1700m", 30 + 178 + 5),            # ...and stays counted
    ]) + _expr_tests(month, [("1439m", 9), ("1500m", 10 + 30 + 58), ("1700m", 10 + 30 + 178 + 5)]) + _expr_tests(
        window, [("1560m", 10 + 30 + 178 + 5)])
    run_exprs(tmp_path, "1m", series, tests)


def test_calendar_month_boundary_and_scrape_gap(tmp_path: Path) -> None:
    # $1 per 10 minutes from Jan 31, 12:00 (732h) to Feb 1, 12:00 (756h), with the target down for 40 minutes
    # (no samples) around 20:00; the counter keeps counting meanwhile.
    series = [{"series": 'c{a="1"}', "values": "_x4392 0+1x47 _x4 52+1x90"}]
    month = promql.this_month("c")
    today = promql.today("c")
    tests = _expr_tests(month, [("743h", 66), ("744h", 0), ("750h", 36)]) + _expr_tests(
        today, [("743h", 66), ("744h", 0), ("750h", 36)])
    run_exprs(tmp_path, "10m", series, tests)


def test_bill_drift_alerts_for_a_closed_day_past_the_share(tmp_path: Path) -> None:
    # Gauges of `otel-llmcost reconcile --serve`: one closed day of OpenAI 12% under its bill (fires), Anthropic
    # 3% over (quiet, below 5%), and an OpenAI day 4.9% over (quiet). A later poll corrects the first day: resolved.
    config = {"billing_drift": 0.05}
    drift = promql.RECONCILE_DRIFT.name
    job = 'job="otel-llmcost-reconcile", instance="host:9466"'

    def series(provider: str, day: str) -> str:
        return f'{drift}{{{job}, {promql.PROVIDER}="{provider}", {promql.DAY}="{day}"}}'

    (rule,) = [a for a in alerts.alerts(parse(config)) if a.name == alerts.BILL_DRIFT]
    labels = {promql.PROVIDER: "openai", promql.DAY: "2026-11-30", "severity": "warning"}
    summary = (rule.summary.replace("{value}", "12.0").replace("{{provider}}", "openai")
               .replace("{{day}}", "2026-11-30"))
    assert summary.startswith("Computed spend of openai on 2026-11-30 (UTC, closed) differs from the provider's "
                              "bill by 12.0% (limit 5%)")
    expected = {"exp_labels": labels, "exp_annotations": {"summary": summary, "description": rule.description}}
    promtool(tmp_path, config, "1m", [{
        "interval": "1m",
        "input_series": [{"series": series("openai", "2026-11-30"), "values": "-0.12x30 -0.01x30"},
                         {"series": series("anthropic", "2026-11-30"), "values": "0.03x60"},
                         {"series": series("openai", "2026-12-01"), "values": "0.049x60"}],
        "alert_rule_test": [check(alerts.BILL_DRIFT, "10m", expected), check(alerts.BILL_DRIFT, "45m")],
    }])
