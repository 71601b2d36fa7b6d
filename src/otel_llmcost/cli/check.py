"""``otel-llmcost check``: validates the configuration and says what the instrumentation will do when launched.

Each check is a small function from the environment to findings (ok, info, warn, fail); ``CHECKS`` lists
them in the order printed. The SDK check runs the real instrumentor against no-op providers and undoes it,
so "will be patched" is what ``instrument()`` patches, not a guess. Any failure exits with code 2.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import click

from .. import names
from ..config import DIGEST_OPTIONS, OPTIONS, DigestSettings, Settings, unknown_variables
from ..errors import ConfigError
from ..pricing import PriceOverrides
from . import output
from .lookup import PRICE_FILE_HELP
from .output import plural

Status = Literal["ok", "info", "warn", "fail"]
_MARKS = {"ok": "[green]✓[/green]", "info": "[dim]·[/dim]", "warn": "[yellow]![/yellow]", "fail": "[red]✗[/red]"}
# The SDKs this package instruments, with the oldest version supported.
SDKS = (("openai", "openai", "1.40"), ("anthropic", "anthropic", "0.77"))
_SIGNALS = (("traces", "OTEL_TRACES_EXPORTER"), ("metrics", "OTEL_METRICS_EXPORTER"))
# The values of OTEL_EXPORTER_OTLP_PROTOCOL (and of its per-signal variables) in the OpenTelemetry specification.
OTLP_PROTOCOLS = ("grpc", "http/protobuf", "http/json")


@dataclass(frozen=True)
class Finding:
    status: Status
    topic: str
    detail: str


@dataclass(frozen=True)
class Inputs:
    """What the checks read: the environment and the command's options."""

    env: Mapping[str, str]
    price_file: str | None = None
    verbose: bool = False

    @cached_property
    def loaded(self) -> Settings | ConfigError:
        """The settings instrument() would read (the same model, the same variables), or why it would refuse."""
        try:
            overrides = {"price_file": self.price_file} if self.price_file else None
            return Settings.load(overrides, env=self.env, warn_unknown=False)  # check_settings reports them
        except ConfigError as exc:
            return exc

    def settings(self) -> Settings:
        loaded = self.loaded
        if isinstance(loaded, ConfigError):
            raise loaded
        return loaded


Check = Callable[[Inputs], list[Finding]]
_AFTER_SETTINGS = "not checked: fix the settings above first"


def check_settings(inputs: Inputs) -> list[Finding]:
    """Every OTEL_LLMCOST_* variable is a setting (instrument() only warns of the others) and every value valid."""
    findings = [Finding("fail", "settings", message) for message in unknown_variables(inputs.env)]
    loaded = inputs.loaded
    if isinstance(loaded, ConfigError):
        findings.append(Finding("fail", "settings", str(loaded)))
    try:
        DigestSettings.load(inputs.env)  # `otel-llmcost digest`'s variables (SMTP, Slack, trace links)
    except ConfigError as exc:
        findings.append(Finding("fail", "settings", str(exc)))
    if findings:
        return findings
    every = (*OPTIONS.values(), *DIGEST_OPTIONS.values())
    given = [option.env for option in every if option.env and inputs.env.get(option.env, "").strip()]
    detail = f"valid ({', '.join(given)})" if given else "defaults (no OTEL_LLMCOST_* variable set)"
    return [Finding("ok", "settings", detail)]


def check_prices(inputs: Inputs) -> list[Finding]:
    """The price override file parses; the bundled price data loads."""
    import genai_prices
    from genai_prices.data_snapshot import get_snapshot

    snapshot = get_snapshot()
    count = sum(len(p.models) for p in snapshot.providers)
    bundled = Finding(
        "ok", "prices", f"bundled genai-prices {genai_prices.__version__}: {count:,} models of "
        f"{len(snapshot.providers)} providers"
    )
    loaded = inputs.loaded
    if isinstance(loaded, ConfigError):
        return [bundled, Finding("info", "price file", _AFTER_SETTINGS)]
    price_file = loaded.price_file
    if not price_file:
        return [bundled, Finding("info", "price file", f"none (set {names.ENV_PRICE_FILE} to add or replace prices)")]
    try:
        overrides = PriceOverrides.load(price_file)
    except ConfigError as exc:
        return [bundled, Finding("fail", "price file", str(exc))]
    counts = f"{plural(len(overrides.entries), 'model')}, {plural(len(overrides.aliases), 'alias', 'aliases')}"
    detail = f"{price_file}: {counts}; they win"
    return [bundled, Finding("ok", "price file", detail)]


def _patched_methods(inputs: Inputs) -> list[tuple[Any, str]] | None:
    """(owner, attribute) of every method instrument() patches, from a real run on no-op providers."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    from ..instrumentor import LLMCostInstrumentor

    instrumentor = LLMCostInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:  # already on in this process: report what it did
        return list(getattr(instrumentor, "_patched", []))
    try:
        options: dict[str, Any] = {"price_file": inputs.price_file} if inputs.price_file else {}
        options["ledger"] = ""  # no ledger writer: it would connect, migrate and spill (check_ledger only looks)
        instrumentor.instrument(tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), **options)
    except ConfigError:
        return None  # reported by check_settings / check_prices
    try:
        instrumentor.import_targets()  # an app's imports patch them one by one; here, all at once
        return list(getattr(instrumentor, "_patched", []))
    finally:
        instrumentor.uninstrument()


def _sdk_of(owner: Any) -> str:
    module = owner.__name__ if isinstance(owner, type(os)) else getattr(owner, "__module__", "")
    return str(module).split(".", 1)[0]


def _method_name(owner: Any, attribute: str) -> str:
    if isinstance(owner, type(os)):
        return f"{owner.__name__}.{attribute}"
    return f"{owner.__module__}.{owner.__qualname__}.{attribute}"


def check_sdks(inputs: Inputs) -> list[Finding]:
    """Which SDKs are installed, supported, and how many of their methods instrument() patches."""
    patched = _patched_methods(inputs)
    findings = []
    for distribution, module, oldest in SDKS:
        if importlib.util.find_spec(module) is None:
            findings.append(Finding("info", distribution, "not installed: nothing to patch"))
            continue
        version = metadata.version(distribution)
        if _older(version, oldest):
            findings.append(Finding("warn", distribution, f"{version} is older than {oldest}, the oldest supported"))
            continue
        if patched is None:
            findings.append(Finding("info", distribution, f"{version}: fix the problems above to see what is patched"))
            continue
        methods = sorted(_method_name(o, a) for o, a in patched if _sdk_of(o) == module)
        status: Status = "ok" if methods else "warn"
        detail = f"{version}: {plural(len(methods), 'method')} will be patched"
        if inputs.verbose and methods:
            detail += "\n    " + "\n    ".join(methods)
        findings.append(Finding(status, distribution, detail))
    return findings


def _older(version: str, oldest: str) -> bool:
    def numbers(text: str) -> tuple[int, ...]:
        parts = []
        for part in text.split(".")[:3]:
            digits = "".join(ch for ch in part if ch.isdigit())
            parts.append(int(digits or 0))
        return tuple(parts)

    return numbers(version) < numbers(oldest)


def check_launcher(inputs: Inputs) -> list[Finding]:
    """opentelemetry-instrument finds the instrumentor, and nothing in the environment switches it off."""
    env = inputs.env
    found = [e for e in metadata.entry_points(group="opentelemetry_instrumentor") if e.name == "llmcost"]
    findings = [
        Finding("ok", "launcher", "opentelemetry-instrument will load the 'llmcost' instrumentor")
        if found
        else Finding("fail", "launcher", "the 'llmcost' entry point is missing: reinstall otel-llmcost")
    ]
    disabled = [d.strip() for d in env.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")]
    if "llmcost" in disabled:
        findings.append(Finding("warn", "launcher", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS turns llmcost off"))
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        findings.append(Finding("warn", "launcher", "OTEL_SDK_DISABLED=true: no span or metric will be recorded"))
    return findings


def _endpoint(env: Mapping[str, str], signal: str, protocol: str) -> str:
    specific = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if specific:
        return specific
    general = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if general:
        return general if protocol == "grpc" else f"{general.rstrip('/')}/v1/{signal}"
    return "http://localhost:4317" if protocol == "grpc" else f"http://localhost:4318/v1/{signal}"


def _protocol(env: Mapping[str, str], signal: str, default: str) -> tuple[str, str]:
    """(the variable that sets it, the OTLP protocol) of a signal: its own variable, else the general one."""
    for variable in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = env.get(variable, "").strip()
        if value:
            return variable, value
    return "OTEL_EXPORTER_OTLP_PROTOCOL", default


def check_exporters(inputs: Inputs) -> list[Finding]:
    """Where opentelemetry-instrument sends traces and metrics, and whether those exporters are installed."""
    env = inputs.env
    distro = importlib.util.find_spec("opentelemetry.distro") is not None
    findings = []
    reported: set[str] = set()  # a bad OTEL_EXPORTER_OTLP_PROTOCOL is one problem, though both signals read it
    for signal, variable in _SIGNALS:
        raw = env.get(variable)
        if raw is None and not distro:
            findings.append(Finding("warn", signal, f"{variable} unset and opentelemetry-distro not installed: "
                                    "opentelemetry-instrument exports nothing (pip install opentelemetry-distro)"))
            continue
        chosen = [n.strip() for n in (raw if raw is not None else "otlp").split(",") if n.strip()]
        if chosen == ["none"]:
            findings.append(Finding("warn", signal, f"{variable}=none: not exported"))
            continue
        installed = sorted(e.name for e in metadata.entry_points(group=f"opentelemetry_{signal}_exporter"))
        for name in chosen:
            if name not in installed:
                findings.append(Finding("fail", signal, f"{variable}: no exporter {name!r} installed; "
                                        f"installed: {', '.join(installed)}"))
                continue
            detail = name + ("" if raw is not None else " (opentelemetry-distro's default)")
            if name.startswith("otlp"):
                variable, protocol = _protocol(env, signal, "grpc" if name != "otlp_proto_http" else "http/protobuf")
                if protocol not in OTLP_PROTOCOLS:
                    if variable not in reported:
                        reported.add(variable)
                        findings.append(Finding("fail", signal, f"{variable}={protocol!r} is not an OTLP protocol; "
                                                f"valid: {', '.join(OTLP_PROTOCOLS)}"))
                    continue
                endpoint = _endpoint(env, signal, "grpc" if name == "otlp_proto_grpc" else protocol)
                parts = urlsplit(endpoint)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    findings.append(Finding("fail", signal, f"OTLP endpoint {endpoint!r} is not an http(s) URL"))
                    continue
                detail += f" over {protocol} to {endpoint}"
            findings.append(Finding("ok", signal, detail))
    return findings


def check_budgets(inputs: Inputs) -> list[Finding]:
    """The budget file parses and the spend store answers, as instrument() will need them at start-up."""
    from ..budgets.loader import load_budgets
    from ..budgets.stores import open_store

    settings = inputs.loaded
    if isinstance(settings, ConfigError):
        return [Finding("info", "budgets", _AFTER_SETTINGS)]
    findings: list[Finding] = []
    budget_file = settings.budget_file
    if not budget_file:
        findings.append(Finding("info", "budgets", f"none (set {names.ENV_BUDGET_FILE} to name a budget file)"))
    else:
        try:
            budgets = load_budgets(budget_file)
        except ConfigError as exc:
            return [Finding("fail", "budgets", str(exc))]
        listed = ", ".join(b.describe() for b in budgets)
        findings.append(Finding("ok", "budgets", f"{budget_file}: {plural(len(budgets), 'budget')}: {listed}"))
    from ..budgets.redis_store import redacted

    url = redacted(settings.budget_store)  # shown without its password
    try:
        store = open_store(settings.budget_store, settings.budget_store_timeout)
        try:
            store.spend([], time.time())  # one round trip: a Redis that does not answer fails here
        finally:
            store.close()
    except Exception as exc:  # ConfigError, or the store's own connection error
        return [*findings, Finding("fail", "store", f"{names.ENV_BUDGET_STORE}={url}: {exc}")]
    return [*findings, Finding("ok", "store", f"budget spend store {url}")]


def check_expensive(inputs: Inputs) -> list[Finding]:
    """The expensive-request thresholds as ``instrument()`` will combine them (``OTEL_LLMCOST_EXPENSIVE_REQUEST_USD*``
    and the budget file's ``expensive_request_usd``): a conflict between the two fails here as it would at start-up."""
    from ..budgets.loader import load_budget_file
    from ..expensive import build

    settings = inputs.loaded
    if isinstance(settings, ConfigError):
        return [Finding("info", "expensive", _AFTER_SETTINGS)]
    if settings.budget_file:
        try:
            load_budget_file(settings.budget_file)
        except ConfigError:  # said once, under budgets
            return [Finding("info", "expensive", "not checked: fix the budget file above first")]
    try:
        found = build(settings)
    except ConfigError as exc:
        return [Finding("fail", "expensive", str(exc))]
    if found is None:
        return [Finding("info", "expensive", f"no threshold (set {names.ENV_EXPENSIVE_REQUEST_USD}, or "
                                              "expensive_request_usd in the budget file)")]
    told = [f"any call over ${found.default}"] if found.default is not None else []
    told += [f"{feature} calls over ${amount}" for feature, amount in sorted(found.by_feature.items())]
    return [Finding("ok", "expensive", "told at once (span event, WARNING, callbacks): " + ", ".join(told))]


def check_ledger(inputs: Inputs) -> list[Finding]:
    """The PostgreSQL ledger (``OTEL_LLMCOST_LEDGER``) answers, and its schema version; rows left in the spill
    file. Read-only: the schema is migrated by the instrumented process at start-up, never by ``check``."""
    settings = inputs.loaded
    if isinstance(settings, ConfigError):
        return [Finding("info", "ledger", _AFTER_SETTINGS)]
    if settings.ledger is None:
        sqlite = settings.budget_store.startswith("sqlite:")
        kept = (f"the SQLite budget store keeps it ({settings.budget_store})" if sqlite else
                f"none (set {names.ENV_LEDGER}=postgresql://..., or {names.ENV_BUDGET_STORE}=sqlite:PATH)")
        return [Finding("info", "ledger", kept)]
    from ..ledgers import postgres
    from ..ledgers.spill import Spill, default_path

    url = postgres.safe_url(settings.ledger)  # shown without its password
    try:
        conn = postgres.connect(settings.ledger, 5.0)
    except (ConfigError, postgres.PostgresUnavailable) as exc:  # psycopg missing, or the database did not answer
        return [Finding("fail", "ledger", f"{names.ENV_LEDGER}={url}: {exc}")]
    try:
        version = _ledger_version(conn)
    except Exception as exc:  # the server answered but refused the query (permissions, ...)
        return [Finding("fail", "ledger", f"{names.ENV_LEDGER}={url}: {postgres._one_line(exc)}")]
    finally:
        conn.close()
    if version == 0:
        findings = [Finding("ok", "ledger", f"{url} answers; no schema yet: the first instrumented process creates "
                                            f"it (version {postgres.LATEST})")]
    elif version < postgres.LATEST:
        findings = [Finding("ok", "ledger", f"{url} answers; schema version {version}, migrated to "
                                            f"{postgres.LATEST} by the first instrumented process")]
    elif version > postgres.LATEST:
        findings = [Finding("warn", "ledger", f"{url} answers; schema version {version} is newer than this "
                                              f"otel-llmcost knows ({postgres.LATEST}): upgrade otel-llmcost")]
    else:
        findings = [Finding("ok", "ledger", f"{url} answers; schema version {version}")]
    spill_path = Path(settings.ledger_spill).expanduser() if settings.ledger_spill else default_path()
    if spill_path.is_file():  # never created by check
        spill = Spill(spill_path)
        try:
            waiting = spill.count(url)
        except Exception as exc:  # not a spill file
            return [*findings, Finding("fail", "spill", f"{spill_path}: {exc}")]
        finally:
            spill.close()
        if waiting:
            findings.append(Finding("warn", "spill", f"{spill_path}: {plural(waiting, 'row')} waiting for the "
                                                     "ledger (replayed by the next instrumented process)"))
    return findings


def _ledger_version(conn: Any) -> int:
    """The schema version recorded in the ledger database (0: no otel-llmcost schema there yet)."""
    from ..ledgers import postgres

    with conn.transaction():
        found = conn.execute("SELECT to_regclass(%s)", (postgres.VERSION_TABLE,)).fetchone()
        if not found or found[0] is None:
            return 0
        row = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {postgres.VERSION_TABLE}").fetchone()
    return int(row[0]) if row else 0


# In the order printed.
CHECKS: list[Check] = [check_settings, check_prices, check_budgets, check_expensive, check_ledger, check_sdks,
                       check_launcher, check_exporters]


@click.command()
@click.option("--price-file", metavar="PATH", help=PRICE_FILE_HELP)
@click.option("--verbose", "-v", is_flag=True, help="List every method that will be patched.")
@click.pass_context
def check(ctx: click.Context, price_file: str | None, verbose: bool) -> None:
    """Validate the configuration and show what the instrumentation will do when launched.

    Reads the environment as opentelemetry-instrument would; exits 2 when something is wrong.
    """
    inputs = Inputs(dict(os.environ), price_file, verbose)
    out = output.console()
    findings = [finding for run in CHECKS for finding in run(inputs)]
    width = max(len(f.topic) for f in findings)
    for finding in findings:
        line = f"{_MARKS[finding.status]} {finding.topic:<{width}}  {finding.detail}"
        out.print(line, highlight=False, soft_wrap=True)
    failures = [f for f in findings if f.status == "fail"]
    if failures:
        out.print(f"\n[red]{len(failures)} problem{'s' if len(failures) > 1 else ''}[/red]: fix "
                  f"{'them' if len(failures) > 1 else 'it'} before launching.")
        ctx.exit(2)
    out.print("\n[green]Ready[/green]: launch with opentelemetry-instrument, or call "
              "LLMCostInstrumentor().instrument().")
