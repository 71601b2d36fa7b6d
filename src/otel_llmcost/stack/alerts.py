"""The alerts, once, rendered as a Prometheus rule file, Grafana-managed rules and an Alertmanager config.

Each alert is a PromQL value (the spend, or the count of events) and a threshold. Prometheus compares in
the expression; Grafana reduces the value and applies a threshold expression. Both say in their summary
the value, the limit and which calls the limit covers. The 80% warnings keep firing past the limit in
Prometheus (Alertmanager inhibits them while the limit alert fires); Grafana has no inhibition, so its
warnings are bounded above by the limit instead. Knows PromQL and the two file formats, nothing else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import promql
from .limits import Limit, StackConfig

DATASOURCE_UID = "prometheus"
FOLDER = "LLM cost"
CONTACT_POINT = "llmcost"
EVENT_GROUP = (promql.SERVICE, promql.PROVIDER, promql.MODEL)
BUDGET_GROUP = (promql.SERVICE, promql.BUDGET)

DAILY_OVER = "LLMSpendDailyOverLimit"
DAILY_WARNING = "LLMSpendDailyWarning"
MONTHLY_OVER = "LLMSpendMonthlyOverLimit"
MONTHLY_WARNING = "LLMSpendMonthlyWarning"
EXPENSIVE = "LLMExpensiveRequest"
ANOMALY = "LLMSpendAnomaly"
UNPRICED = "LLMUnpricedCalls"
BUDGET_BLOCKED = "LLMBudgetBlocked"
BILL_DRIFT = "LLMBillDrift"
INHIBITIONS = ((DAILY_OVER, DAILY_WARNING), (MONTHLY_OVER, MONTHLY_WARNING))
SCOPE_LABEL = "llmcost_scope"
# Recorded per scope in the Prometheus rule file, so the alert rules read as what they compare.
SPEND_TODAY = "llmcost:spend_today:usd"
SPEND_MONTH = "llmcost:spend_this_month:usd"
SPEND_24H = "llmcost:spend_24h:usd"
SPEND_BASELINE = "llmcost:spend_daily_baseline_7d:usd"


def money(value: Decimal | float) -> str:
    """Dollars as the alert templates print them (printf "%.2f"), so summaries read alike."""
    return f"${Decimal(str(value)):.2f}"


@dataclass(frozen=True)
class Query:
    """An extra PromQL query a summary quotes. Grafana runs ``expr`` as its own refId (matched to the alert
    by labels); a Prometheus template runs ``expr``, or ``template`` with ``%q`` filled from ``labels``."""

    ref: str
    expr: str
    template: str | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alert:
    """One alert rule in both formats. ``summary`` uses ``{value}`` and ``{<ref>}`` placeholders."""

    name: str
    uid: str
    severity: str
    value: str
    op: str  # ">" only, or "in" (Grafana: above low and below high; Prometheus: above low)
    threshold: Decimal
    upper: Decimal | None
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)
    extra: tuple[Query, ...] = ()
    for_: str = "0s"
    math: str | None = None  # Grafana math condition over refIds instead of a threshold (anomaly)
    prometheus_expr: str | None = None  # when the condition is more than "value > threshold"
    value_format: str = "%.2f"
    record: str | None = None  # Prometheus: the value is this recorded series (same scope label)

    @property
    def prometheus_value(self) -> str:
        if self.record is None:
            return self.value
        return promql.selector(self.record, {SCOPE_LABEL: self.labels[SCOPE_LABEL]})

    @property
    def expr(self) -> str:
        if self.prometheus_expr is not None:
            return self.prometheus_expr
        return f"{self.prometheus_value} > {_num(self.threshold)}"


def _num(value: Decimal | float) -> str:
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def _uid(*parts: str) -> str:
    """A Grafana rule uid (at most 40 characters), stable for the same parts."""
    text = "llmcost-" + "-".join(re.sub(r"[^a-z0-9-]", "-", p.lower()) for p in parts)
    if len(text) <= 40:
        return text
    return text[:31] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def alerts(config: StackConfig) -> list[Alert]:
    """Every alert rule, in a stable order."""
    out: list[Alert] = []
    ratio = config.warning_ratio
    for limit in config.limits:
        cost = promql.selector(promql.COST.name, limit.matchers)
        labels = {SCOPE_LABEL: limit.name}
        where = limit.description
        for period, over_name, warn_name, amount, value, record in (
            ("daily", DAILY_OVER, DAILY_WARNING, limit.daily_usd, promql.today(cost), SPEND_TODAY),
            ("monthly", MONTHLY_OVER, MONTHLY_WARNING, limit.monthly_usd, promql.this_month(cost), SPEND_MONTH),
        ):
            if amount is None:
                continue
            when = "today (UTC)" if period == "daily" else "this month (UTC)"
            out.append(
                Alert(
                    name=over_name,
                    uid=_uid(period, "over", limit.name),
                    severity="critical",
                    value=value,
                    op=">",
                    threshold=amount,
                    upper=None,
                    summary=f"LLM spend {when} is ${{value}}, over the {period} limit of {money(amount)} "
                    f"({where}).",
                    description=f"Spend {when} summed over every service, model and instance, compared with "
                    f"the {period} limit of scope {limit.name!r} set in llmcost-stack.yaml.",
                    labels={**labels, "severity": "critical"},
                    record=record,
                )
            )
            out.append(
                Alert(
                    name=warn_name,
                    uid=_uid(period, "warning", limit.name),
                    severity="warning",
                    value=value,
                    op="in",
                    threshold=amount * ratio,
                    upper=amount,
                    summary=f"LLM spend {when} is ${{value}}, past {ratio * 100:.0f}% of the {period} limit of "
                    f"{money(amount)} ({where}).",
                    description=f"Early warning at {money(amount * ratio)}. Silenced while {over_name} fires "
                    "(Alertmanager inhibition; Grafana: the warning stops at the limit).",
                    labels={**labels, "severity": "warning"},
                    record=record,
                )
            )
        out.append(_anomaly(config, limit, cost, labels))
    out.append(_expensive(config))
    out.append(_unpriced(config))
    out.append(_budget_blocked(config))
    out.append(_bill_drift(config))
    return out


def _anomaly(config: StackConfig, limit: Limit, cost: str, labels: dict[str, str]) -> Alert:
    factor = _num(config.anomaly_factor)
    scope = {SCOPE_LABEL: limit.name}
    baseline = promql.selector(SPEND_BASELINE, scope)
    history = f"count(last_over_time({cost}[1d] offset 8d)) > 0"
    return Alert(
        name=ANOMALY,
        uid=_uid("anomaly", limit.name),
        severity="warning",
        value=promql.total(cost, "1d"),
        op=">",
        threshold=Decimal(0),
        upper=None,
        summary=f"LLM spend in the last 24h is ${{value}}, more than {factor}x the daily average of the "
        f"previous 7 days (${{baseline}}; limit {factor}x) ({limit.description}).",
        description="Needs 8 days of history: quiet until Prometheus has data from 8 days ago.",
        labels={**labels, "severity": "warning"},
        extra=(
            Query("baseline", f"{promql.total(cost, '7d', offset='1d')} / 7", template=baseline),
            Query("history", history),
        ),
        for_="10m",
        math=f"$value > {factor} * $baseline && $baseline > 0 && $history > 0",
        prometheus_expr=f"{promql.selector(SPEND_24H, scope)} > {factor} * {baseline}\n"
        f"and {baseline} > 0\nand on() ({history})",
        record=SPEND_24H,
    )


def _expensive(config: StackConfig) -> Alert:
    bound = config.expensive_request_usd
    window = config.event_window
    value = promql.expensive_requests(promql.REQUEST_COST, [], bound, window, EVENT_GROUP)
    return Alert(
        name=EXPENSIVE,
        uid=_uid("expensive-request"),
        severity="warning",
        value=value,
        op=">",
        threshold=Decimal(0),
        upper=None,
        summary=f"{{value}} request(s) to {{{{model}}}} ({{{{provider}}}}, service {{{{service}}}}) cost more than "
        f"{money(bound)} each in the last {window} (limit {money(bound)} per request).",
        description="Counted from the llmcost.request.cost histogram: the threshold is one of its bucket bounds.",
        labels={"severity": "warning"},
        value_format="%.0f",
    )


def _unpriced(config: StackConfig) -> Alert:
    window = config.event_window
    value = promql.happened(promql.UNPRICED.name, window, EVENT_GROUP)
    return Alert(
        name=UNPRICED,
        uid=_uid("unpriced-calls"),
        severity="warning",
        value=value,
        op=">",
        threshold=Decimal(0),
        upper=None,
        summary=f"{{value}} call(s) to {{{{model}}}} ({{{{provider}}}}, service {{{{service}}}}) in the last {window} "
        "have no known price, so their spend ($ unknown) is missing from every total (limit: 0 unpriced calls).",
        description="Add the model to your price file (OTEL_LLMCOST_PRICE_FILE) or alias it to a priced model.",
        labels={"severity": "warning"},
        value_format="%.0f",
    )


def _budget_blocked(config: StackConfig) -> Alert:
    window = config.event_window
    value = promql.happened(promql.BUDGET_BLOCKED.name, window, BUDGET_GROUP)
    group = ", ".join(BUDGET_GROUP)
    one = ", ".join(f"{lab}=%q" for lab in BUDGET_GROUP)
    spend = Query("spend", f"max by ({group}) ({promql.BUDGET_SPEND.name})",
                  f"max({promql.BUDGET_SPEND.name}{{{one}}})", BUDGET_GROUP)
    limit = Query("limit", f"max by ({group}) ({promql.BUDGET_LIMIT.name})",
                  f"max({promql.BUDGET_LIMIT.name}{{{one}}})", BUDGET_GROUP)
    return Alert(
        name=BUDGET_BLOCKED,
        uid=_uid("budget-blocked"),
        severity="critical",
        value=value,
        op=">",
        threshold=Decimal(0),
        upper=None,
        summary=f"Budget {{{{budget}}}} (service {{{{service}}}}) refused {{value}} call(s) in the last {window}: "
        "spend ${spend} of its ${limit} limit.",
        description="A block budget raised BudgetExceededError before sending: these calls did not reach the API.",
        labels={"severity": "critical"},
        extra=(spend, limit),
        value_format="%.0f",
    )


def _bill_drift(config: StackConfig) -> Alert:
    """A closed day whose computed spend is off the provider's bill by more than ``billing_drift``."""
    group = ", ".join((promql.PROVIDER, promql.DAY))
    limit = config.billing_drift * 100
    return Alert(
        name=BILL_DRIFT,
        uid=_uid("bill-drift"),
        severity="warning",
        value=f"100 * max by ({group}) (abs({promql.RECONCILE_DRIFT.name}))",
        op=">",
        threshold=limit,
        upper=None,
        summary=f"Computed spend of {{{{provider}}}} on {{{{day}}}} (UTC, closed) differs from the provider's bill by "
        f"{{value}}% (limit {_num(limit)}%).",
        description="(computed - billed) / billed from otel-llmcost reconcile --serve. Run `otel-llmcost reconcile` "
        "for that day: it explains each difference (uninstrumented apps, unpriced calls or dimensions, credits).",
        labels={"severity": "warning"},
        value_format="%.1f",
    )


_LABELS = {"model": promql.MODEL, "provider": promql.PROVIDER, "service": promql.SERVICE, "budget": promql.BUDGET,
           "day": promql.DAY}


def _prometheus_summary(alert: Alert) -> str:
    """Prometheus template: $value, $labels, and a template query for each extra value."""
    text = alert.summary
    for short, lab in _LABELS.items():
        text = text.replace("{{" + short + "}}", "{{ $labels." + lab + " }}")
    text = text.replace("{value}", '{{ $value | printf "' + alert.value_format + '" }}')
    for query in alert.extra:
        if query.template is not None and query.labels:
            args = " ".join(f"$labels.{lab}" for lab in query.labels)
            head = "{{ with printf `" + query.template + "` " + args + " | query }}"
        elif query.template is not None:
            head = "{{ with query `" + query.template + "` }}"
        else:
            head = "{{ with query `" + query.expr + "` }}"
        template = head + '{{ . | first | value | printf "%.2f" }}{{ end }}'
        text = text.replace("{" + query.ref + "}", template)
    return text


def _grafana_summary(alert: Alert) -> str:
    text = alert.summary
    for short, lab in _LABELS.items():
        text = text.replace("{{" + short + "}}", "{{ $labels." + lab + " }}")
    text = text.replace("{value}", '{{ printf "' + alert.value_format + '" $values.B.Value }}')
    for query in alert.extra:
        text = text.replace("{" + query.ref + "}", '{{ printf "%.2f" $values.' + _reduced(query.ref) + ".Value }}")
    return text


def _reduced(ref: str) -> str:
    return ref.upper() + "_LAST"


# --- Prometheus ---------------------------------------------------------------------------------------
def recording_rules(config: StackConfig) -> list[dict[str, Any]]:
    """Per-scope spend series the alert rules compare: calendar day and month, last 24h, 7-day baseline."""
    rules = []
    for limit in config.limits:
        cost = promql.selector(promql.COST.name, limit.matchers)
        scope = {SCOPE_LABEL: limit.name}
        for record, expr, needed in (
            (SPEND_TODAY, promql.today(cost), limit.daily_usd is not None),
            (SPEND_MONTH, promql.this_month(cost), limit.monthly_usd is not None),
            (SPEND_24H, promql.total(cost, "1d"), True),
            (SPEND_BASELINE, f"{promql.total(cost, '7d', offset='1d')} / 7", True),
        ):
            if needed:
                rules.append({"record": record, "expr": expr, "labels": dict(scope)})
    return rules


def prometheus_rules(config: StackConfig) -> dict[str, Any]:
    """The Prometheus rule file: recording rules first (a group evaluates in order), then the alerts."""
    rules = recording_rules(config)
    for alert in alerts(config):
        rule: dict[str, Any] = {"alert": alert.name, "expr": alert.expr}
        if alert.for_ != "0s":
            rule["for"] = alert.for_
        rule["labels"] = dict(alert.labels)
        rule["annotations"] = {"summary": _prometheus_summary(alert), "description": alert.description}
        rules.append(rule)
    return {"groups": [{"name": "otel-llmcost", "interval": config.evaluation_interval, "rules": rules}]}


def alertmanager_config(config: StackConfig) -> dict[str, Any]:
    notify = config.alertmanager
    group_by = ["alertname", SCOPE_LABEL, promql.SERVICE, promql.MODEL, promql.BUDGET]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "llmcost",
            "group_by": group_by,
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname="{over}"'],
                "target_matchers": [f'alertname="{warning}"'],
                "equal": [SCOPE_LABEL],
            }
            for over, warning in INHIBITIONS
        ],
        "receivers": [
            {
                "name": "llmcost",
                "slack_configs": [
                    {
                        "api_url": notify.slack_webhook_url,
                        "channel": notify.slack_channel,
                        "send_resolved": True,
                        "title": '{{ .Status | toUpper }}: {{ .CommonLabels.alertname }}',
                        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
                    }
                ],
                "email_configs": [
                    {
                        "to": notify.email_to,
                        "from": notify.email_from,
                        "smarthost": notify.smarthost,
                        "send_resolved": True,
                        "headers": {"Subject": "{{ .Status | toUpper }}: {{ .CommonLabels.alertname }}"},
                    }
                ],
            }
        ],
    }


# --- Grafana ------------------------------------------------------------------------------------------
def _prom_query(ref: str, expr: str, lookback: int) -> dict[str, Any]:
    return {
        "refId": ref,
        "relativeTimeRange": {"from": lookback, "to": 0},
        "datasourceUid": DATASOURCE_UID,
        "model": {
            "refId": ref,
            "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
            "expr": expr,
            "instant": True,
            "range": False,
        },
    }


def _expression(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": ref,
        "datasourceUid": "__expr__",
        "model": {"refId": ref, "datasource": {"type": "__expr__", "uid": "__expr__"}, **model},
    }


def _reduce(ref: str, source: str) -> dict[str, Any]:
    return _expression(ref, {"type": "reduce", "expression": source, "reducer": "last", "settings": {"mode": "dropNN"}})


def _threshold(ref: str, source: str, evaluator: dict[str, Any]) -> dict[str, Any]:
    return _expression(ref, {"type": "threshold", "expression": source, "conditions": [{"evaluator": evaluator}]})


def grafana_rule(alert: Alert) -> dict[str, Any]:
    lookback = 600
    data = [_prom_query("A", alert.value, lookback), _reduce("B", "A")]
    for query in alert.extra:
        data.append(_prom_query(query.ref.upper(), query.expr, lookback))
        data.append(_reduce(_reduced(query.ref), query.ref.upper()))
    if alert.math is not None:
        expression = alert.math.replace("$value", "$B")
        for query in alert.extra:
            expression = expression.replace("$" + query.ref, "$" + _reduced(query.ref))
        data.append(_expression("C", {"type": "math", "expression": expression}))
    elif alert.op == "in":
        assert alert.upper is not None
        evaluator = {"type": "within_range", "params": [float(alert.threshold), float(alert.upper)]}
        data.append(_threshold("C", "B", evaluator))
    else:
        data.append(_threshold("C", "B", {"type": "gt", "params": [float(alert.threshold)]}))
    return {
        "uid": alert.uid,
        "title": alert.name + (f" ({alert.labels[SCOPE_LABEL]})" if SCOPE_LABEL in alert.labels else ""),
        "condition": "C",
        "data": data,
        "noDataState": "OK",
        "execErrState": "Error",
        "for": alert.for_,
        "annotations": {"summary": _grafana_summary(alert), "description": alert.description},
        "labels": dict(alert.labels),
        "isPaused": False,
    }


def grafana_rules(config: StackConfig) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "otel-llmcost",
                "folder": FOLDER,
                "interval": config.evaluation_interval,
                "rules": [grafana_rule(alert) for alert in alerts(config)],
            }
        ],
    }


def grafana_contact_points() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": "llmcost-slack",
                        "type": "slack",
                        "settings": {"url": "${SLACK_WEBHOOK_URL}", "recipient": "${SLACK_CHANNEL}"},
                        "disableResolveMessage": False,
                    },
                    {
                        "uid": "llmcost-email",
                        "type": "email",
                        "settings": {"addresses": "${ALERT_EMAIL_TO}", "singleEmail": True},
                        "disableResolveMessage": False,
                    },
                ],
            }
        ],
    }


def grafana_policies() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["grafana_folder", "alertname", SCOPE_LABEL],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "12h",
            }
        ],
    }


def rule_queries(config: StackConfig) -> list[tuple[str, str]]:
    """(name, PromQL) of every query either format evaluates, for the end-to-end test: Grafana's queries,
    the Prometheus recording rules, and each Prometheus alert's value."""
    found: list[tuple[str, str]] = []
    for alert in alerts(config):
        found.append((f"grafana {alert.uid}", alert.value))
        found.extend((f"grafana {alert.uid} {q.ref}", q.expr) for q in alert.extra)
        found.append((f"prometheus {alert.name} {alert.labels.get(SCOPE_LABEL, '')}", alert.prometheus_value))
    for rule in recording_rules(config):
        found.append((f"prometheus record {rule['record']} {rule['labels'][SCOPE_LABEL]}", rule["expr"]))
    return found


__all__: Sequence[str] = (
    "Alert", "alertmanager_config", "alerts", "grafana_contact_points", "grafana_policies", "grafana_rules",
    "prometheus_rules", "recording_rules", "rule_queries",
)
