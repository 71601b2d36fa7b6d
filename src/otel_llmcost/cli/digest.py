"""``otel-llmcost digest``: the spend summary of the last closed day or week, sent to Slack and by e-mail, once.

Reads the ledger (``--from sqlite:PATH`` or ``--from postgresql://...``: every call, exact) or Prometheus
(``--prometheus URL``), builds the digest (``otel_llmcost.digest``), and sends it to each ``--to`` that has not had
this period yet, recording each delivery in a state file (next to the ledger by default). A destination that fails
is one ``Error:`` line and exit code 1, and is not marked: the next run sends it there. ``--dry-run`` prints the
digest and sends nothing; ``--force`` sends again a period already sent.
"""

from __future__ import annotations

import contextlib
import time
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import click

from .. import names
from ..errors import ConfigError
from .params import LEDGER_HELP, LEDGER_METAVAR, http_url, ledger_url

STATE_FILE = "otel-llmcost-digest-sent.json"


def _destinations(values: tuple[str, ...], webhook: str | None) -> list[Any]:
    from ..digest.send import Destination

    found: list[Destination] = []
    for value in values:
        kind, _, target = value.partition(":")
        kind, target = kind.strip().lower(), target.strip()
        if kind == "slack":
            if not target:
                if webhook is None:
                    raise click.BadParameter(
                        f"'slack' needs a webhook: --to slack:https://hooks.slack.com/services/... or set "
                        f"{names.ENV_SLACK_WEBHOOK_URL}.", param_hint="--to")
                target = webhook
            else:
                http_url(target, "--to", "slack:https://hooks.slack.com/services/T000/B000/XXXX")
        elif kind == "email":
            _, address = parseaddr(target)
            local, at, domain = address.partition("@")
            if not at or not local or "." not in domain or address != target:
                raise click.BadParameter(f"{value!r} is not email:ADDRESS (e.g. email:llm-cost@example.com).",
                                         param_hint="--to")
        else:
            raise click.BadParameter(f"{value!r} is not slack:WEBHOOK_URL, slack or email:ADDRESS.", param_hint="--to")
        destination = Destination(kind, target)
        if destination.key not in {d.key for d in found}:
            found.append(destination)
    return found


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date such as 2026-12-04.", param_hint="--date") from None


@click.command()
@click.option("--period", type=click.Choice(["day", "week"]), default="day", show_default=True,
              help="A UTC calendar day, or an ISO week (Monday to Sunday, UTC).")
@click.option("--from", "source", metavar=LEDGER_METAVAR, help=LEDGER_HELP)
@click.option("--prometheus", metavar="URL", help="A Prometheus server's base URL, e.g. http://localhost:9090.")
@click.option("--to", "to", multiple=True, metavar="slack:WEBHOOK|slack|email:ADDRESS",
              help=f"Where to send it (repeatable). A bare 'slack' uses {names.ENV_SLACK_WEBHOOK_URL}.")
@click.option("--date", "day", metavar="YYYY-MM-DD",
              help="A day of the period to send (it must be over); default: the last closed period.")
@click.option("--budgets", "budget_file", metavar="FILE",
              help=f"Budget file to report on; default: {names.ENV_BUDGET_FILE}.")
@click.option("--state", "state_path", metavar="FILE",
              help=f"Where sent periods are recorded; default: next to the ledger, or ./{STATE_FILE}.")
@click.option("--anomaly-factor", default="2", show_default=True, metavar="N",
              help="The anomaly check fires when the day is above N times the 7 days' average.")
@click.option("--dry-run", is_flag=True, help="Print the digest; send nothing, record nothing.")
@click.option("--force", is_flag=True, help="Send even to destinations that already had this period.")
def digest(period: str, source: str | None, prometheus: str | None, to: tuple[str, ...], day: str | None,
           budget_file: str | None, state_path: str | None, anomaly_factor: str, dry_run: bool, force: bool) -> None:
    """Send the spend summary of the last closed day or week, once per period.

    \b
    otel-llmcost digest --period day --from sqlite:/var/lib/app/llmcost.db --to email:team@example.com
    otel-llmcost digest --period week --prometheus http://prometheus:9090 --to slack --dry-run
    """
    from ..config import DigestSettings, Settings
    from ..digest import build as digest_build
    from ..digest import render, send
    from ..digest.periods import containing, last_closed
    from ..digest.sources import LedgerSource, PrometheusSource, SourceError
    from ..digest.state import SentState, StateError

    if (source is None) == (prometheus is None):
        raise click.UsageError("say where the spend is recorded: --from sqlite:PATH, --from postgresql://... or "
                               "--prometheus URL (one).")
    try:
        settings = DigestSettings.load()
        budget_file = budget_file or Settings.load(warn_unknown=False).budget_file
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    destinations = _destinations(to, settings.slack_webhook_url)
    if not destinations and not dry_run:
        raise click.UsageError("say where to send it: --to slack:WEBHOOK, --to email:ADDRESS (or --dry-run).")
    if any(d.kind == "email" for d in destinations):
        missing = [env for env, value in ((names.ENV_SMTP_HOST, settings.smtp_host),
                                          (names.ENV_SMTP_FROM, settings.smtp_from)) if not value]
        if missing:
            raise click.UsageError(f"e-mail needs {' and '.join(missing)} (and {names.ENV_SMTP_USER}/"
                                   f"{names.ENV_SMTP_PASSWORD} for a server that wants a login).")
    try:
        factor = Decimal(anomaly_factor)
        if not factor.is_finite() or factor <= 0:
            raise InvalidOperation
    except InvalidOperation:
        raise click.BadParameter(f"{anomaly_factor!r} is not a number above 0.",
                                 param_hint="--anomaly-factor") from None

    source_impl: LedgerSource | PrometheusSource
    if source is not None:
        url = ledger_url(source)
        source_impl = LedgerSource(url)
        if url.startswith("sqlite:"):
            path = url[len("sqlite:"):]
            default_state = Path(path).with_name(Path(path).name + ".digest-sent.json")
        else:
            default_state = Path(STATE_FILE)
    else:
        assert prometheus is not None
        http_url(prometheus, "--prometheus", "http://localhost:9090")
        source_impl = PrometheusSource(prometheus)
        default_state = Path(STATE_FILE)
    now = time.time()
    chosen = _day(day)
    closed = last_closed(period, now) if chosen is None else containing(period, chosen)
    if closed.end > now:
        raise click.BadParameter(f"the {period} of {chosen} is not over yet (it ends "
                                 f"{datetime.fromtimestamp(closed.end, timezone.utc):%Y-%m-%d %H:%M} UTC).",
                                 param_hint="--date")
    budgets: list[Any] = []
    if budget_file:
        from ..budgets.loader import load_budgets

        try:
            budgets = load_budgets(budget_file)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--budgets") from None

    state = SentState(state_path or default_state)
    out = click.echo
    try:
        with contextlib.nullcontext() if dry_run else state.locked():  # a dry run leaves no file behind
            already = {} if dry_run else state.sent(closed.key)
            pending = [d for d in destinations if force or d.key not in already]
            if destinations and not pending and not dry_run:
                out(f"The digest of {closed.label} was already sent to "
                    f"{', '.join(d.shown for d in destinations)} (recorded in {state.path}); nothing sent. "
                    "--force sends it again.")
                return
            for destination in destinations:
                if destination not in pending:
                    out(f"The digest of {closed.label} was already sent to {destination.shown}; not sent again.")
            try:
                made = digest_build.build(source_impl, closed, budgets, anomaly_factor=factor,
                                          trace_url_template=settings.trace_url_template)
            except SourceError as exc:
                raise click.ClickException(str(exc)) from None
            if dry_run:
                out(render.text(made), nl=False)
                where = ", ".join(d.shown for d in destinations) or "no destination"
                out(f"Dry run: nothing sent to {where}, nothing recorded.")
                return
            failures: list[str] = []
            for destination in pending:
                try:
                    if destination.kind == "slack":
                        send.send_slack(destination.target, render.slack(made))
                    else:
                        assert settings.smtp_from is not None
                        message = send.email_message(settings.smtp_from, destination.target, render.subject(made),
                                                     render.text(made), render.to_html(made))
                        send.send_email(settings, message, destination.target)
                except send.DeliveryError as exc:
                    failures.append(str(exc))
                    continue
                state.mark(closed.key, destination.key, time.time())
                out(f"Sent the digest of {closed.label} to {destination.shown}.")
            if failures:
                raise click.ClickException(
                    f"not sent ({len(failures)} of {len(pending)}; not recorded, the next run tries again): "
                    + "; ".join(failures)
                )
    except StateError as exc:
        raise click.ClickException(str(exc)) from None
