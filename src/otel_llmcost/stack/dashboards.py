"""The Grafana dashboard: every panel's PromQL from promql.py, so a renamed metric changes the panels too.

One dashboard (schema of Grafana 11.6) with a ``datasource`` variable and filters for service, provider,
model, feature and team ("All" matches series without the label, so unattributed calls stay visible).
Spend panels use the born-at-zero arithmetic of promql.py; "today" and "this month" are UTC calendar
periods, the same expressions the alerts compare. Knows Grafana's dashboard JSON, nothing about files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import promql
from .limits import StackConfig

UID = "otel-llmcost"
TITLE = "LLM cost (otel-llmcost)"
SCHEMA_VERSION = 41  # Grafana 11.6
PLUGIN_VERSION = "11.6.0"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
USD = "currencyUSD"

# Template variable -> label.
FILTERS: dict[str, str] = {
    "service": promql.SERVICE,
    "provider": promql.PROVIDER,
    "model": promql.MODEL,
    "feature": promql.FEATURE,
    "team": promql.TEAM,
}


def _filters(*only: str) -> list[str]:
    return [f'{label}=~"${var}"' for var, label in FILTERS.items() if not only or var in only]


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False
    exemplar: bool = False
    """Show the series' exemplars: each links a point to its trace in Tempo (the datasource's trace_id link)."""


@dataclass(frozen=True)
class Panel:
    """A panel: what it shows (title, targets, unit) and where (x, y, w, h on the 24-column grid)."""

    title: str
    kind: str
    targets: tuple[Target, ...]
    unit: str
    grid: tuple[int, int, int, int]
    description: str = ""
    decimals: int | None = None
    spend: bool = False  # the end-to-end test checks these equal the known spend
    options: dict[str, Any] = field(default_factory=dict)
    transformations: tuple[dict[str, Any], ...] = ()


def panels(config: StackConfig) -> list[Panel]:
    """Every panel of the dashboard, in reading order."""
    f = _filters()
    # The semconv histograms under either name set (OTEL_SEMCONV_STABILITY_OPT_IN: default or latest).
    durations = promql.any_of([promql.DURATION.bucket, promql.INFERENCE_DURATION.bucket], f)
    first_chunks = promql.any_of([promql.TIME_TO_FIRST_CHUNK.bucket, promql.INFERENCE_TIME_TO_FIRST_CHUNK.bucket], f)
    cost = promql.selector(promql.COST.name, f)
    requests = promql.selector(promql.REQUESTS.name, f)
    errors = promql.selector(promql.REQUESTS.name, [*f, f'{promql.ERROR_TYPE}!=""'])
    tokens = promql.selector(promql.TOKENS.name, f)
    savings = promql.selector(promql.SAVINGS.name, f)
    unpriced = promql.selector(promql.UNPRICED.name, f)
    by_user = promql.selector(promql.COST.name, [*f, f'{promql.USER}!=""'])
    cache_read = promql.selector(promql.TOKENS.name, [*f, f'{promql.TOKEN_TYPE}="cache_read"'])
    input_tokens = promql.selector(promql.TOKENS.name, [*f, f'{promql.TOKEN_TYPE}="input"'])
    service_only = _filters("service")
    per_request = _filters("service", "feature", "team")  # roll-up points carry no provider or model
    op = promql.OPERATION
    rng = "$__range"
    rate = "$__rate_interval"
    model = promql.MODEL
    potential = f"max by ({promql.OPPORTUNITY}) ({promql.selector(promql.SAVINGS_POTENTIAL.name)})"
    out = [
        Panel("Spend in the selected range", "stat", (Target(promql.total(cost, rng), instant=True),), USD,
              (0, 0, 4, 4), "Every dollar in the dashboard's time range, the first call of a new model or process "
              "included.", 2, spend=True),
        Panel("Spend today (UTC)", "stat", (Target(promql.today(cost), instant=True),), USD, (4, 0, 4, 4),
              "Since 00:00 UTC: what the daily limit alerts compare.", 2, spend=True),
        Panel("Spend this month (UTC)", "stat", (Target(promql.this_month(cost), instant=True),), USD,
              (8, 0, 4, 4), "Since the 1st, 00:00 UTC: what the monthly limit alerts compare.", 2, spend=True),
        Panel("Projected month-end spend", "stat",
              (Target(f"({promql.this_month(cost)}) / {promql.seconds_into_month()} * days_in_month() * 86400",
                      instant=True),), USD, (12, 0, 4, 4),
              "This month's spend so far, extrapolated linearly to the end of the month.", 2),
        Panel("Average cost per request", "stat",
              (Target(f"{promql.total(cost, rng)} / {promql.total(requests, rng)}", instant=True),), USD,
              (16, 0, 4, 4), "Spend divided by calls (failed and unpriced calls included) in the range.", 4),
        Panel("Unpriced calls", "stat", (Target(promql.total(unpriced, rng), instant=True),), "short",
              (20, 0, 4, 4), "Calls whose model has no known price: their spend is in no total. Add the model to "
              "your price file.", 0),
    ]
    for i, (what, label) in enumerate(
        (("model", model), ("provider", promql.PROVIDER), ("feature", promql.FEATURE), ("team", promql.TEAM))
    ):
        out.append(
            Panel(f"Spend rate by {what} (USD per hour)", "timeseries",
                  (Target(f"sum by ({label}) (rate({cost}[{rate}])) * 3600", f"{{{{{label}}}}}"),), USD,
                  (12 * (i % 2), 4 + 8 * (i // 2), 12, 8), f"Spend per hour by {what}.", 2)
        )
    out += [
        Panel("Top users by spend", "table",
              (Target(f"topk(20, {promql.total(by_user, rng, [promql.USER])})", instant=True, table=True),),
              USD, (0, 20, 8, 8), "Needs user.id on metrics (attribution allow-list).", 2,
              transformations=({"id": "organize", "options": {"excludeByName": {"Time": True},
                                                                "renameByName": {"Value": "spend"}}},)),
        Panel("Tokens by type", "bargauge",
              (Target(promql.total(tokens, rng, [promql.TOKEN_TYPE]), f"{{{{{promql.TOKEN_TYPE}}}}}",
                      instant=True),), "short", (8, 20, 8, 8),
              "input includes cache reads and writes; output includes reasoning.", 0),
        Panel("Cache hit ratio", "stat",
              (Target(f"{promql.total(cache_read, rng)} / {promql.total(input_tokens, rng)}", instant=True),),
              "percentunit", (16, 20, 8, 4), "Input tokens read from the prompt cache.", 1),
        Panel("Saved by caching and batch", "stat",
              (Target(promql.total(savings, rng, [promql.SAVINGS_KIND]), f"{{{{{promql.SAVINGS_KIND}}}}}",
                      instant=True),), USD, (16, 24, 8, 4),
              "Cache reads and batch calls compared with the standard price.", 2),
        Panel("Cost per request: average and p95", "timeseries",
              (Target(f"sum(rate({cost}[{rate}])) / sum(rate({requests}[{rate}]))", "average"),
               Target(f"histogram_quantile(0.95, sum by (le) (rate("
                      f"{promql.selector(promql.REQUEST_COST.bucket, f)}[{rate}])))", "p95", exemplar=True)),
              USD, (0, 28, 12, 8), "p95 from the llmcost.request.cost histogram (priced calls). Exemplars (dots) "
              "link a call's cost to its trace in Tempo.", 4),
        Panel("Latency p50 / p95 by model", "timeseries",
              tuple(Target(f"histogram_quantile({q}, sum by (le, {model}) (rate("
                           f"{durations}[{rate}])))",
                           f"p{int(q * 100)} {{{{{model}}}}}")
                    for q in (0.5, 0.95)),
              "s", (12, 28, 12, 8), "gen_ai.client.operation.duration or gen_ai.client.inference.duration (either "
              "OTEL_SEMCONV_STABILITY_OPT_IN mode).", 2),
        Panel("Time to first chunk p50 / p95 by model", "timeseries",
              tuple(Target(f"histogram_quantile({q}, sum by (le, {model}) (rate("
                           f"{first_chunks}[{rate}])))",
                           f"p{int(q * 100)} {{{{{model}}}}}")
                    for q in (0.5, 0.95)),
              "s", (0, 36, 12, 8), "Streams only.", 2),
        Panel("Error rate by model", "timeseries",
              (Target(f"(sum by ({model}) (rate({errors}[{rate}])) or sum by ({model}) (rate({requests}[{rate}])) * 0)"
                      f" / sum by ({model}) (rate({requests}[{rate}]))", f"{{{{{model}}}}}"),),
              "percentunit", (12, 36, 12, 8), "Failed calls (error.type) over all calls.", 1),
        Panel("Budgets: spend, limit and remaining", "table",
              tuple(Target(f"max by ({promql.BUDGET}) ({promql.selector(s.name, service_only)})", instant=True,
                           table=True)
                    for s in (promql.BUDGET_SPEND, promql.BUDGET_LIMIT, promql.BUDGET_REMAINING)),
              USD, (0, 44, 12, 8), "Each budget in its current period, as the plugin's budget store sees it.", 2,
              transformations=({"id": "merge", "options": {}},
                               {"id": "organize", "options": {"excludeByName": {"Time": True},
                                                              "renameByName": {"Value #A": "spend", "Value #B": "limit",
                                                                               "Value #C": "remaining"}}})),
        Panel("Budget warnings and blocked calls", "stat",
              (Target(promql.total(promql.selector(promql.BUDGET_CROSSINGS.name, service_only), rng,
                                   [promql.BUDGET]), f"{{{{{promql.BUDGET}}}}} warnings", instant=True),
               Target(promql.total(promql.selector(promql.BUDGET_BLOCKED.name, service_only), rng,
                                   [promql.BUDGET]), f"{{{{{promql.BUDGET}}}}} blocked", instant=True),
               Target(f"max by ({promql.BUDGET}) ({promql.selector(promql.BUDGET_MEMBERS_OVER.name, service_only)})",
                      f"{{{{{promql.BUDGET}}}}} members over threshold", instant=True)),
              "short", (12, 44, 12, 8), "Thresholds crossed and calls refused by block budgets in the range; for "
              "per-member budgets (user: \"*\"), how many members reached the lowest threshold this period.", 0),
        Panel("Unpriced calls by model", "table",
              (Target(promql.total(unpriced, rng, [promql.SERVICE, promql.PROVIDER, model]), instant=True,
                      table=True),),
              "short", (0, 52, 12, 8), "Add these models to your price file.", 0,
              transformations=({"id": "organize", "options": {"excludeByName": {"Time": True},
                                                                "renameByName": {"Value": "calls"}}},)),
        # Both counters only have series once something went wrong: 0 when none exist (a healthy system).
        Panel("otel-llmcost health", "stat",
              (Target(promql.or_zero(promql.total(promql.selector(promql.INSTRUMENTATION_ERRORS.name, service_only),
                                                  rng, [promql.STAGE]), {promql.STAGE: "any"}),
                      f"internal errors: {{{{{promql.STAGE}}}}}", instant=True),
               Target(promql.or_zero(promql.total(promql.selector(promql.ATTRIBUTION_FOLDED.name, service_only),
                                                  rng)),
                      "attribution values folded into other", instant=True),
               Target(promql.or_zero(promql.total(promql.selector(promql.BUDGET_MEMBERS_EVICTED.name, service_only),
                                                  rng)),
                      "budget members forgotten (memory store)", instant=True)),
              "short", (12, 52, 12, 8), "Failures inside the instrumentation (never raised to your code), "
              "attribution values over the per-key cap, and members of per-member budgets the memory store forgot "
              "past its cap; 0 when there are none.", 0),
        # otel-llmcost advise --serve exposes the gauge (a scrape job of your own): 0 until it is scraped.
        Panel("Where the money could be saved (USD per month)", "bargauge",
              (Target(promql.or_zero(potential, {promql.OPPORTUNITY: "none"}), f"{{{{{promql.OPPORTUNITY}}}}}",
                      instant=True),),
              USD, (0, 68, 24, 8), "Estimates of otel-llmcost advise --serve by opportunity kind (prompt cache, "
              "response cache, batch, model ladder, ...): run it on the ledger and add it as a Prometheus scrape "
              "job; `otel-llmcost advise` explains each estimate.", 2),
        # Roll-ups (issue 18): one point per request of the app (local root span) with LLM calls, by route.
        Panel("Cost per request by route: average and p95", "timeseries",
              (Target(f"sum by ({op}) (rate({promql.selector(promql.OPERATION_COST.sum, per_request)}[{rate}])) / "
                      f"sum by ({op}) (rate({promql.selector(promql.OPERATION_COST.count, per_request)}[{rate}]))",
                      f"avg {{{{{op}}}}}"),
               Target(f"histogram_quantile(0.95, sum by (le, {op}) (rate("
                      f"{promql.selector(promql.OPERATION_COST.bucket, per_request)}[{rate}])))",
                      f"p95 {{{{{op}}}}}", exemplar=True)),
              USD, (0, 76, 12, 8), "LLM cost of one request of the app (llmcost.operation.cost), by http.route "
              "template or root span name. Exemplars (dots) open the request's trace in Tempo.", 4),
        Panel("LLM calls per request by route", "timeseries",
              (Target(f"sum by ({op}) (rate({promql.selector(promql.OPERATION_CALLS.sum, per_request)}[{rate}])) / "
                      f"sum by ({op}) (rate({promql.selector(promql.OPERATION_CALLS.count, per_request)}[{rate}]))",
                      f"avg {{{{{op}}}}}"),
               Target(f"histogram_quantile(0.95, sum by (le, {op}) (rate("
                      f"{promql.selector(promql.OPERATION_CALLS.bucket, per_request)}[{rate}])))",
                      f"p95 {{{{{op}}}}}")),
              "short", (12, 76, 12, 8), "LLM calls made by one request of the app (llmcost.operation.calls); "
              "a request with no LLM call is not counted.", 1),
    ]
    out += _reconciliation()
    return out


def _reconciliation() -> list[Panel]:
    """Computed against billed spend per closed UTC day, from ``otel-llmcost reconcile --serve``."""
    closed = [*_filters("provider", "model"), f'{promql.DAY_CLOSED}="true"']
    day = (promql.PROVIDER, promql.DAY)
    group = ", ".join(day)

    def spend(source: str) -> str:
        series = promql.selector(promql.RECONCILE_COST.name, [*closed, f'{promql.COST_SOURCE}="{source}"'])
        # max over the exporter's instances (one process or several report the same bill), summed over models
        return f"sum by ({group}) (max by ({group}, {promql.MODEL}) ({series}))"

    drift = promql.selector(promql.RECONCILE_DRIFT.name, _filters("provider"))
    return [
        Panel("Billed vs computed spend by closed day", "table",
              (Target(spend("billed"), instant=True, table=True),
               Target(spend("computed"), instant=True, table=True)),
              USD, (0, 60, 12, 8), "What each provider billed for a closed UTC day, and what otel-llmcost computed "
              "for it (otel-llmcost reconcile --serve).", 2,
              transformations=({"id": "merge", "options": {}},
                               {"id": "organize", "options": {"excludeByName": {"Time": True},
                                                              "renameByName": {"Value #A": "billed",
                                                                               "Value #B": "computed"}}})),
        Panel("Drift from the bill by closed day", "bargauge",
              (Target(f"max by ({group}) ({drift})", f"{{{{{promql.PROVIDER}}}}} {{{{{promql.DAY}}}}}",
                      instant=True),),
              "percentunit", (12, 60, 12, 8), "(computed - billed) / billed of each closed UTC day; "
              "`otel-llmcost reconcile` explains the difference.", 1),
    ]


def _target(ref: str, target: Target) -> dict[str, Any]:
    out: dict[str, Any] = {
        "refId": ref,
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": target.expr,
        "instant": target.instant,
        "range": not target.instant,
        "legendFormat": target.legend or "__auto",
    }
    if target.table:
        out["format"] = "table"
    if target.exemplar:
        out["exemplar"] = True
    return out


def _panel_json(number: int, panel: Panel) -> dict[str, Any]:
    x, y, w, h = panel.grid
    defaults: dict[str, Any] = {
        "unit": panel.unit,
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
    }
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    options: dict[str, Any]
    if panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "auto", "textMode": "auto", "colorMode": "value", "graphMode": "none",
            "justifyMode": "auto", "wideLayout": True, "showPercentChange": False,
        }
    elif panel.kind == "bargauge":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True, "valueMode": "color",
            "namePlacement": "auto", "sizing": "auto", "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300,
        }
    elif panel.kind == "table":
        options = {"showHeader": True, "cellHeight": "sm"}
    else:
        options = {
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                              "spanNulls": False}
    options.update(panel.options)
    out: dict[str, Any] = {
        "id": number,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "pluginVersion": PLUGIN_VERSION,
        "targets": [_target(chr(ord("A") + i), t) for i, t in enumerate(panel.targets)],
    }
    if panel.transformations:
        out["transformations"] = list(panel.transformations)
    return out


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


def dashboard(config: StackConfig) -> dict[str, Any]:
    """The dashboard JSON, ready for file provisioning (no ``__inputs``: the datasource is a variable)."""
    anchor = promql.REQUESTS.name
    variables: list[dict[str, Any]] = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
            "options": [],
            "refresh": 1,
            "regex": "",
            "hide": 0,
            "includeAll": False,
            "multi": False,
        },
        _variable("service", "Service", f"label_values({anchor}, {promql.SERVICE})"),
    ]
    for name in ("provider", "model", "feature", "team"):
        variables.append(
            _variable(name, name.capitalize(),
                      f'label_values({anchor}{{{promql.SERVICE}=~"$service"}}, {FILTERS[name]})')
        )
    return {
        "uid": UID,
        "title": TITLE,
        "description": "Spend, tokens, cache, latency and budgets of LLM calls instrumented by otel-llmcost.",
        "tags": ["otel-llmcost", "llm", "cost"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [],
        "annotations": {"list": [_builtin_annotation()]},
        "templating": {"list": variables},
        "panels": [_panel_json(i + 1, p) for i, p in enumerate(panels(config))],
    }


def _builtin_annotation() -> dict[str, Any]:
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }


def queries(config: StackConfig) -> list[tuple[str, Target]]:
    """(panel title, target) of every panel query, for the end-to-end test."""
    return [(p.title, t) for p in panels(config) for t in p.targets]


__all__: Sequence[str] = ("FILTERS", "Panel", "Target", "dashboard", "panels", "queries")
