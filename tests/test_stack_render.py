"""The rendered stack files: equal to a fresh render, built from names.py, valid for each tool that reads them.

Dashboards and Grafana rules are checked against Grafana's schema (grafana-foundation-sdk models), the
Grafana alerting files structurally, alertmanager.yml by amtool, the rule file and prometheus.yml by
promtool, docker-compose.yaml by its mounts and pinned images, the collector files by their pipelines.
"""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from grafana_foundation_sdk.models.alerting import ContactPoint, NotificationPolicy, Rule
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana_schema import roundtrip_problems, type_problems
from otel_llmcost import names
from otel_llmcost.cli.main import cli
from otel_llmcost.errors import ConfigError
from otel_llmcost.stack import StackConfig, load, parse, promql, render
from otel_llmcost.stack import files as render_module
from otel_llmcost.stack.files import DEFAULT_CONFIG
from stack_servers import AMTOOL, PROMTOOL, need

ROOT = Path(__file__).parent.parent
RENDERED_DIRS = ("collector", "grafana", "prometheus", "tempo")


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return render(load(ROOT / "llmcost-stack.yaml"), (ROOT / "llmcost-stack.yaml").read_text(encoding="utf-8"))


def _yaml(files: dict[str, str], path: str) -> Any:
    return yaml.safe_load(files[path])


# --- the committed files ------------------------------------------------------------------------------
def test_committed_files_equal_a_fresh_render(files: dict[str, str]) -> None:
    stale = [path for path, text in files.items() if (ROOT / path).read_text(encoding="utf-8") != text]
    assert not stale, f"run `otel-llmcost stack render --out .`: {stale} differ"
    committed = {str(p.relative_to(ROOT)) for d in RENDERED_DIRS for p in (ROOT / d).rglob("*") if p.is_file()}
    assert committed <= set(files), f"files no render produces: {sorted(committed - set(files))}"


def test_the_default_config_file_says_the_defaults() -> None:
    assert parse(yaml.safe_load(DEFAULT_CONFIG)) == StackConfig()
    assert parse(None) == StackConfig()


def test_cli_renders_the_tree(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["stack", "render", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "docker-compose.yaml").is_file() and (tmp_path / "llmcost-stack.yaml").is_file()
    config = tmp_path / "llmcost-stack.yaml"
    config.write_text(DEFAULT_CONFIG.replace("daily_usd: 100 ", "daily_usd: 250 "))
    result = CliRunner().invoke(cli, ["stack", "render", "--config", str(config), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "> 250" in (tmp_path / "prometheus/rules/otel-llmcost.rules.yaml").read_text()
    assert "daily_usd: 250" in config.read_text()  # the config itself is left as the user wrote it
    # Without --config, the directory's own limits file is used, not overwritten by the defaults.
    (tmp_path / "prometheus/rules/otel-llmcost.rules.yaml").unlink()
    result = CliRunner().invoke(cli, ["stack", "render", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "> 250" in (tmp_path / "prometheus/rules/otel-llmcost.rules.yaml").read_text()
    assert "daily_usd: 250" in config.read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("limits: [{name: all, daily_usd: -5}]", "line 1: daily_usd: -5 is not a positive amount in USD"),
        ("warning_ratio: 0.8\nbudget: 5\n", "line 2: budget: unknown key in the stack config"),
        ("expensive_request_usd: 0.7\n", "expensive_request_usd: 0.7 is not a request-cost bucket bound"),
        ("evaluation_interval: 15s\n", "evaluation_interval: '15s' must be positive and a multiple of 10s"),
        ("limits:\n  - name: a\n    daily_usd: 1\n  - name: a\n    daily_usd: 2\n", "scope names repeat"),
        ("limits:\n  - name: a\n    match: {vendor: openai}\n    daily_usd: 1\n", "line 3: vendor: not a dimension"),
        ("limits:\n  - name: a\n", "limit 'a' sets neither daily_usd nor monthly_usd"),
        ("limits: [\n", "not valid YAML"),
    ],
)
def test_a_bad_config_names_the_file_line_and_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "llmcost-stack.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load(path)
    assert str(path) in str(error.value) and message in str(error.value) and "Fix:" in str(error.value)
    result = CliRunner().invoke(cli, ["stack", "render", "--config", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and message in result.output


# --- names come from names.py -------------------------------------------------------------------------
def test_series_names_are_built_from_names_py_and_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for series in promql.ALL_SERIES:
        assert series.name == names.prometheus_name(series.metric, series.unit, series.kind)
        assert f"`{series.name}`" in readme, f"README lacks {series.name}"


def test_series_units_and_kinds_are_those_the_plugin_exports(captured: Any) -> None:
    """The instruments metrics.py registers, read back from the SDK: a unit change there must change here."""
    from openai_payloads import MESSAGES, FakeOpenAI, Tokens

    api = FakeOpenAI()
    client = api.client()
    api.tokens = Tokens(prompt=1_000, cached=200, completion=100)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=False)
    for _ in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True}):
        pass
    from otel_llmcost.guard import internal_error

    internal_error("units-test")
    exported: dict[str, tuple[str, str]] = {}
    for rm in captured.metrics().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = {"Sum": "counter", "Histogram": "histogram", "Gauge": "gauge"}[type(metric.data).__name__]
                exported[metric.name] = (metric.unit or "", kind)
    ours = {s.metric: (s.unit, s.kind) for s in promql.ALL_SERIES}
    for metric, shape in exported.items():
        assert ours.get(metric) == shape, (metric, shape, ours.get(metric))
    assert {names.METRIC_COST, names.METRIC_REQUESTS, names.METRIC_REQUEST_COST} <= exported.keys()


def _promql_texts(files: dict[str, str]) -> list[str]:
    texts = [t["expr"] for p in json.loads(files[render_module.DASHBOARD_FILE])["panels"] for t in p["targets"]]
    texts += [r["expr"] for g in _yaml(files, render_module.RULES_FILE)["groups"] for r in g["rules"]]
    for group in _yaml(files, render_module.GRAFANA_RULES_FILE)["groups"]:
        texts += [d["model"]["expr"] for r in group["rules"] for d in r["data"] if "expr" in d["model"]]
    return texts


def test_every_metric_and_label_the_stack_queries_comes_from_names_py(files: dict[str, str]) -> None:
    metrics = {s.name for s in promql.ALL_SERIES}
    metrics |= {n + suffix for n in metrics for suffix in ("_bucket", "_count", "_sum")}
    labels = {promql.label(v) for k, v in vars(names).items() if k.isupper() and isinstance(v, str) and "." in v}
    recorded = {"llmcost:spend_today:usd", "llmcost:spend_this_month:usd", "llmcost:spend_24h:usd",
                "llmcost:spend_daily_baseline_7d:usd"}
    allowed = metrics | labels | recorded | {"job", "instance", "le", "llmcost_scope", "llmcost_part"}
    for text in _promql_texts(files):
        for token in re.findall(r"\b(?:llmcost|gen_ai|user)[a-zA-Z0-9_:]*", text):
            assert token in allowed, f"{token!r} is neither a metric nor a label from names.py: {text[:100]}"


# --- Grafana ------------------------------------------------------------------------------------------
def test_dashboard_matches_grafanas_schema(files: dict[str, str]) -> None:
    data = json.loads(files[render_module.DASHBOARD_FILE])
    model = Dashboard.from_json(data)
    problems = roundtrip_problems(data, model) + type_problems(model)
    assert not problems, "\n".join(problems)
    # Grid: 24 columns, no overlaps; every panel queries the datasource variable.
    taken: set[tuple[int, int]] = set()
    for panel in data["panels"]:
        g = panel["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_dashboard_has_the_filters_and_no_vendor_filter(files: dict[str, str]) -> None:
    data = json.loads(files[render_module.DASHBOARD_FILE])
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert list(variables) == ["datasource", "service", "provider", "model", "feature", "team"]
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("service", "provider", "model", "feature", "team"):
        # "All" must match series without the label (unattributed calls), so it is .* not a value list.
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    assert "__inputs" not in data and "DS_PROMETHEUS" not in json.dumps(data)
    assert "gen_ai_system" not in json.dumps(data)  # the vendor label some SDKs add: never filtered on
    money = [p for p in data["panels"]
             if any(word in p["title"].lower() for word in ("spend", "saved", "cost per", "budgets:"))]
    assert money and all(p["fieldConfig"]["defaults"]["unit"] == "currencyUSD" for p in money)


def _datasource_uids(files: dict[str, str]) -> set[str]:
    return {d["uid"] for d in _yaml(files, render_module.DATASOURCES_FILE)["datasources"]}


def _seconds(duration: str) -> float:
    return promql.seconds(duration) if duration not in ("0", "0s") else 0


def test_grafana_alert_rules_are_consistent(files: dict[str, str]) -> None:
    data = _yaml(files, render_module.GRAFANA_RULES_FILE)
    assert data["apiVersion"] == 1
    uids = _datasource_uids(files) | {"__expr__"}
    seen: set[str] = set()
    for group in data["groups"]:
        assert group["folder"] and group["name"] and group["orgId"] == 1
        assert _seconds(group["interval"]) % 10 == 0
        for rule in group["rules"]:
            model = Rule.from_json(rule)
            problems = roundtrip_problems(rule, model, rule["uid"]) + type_problems(model, rule["uid"])
            assert not problems, "\n".join(problems)
            assert rule["uid"] not in seen and 1 <= len(rule["uid"]) <= 40
            seen.add(rule["uid"])
            refs = [d["refId"] for d in rule["data"]]
            assert len(refs) == len(set(refs)) and rule["condition"] in refs
            assert _seconds(rule["for"]) % _seconds(group["interval"]) == 0
            for query in rule["data"]:
                assert query["datasourceUid"] in uids, query
                assert query["model"]["refId"] == query["refId"]
                if query["datasourceUid"] == "__expr__":
                    source = query["model"].get("expression", "")
                    used = re.findall(r"\$([A-Z_]+)", source) if query["model"]["type"] == "math" else [source]
                    assert used and all(u in refs for u in used), (rule["uid"], source)
                else:
                    assert query["relativeTimeRange"]["from"] > 0 and query["model"]["instant"] is True
            # Labels and titles are env-interpolated by Grafana's provisioning: no $ in them.
            assert "$" not in rule["title"] and all("$" not in v for v in rule["labels"].values())


def test_grafana_contact_points_policies_and_provisioning(files: dict[str, str]) -> None:
    points = _yaml(files, render_module.CONTACT_POINTS_FILE)
    receivers = [r for cp in points["contactPoints"] for r in cp["receivers"]]
    assert {r["type"] for r in receivers} == {"slack", "email"}
    assert len({r["uid"] for r in receivers}) == len(receivers)
    for cp in points["contactPoints"]:
        for receiver in cp["receivers"]:
            model = ContactPoint.from_json({"name": cp["name"], "uid": receiver["uid"], "type": receiver["type"],
                                            "settings": receiver["settings"]})
            assert not type_problems(model)
    settings = {r["type"]: r["settings"] for r in receivers}
    assert settings["slack"]["url"] == "${SLACK_WEBHOOK_URL}" and settings["email"]["addresses"] == "${ALERT_EMAIL_TO}"
    compose = _yaml(files, render_module.COMPOSE_FILE)
    env = compose["services"]["grafana"]["environment"]
    for var in ("SLACK_WEBHOOK_URL", "SLACK_CHANNEL", "ALERT_EMAIL_TO"):
        assert re.fullmatch(r"\$\{" + var + r":-[^}]+\}", env[var]), f"{var} needs a non-empty default"
    policies = _yaml(files, render_module.POLICIES_FILE)["policies"]
    assert [p["receiver"] for p in policies] == [cp["name"] for cp in points["contactPoints"]]
    for policy in policies:
        assert not type_problems(NotificationPolicy.from_json(policy))
    provider = _yaml(files, render_module.PROVIDER_FILE)["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"
    datasources = _yaml(files, render_module.DATASOURCES_FILE)["datasources"]
    assert {d["uid"]: d["type"] for d in datasources} == {
        "prometheus": "prometheus", "tempo": "tempo", "alertmanager": "alertmanager"}
    assert "$" not in files[render_module.DATASOURCES_FILE]  # a literal $ would be read as an env var


# --- Prometheus, Alertmanager -------------------------------------------------------------------------
def test_prometheus_rule_file_and_config_pass_promtool(files: dict[str, str], tmp_path: Path) -> None:
    binary = need(PROMTOOL, "promtool")
    rules = tmp_path / "rules.yaml"
    rules.write_text(files[render_module.RULES_FILE])
    result = subprocess.run([binary, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    config = tmp_path / "prometheus.yml"
    config.write_text(files["prometheus/prometheus.yml"])
    result = subprocess.run([binary, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    scrape = _yaml(files, "prometheus/prometheus.yml")["scrape_configs"][0]
    assert scrape["honor_labels"] is True  # job/instance from service.name/service.instance.id


def test_alertmanager_config_passes_amtool_and_routes_to_slack_and_email(files: dict[str, str],
                                                                         tmp_path: Path) -> None:
    binary = need(AMTOOL, "amtool")
    config = tmp_path / "alertmanager.yml"
    config.write_text(files[render_module.ALERTMANAGER_FILE])
    result = subprocess.run([binary, "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    routed = subprocess.run(
        [binary, "config", "routes", "test", f"--config.file={config}", "alertname=LLMSpendDailyOverLimit"],
        capture_output=True, text=True, timeout=60)
    assert routed.returncode == 0 and routed.stdout.strip() == "llmcost", routed.stdout + routed.stderr
    data = _yaml(files, render_module.ALERTMANAGER_FILE)
    (receiver,) = data["receivers"]
    assert receiver["slack_configs"] and receiver["email_configs"]
    assert {(tuple(r["source_matchers"]), tuple(r["target_matchers"])) for r in data["inhibit_rules"]} == {
        (('alertname="LLMSpendDailyOverLimit"',), ('alertname="LLMSpendDailyWarning"',)),
        (('alertname="LLMSpendMonthlyOverLimit"',), ('alertname="LLMSpendMonthlyWarning"',)),
    }


def test_limits_are_rendered_into_both_rule_formats() -> None:
    config = parse({"limits": [{"name": "all", "daily_usd": 123, "monthly_usd": 4567}], "warning_ratio": 0.5})
    out = render(config)
    prom = out[render_module.RULES_FILE]
    grafana = _yaml(out, render_module.GRAFANA_RULES_FILE)
    assert "> 123\n" in prom or "> 123 " in prom or prom.count("> 123") >= 1
    assert "> 61.5" in prom and "> 4567" in prom and "> 2283.5" in prom
    thresholds = {r["uid"]: next(d["model"].get("conditions") for d in r["data"] if d["refId"] == "C")
                  for r in grafana["groups"][0]["rules"]}
    assert thresholds["llmcost-daily-over-all"] == [{"evaluator": {"type": "gt", "params": [123.0]}}]
    assert thresholds["llmcost-daily-warning-all"] == [{"evaluator": {"type": "within_range", "params": [61.5, 123.0]}}]
    assert Decimal("4567") * Decimal("0.5") == Decimal("2283.5")


# --- compose and collector ----------------------------------------------------------------------------
def test_compose_mounts_exist_and_images_are_pinned(files: dict[str, str]) -> None:
    compose = _yaml(files, render_module.COMPOSE_FILE)
    named = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: {image} is not pinned"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in named, f"{name} mounts undeclared volume {source}"
    collector = compose["services"]["otel-collector"]
    for arg in collector["command"]:
        mounted = arg.split("=", 1)[1].replace("/etc/otelcol-contrib/", "collector/")
        assert (ROOT / mounted).is_file(), arg
    assert {"4317:4317", "4318:4318"} <= set(collector["ports"])
    assert "--storage.tsdb.retention.time=45d" in compose["services"]["prometheus"]["command"]
    assert render_module.COLLECTOR_IMAGE.endswith(":0.147.0")


def test_collector_pipelines_and_redaction(files: dict[str, str]) -> None:
    base = _yaml(files, "collector/config.yaml")
    redact = _yaml(files, "collector/redact.yaml")
    assert base["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert base["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    for overlay in (base, redact, {**base, "service": redact["service"]}):
        for pipeline in overlay["service"]["pipelines"].values():
            processors = pipeline["processors"]
            assert processors[0] == "memory_limiter" and processors[-1] == "batch"
            assert all(p in base["processors"] or p in redact["processors"] for p in processors)
    assert base["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus"]
    assert base["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc/tempo"]  # name of 0.144+
    statements = json.dumps(redact["processors"]["transform/redact"])
    for attribute in (names.GEN_AI_INPUT_MESSAGES, names.GEN_AI_OUTPUT_MESSAGES, names.GEN_AI_SYSTEM_INSTRUCTIONS):
        assert f'delete_key(span.attributes, \\"{attribute}\\")' in statements
    assert f'SHA256(Concat([span.attributes[\\"{names.USER_ID}\\"]' in statements
    assert f'SHA256(Concat([datapoint.attributes[\\"{names.USER_ID}\\"]' in statements
    prom3 = _yaml(files, "collector/prometheus3.yaml")
    assert prom3["exporters"]["otlp_http/prometheus"]["endpoint"].endswith("/api/v1/otlp")


# --- the health panel reads 0 on a healthy system -------------------------------------------------------
class _Exposition(http.server.BaseHTTPRequestHandler):
    """/metrics with one instrumentation-error series (stage "price") that grows by one at every scrape."""

    scrapes = 0

    def do_GET(self) -> None:
        type(self).scrapes += 1
        name = promql.INSTRUMENTATION_ERRORS.name
        body = f'# TYPE {name} counter\n{name}{{{promql.STAGE}="price"}} {type(self).scrapes}\n'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _health_queries() -> list[str]:
    from otel_llmcost.stack import dashboards

    panel = next(p for p in dashboards.panels(StackConfig()) if p.title == "otel-llmcost health")
    exprs = [t.expr for t in panel.targets]
    for var in dashboards.FILTERS:
        exprs = [e.replace(f"${var}", ".*") for e in exprs]
    return [e.replace("$__range", "1h") for e in exprs]


def test_health_panel_reads_zero_without_error_series_and_the_errors_when_there_are(tmp_path: Path) -> None:
    """A healthy process exports no instrumentation-error series: the panel must read 0, not "No data"."""
    from processes import free_port, poll, prometheus_query, running_prometheus

    errors, folded, evicted = _health_queries()
    (tmp_path / "empty").mkdir()
    (tmp_path / "errors").mkdir()
    with running_prometheus(tmp_path / "empty", f"127.0.0.1:{free_port()}") as prometheus:  # nothing to scrape
        assert [(s["metric"], s["value"][1]) for s in prometheus_query(prometheus, errors)] == [
            ({promql.STAGE: "any"}, "0")
        ]
        assert [(s["metric"], s["value"][1]) for s in prometheus_query(prometheus, folded)] == [({}, "0")]
        assert [(s["metric"], s["value"][1]) for s in prometheus_query(prometheus, evicted)] == [({}, "0")]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Exposition)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with running_prometheus(tmp_path / "errors", f"127.0.0.1:{server.server_address[1]}") as prometheus:
            def grown() -> list[dict[str, Any]] | None:
                found = prometheus_query(prometheus, errors)
                return found if any(float(s["value"][1]) > 0 for s in found) else None

            samples = poll(grown, 30, "two scrapes of the error counter")
            assert [s["metric"] for s in samples] == [{promql.STAGE: "price"}]  # no extra "any" 0 beside it
    finally:
        server.shutdown()
        server.server_close()
