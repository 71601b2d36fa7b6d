"""`otel-llmcost digest`: a ledger made by real SDK calls, a real SMTP server (STARTTLS, AUTH LOGIN) and a real
HTTP server as the Slack webhook, both on loopback; the numbers they receive equal the ledger's to the cent.

The ledger: the OpenAI SDK against the fake API, instrumented with the SQLite store and a clock the test moves.
One gpt-4o call costs exactly $0.02025 (budget_support). 2026-11-18 to 11-24: one call a day. 2026-11-25 (the
digest's day): two chat calls, a third refused by the chat budget, two search calls, one call of a model no
price list knows.
"""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import sqlite3
import ssl
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from budget_support import COST, REQUEST, TOKENS, Clock
from openai_payloads import FakeOpenAI
from otel_llmcost import BudgetExceededError, ledger, names
from otel_llmcost import attributes as attribution
from otel_llmcost.cli.main import cli
from otel_llmcost.config import DigestSettings
from otel_llmcost.digest import render
from otel_llmcost.errors import ConfigError

DAY = "2026-11-25"
PASSWORD = "s3cret-pw-4711"
USER = "digest-bot"
SENDER = "LLM cost <llm-cost@example.com>"
BUDGETS = """\
budgets:
  - name: chat-daily
    limit: 0.05
    period: day
    scope: {feature: chat}
    action: block
  - name: all-monthly
    limit: 1
    period: month
"""


# --- the ledger -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger written by the instrumentation (module-scoped: the calls are made once)."""
    from conftest import make_captured

    folder = tmp_path_factory.mktemp("ledger")
    path = folder / "llmcost.db"
    (folder / "budgets.yaml").write_text(BUDGETS)
    clock = Clock(0)
    cap = make_captured(budget_store=f"sqlite:{path}", budget_file=str(folder / "budgets.yaml"), budget_clock=clock)
    try:
        api = FakeOpenAI(tokens=TOKENS)
        client = api.client(max_retries=0)
        for day in range(18, 25):
            clock.at(f"2026-11-{day}T12:00:00")
            with attribution(feature="chat", team="a", user_id="alice"):
                client.chat.completions.create(**REQUEST)
        clock.at(f"{DAY}T09:00:00")
        with attribution(feature="chat", team="a", user_id="alice"):
            client.chat.completions.create(**REQUEST)
        clock.at(f"{DAY}T10:00:00")
        with attribution(feature="chat", team="a", user_id="bob"):
            client.chat.completions.create(**REQUEST)
            with pytest.raises(BudgetExceededError):
                client.chat.completions.create(**REQUEST)  # 0.0405 + a worst case of 0.02026 > 0.05
        clock.at(f"{DAY}T15:00:00")
        with attribution(feature="search", team="b", user_id="carol"):
            client.chat.completions.create(**REQUEST)
            client.chat.completions.create(**REQUEST)
            client.chat.completions.create(**{**REQUEST, "model": "acme-llm-7b"})  # no known price
        clock.at(f"{DAY}T23:59:59.5")
        client.chat.completions.create(**REQUEST)  # no attribution, the day's last half second
        clock.at("2026-11-26T00:00:00")
        client.chat.completions.create(**REQUEST)  # the next day: not in the digest
    finally:
        cap.instrumentor.uninstrument()
        cap.meter_provider.shutdown()
        cap.tracer_provider.shutdown()
    return path


@pytest.fixture
def ledger_copy(made: Path, tmp_path: Path) -> Path:
    """The ledger and its budget file in a folder of the test's own (the state file goes next to it)."""
    path = tmp_path / "llmcost.db"
    path.write_bytes(made.read_bytes())
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    return path


def day_bounds(day: str) -> tuple[float, float]:
    from datetime import datetime, timezone

    start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()
    return start, start + 86_400


@dataclass
class Expected:
    """The day's numbers, summed from the ledger's rows here (not through the digest's queries)."""

    total: Decimal = Decimal(0)
    by: dict[str, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Decimal)))
    calls: int = 0
    unpriced: int = 0
    refused: int = 0
    traces: list[tuple[Decimal, str]] = field(default_factory=list)


def expected(path: Path, day: str = DAY) -> Expected:
    start, end = day_bounds(day)
    out = Expected()
    rows = sqlite3.connect(path).execute(
        "SELECT model, provider, feature, team, user_id, cost_usd, error_type, input_tokens, trace_id "
        "FROM llm_calls WHERE ts >= ? AND ts < ?", (start, end)).fetchall()
    for model, provider, feature, team, user, cost, error, input_tokens, trace in rows:
        out.calls += 1
        out.refused += error == "BudgetExceededError"
        out.unpriced += cost is None and error is None and input_tokens is not None
        if cost is None:
            continue
        amount = Decimal(cost)
        out.total += amount
        for dimension, value in (("model", model), ("provider", provider), ("feature", feature), ("team", team),
                                 ("user", user)):
            out.by[dimension][value or "(none)"] += amount
        out.traces.append((amount, trace))
    return out


def cents(amount: Decimal) -> str:
    """How an amount reads to the cent (independently of the digest's own formatter)."""
    return f"${amount:,.2f}"


def test_the_ledger_holds_what_the_calls_did(made: Path) -> None:
    day = expected(made)
    assert (day.calls, day.refused, day.unpriced) == (7, 1, 1)
    assert day.total == 5 * COST == Decimal("0.10125")
    assert day.by["feature"] == {"chat": 2 * COST, "search": 2 * COST, "(none)": COST}
    assert expected(made, "2026-11-24").total == COST


# --- servers: SMTP with STARTTLS and AUTH LOGIN, a Slack webhook -----------------------------------------
@dataclass
class Mailbox:
    port: int
    ca_file: Path
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    """(mechanism, accepted) of each AUTH attempt."""

    def env(self, **extra: str) -> dict[str, str]:
        return {
            names.ENV_SMTP_HOST: "127.0.0.1",
            names.ENV_SMTP_PORT: str(self.port),
            names.ENV_SMTP_USER: USER,
            names.ENV_SMTP_PASSWORD: PASSWORD,
            names.ENV_SMTP_FROM: SENDER,
            names.ENV_SMTP_CA_FILE: str(self.ca_file),
            **extra,
        }


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    """aiosmtpd on a loopback port: STARTTLS required before AUTH, LOGIN the only mechanism, a test CA's cert."""
    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from conftest import free_port

    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    box = Mailbox(free_port(), ca_file)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            assert session.authenticated  # auth_required: never reached without a login
            box.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
        box.logins.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    controller = Controller(
        Handler(), hostname="127.0.0.1", port=box.port, tls_context=server_context, require_starttls=True,
        authenticator=authenticator, auth_required=True, auth_require_tls=True,
        auth_exclude_mechanism=["PLAIN"], server_hostname="127.0.0.1",
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Webhook:
    url: str
    status: int = 200
    payloads: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A loopback HTTP server standing in for Slack's incoming webhook: records each JSON body, answers ok."""
    hook = Webhook("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["Content-Type"] == "application/json"
            if hook.status == 200:
                hook.payloads.append(json.loads(body))
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok" if hook.status == 200 else b"invalid_payload")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/SECRETPATH"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["digest", *args], env={**(env or {})})


def digest_args(path: Path, *more: str) -> list[str]:
    return ["--from", f"sqlite:{path}", "--date", DAY, "--budgets", str(path.parent / "budgets.yaml"), *more]


# --- Block Kit ------------------------------------------------------------------------------------------
def block_kit_problems(payload: dict[str, Any]) -> list[str]:
    """Slack's documented limits for a message's blocks, checked here independently of the digest's code."""
    problems = []
    blocks = payload.get("blocks")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        problems.append(f"blocks: {len(blocks or [])} (1..50)")
    if not isinstance(payload.get("text"), str) or not payload["text"]:
        problems.append("no fallback text")
    for index, block in enumerate(blocks or []):
        kind = block.get("type")
        if kind == "header":
            text = block["text"]
            if text["type"] != "plain_text" or len(text["text"]) > 150:
                problems.append(f"{index}: header must be plain_text <= 150")
        elif kind == "section":
            text = block["text"]
            if text["type"] not in ("mrkdwn", "plain_text") or not 0 < len(text["text"]) <= 3000:
                problems.append(f"{index}: section text {len(text['text'])} characters (1..3000)")
        elif kind == "context":
            if not 0 < len(block["elements"]) <= 10 or any(len(e["text"]) > 3000 for e in block["elements"]):
                problems.append(f"{index}: context elements")
        elif kind != "divider":
            problems.append(f"{index}: unexpected block type {kind}")
    return problems


def slack_text(payload: dict[str, Any]) -> str:
    parts = [payload["text"]]
    for block in payload["blocks"]:
        parts += [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
    return "\n".join(parts)


# --- the tests ------------------------------------------------------------------------------------------
def test_email_and_slack_carry_the_ledgers_numbers(ledger_copy: Path, mailbox: Mailbox, webhook: Webhook) -> None:
    trace_template = "https://grafana.example.com/explore?traceId={trace_id}"
    env = mailbox.env(**{names.ENV_TRACE_URL_TEMPLATE: trace_template})
    result = run(*digest_args(ledger_copy, "--to", "email:finops@example.com", "--to", f"slack:{webhook.url}"),
                 env=env)
    assert result.exit_code == 0, result.output
    assert "Sent the digest of Wednesday 2026-11-25 to email:finops@example.com." in result.stdout
    assert "Sent the digest of Wednesday 2026-11-25 to slack:127.0.0.1." in result.stdout
    assert "SECRETPATH" not in result.output and PASSWORD not in result.output

    day = expected(ledger_copy)
    previous = expected(ledger_copy, "2026-11-24").total

    # The mail: through STARTTLS, logged in with AUTH LOGIN, both parts, the headers.
    assert mailbox.logins == [("LOGIN", True)]
    [(sender, recipients, raw)] = mailbox.messages
    assert sender == "llm-cost@example.com" and recipients == ["finops@example.com"]
    assert PASSWORD.encode() not in raw and USER.encode() not in raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "finops@example.com" and message["From"] == SENDER
    assert message["Subject"] == f"LLM spend {DAY}: {cents(day.total)}, +400.0% vs the previous day"
    assert message["Date"] and message["Message-ID"] and message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    text, html = plain.get_content(), rich.get_content()

    # Slack: one payload within Block Kit's limits.
    [payload] = webhook.payloads
    assert block_kit_problems(payload) == []
    slack = slack_text(payload)

    for body in (text, html, slack):
        assert f"Total {cents(day.total)} in {day.calls} calls." in body
        assert f"Previous day: {cents(previous)} (+400.0%)." in body
        assert "Unpriced calls (usage, no known price: not in the total): 1." in body
        assert "Calls refused by a budget: 1." in body
        for dimension in ("model", "feature", "team", "user", "provider"):
            for key, amount in day.by[dimension].items():
                assert any(key in line and cents(amount) in line for line in body.splitlines()), (dimension, key)
        # The most expensive requests with their trace ids, linked through the template.
        for _, trace in day.traces:
            assert trace in body
        assert "acme-llm-7b" in body and "unpriced" in body  # the unpriced model's row: never $0
        assert "ANOMALY: more than 2x the average" in body  # $0.10 against $0.02 a day
    link = trace_template.format(trace_id=day.traces[0][1])
    assert f'<a href="{link}">open trace</a>' in html
    assert f"<{link}|open trace>" in slack
    assert link in text

    # Budgets: the chat budget's day, the monthly budget's month to date projected to the month's end.
    month_to_date = sum((expected(ledger_copy, f"2026-11-{d}").total for d in range(18, 26)), Decimal(0))
    assert month_to_date == 12 * COST
    projected = month_to_date * 30 / 25  # 25 days of November gone, 30 in all
    for body in (text, slack):
        assert (f"chat-daily (llmcost.feature=chat, day): {cents(day.by['feature']['chat'])} of $0.05 (81.0%)"
                in body)
        assert f"all-monthly (all, month): {cents(month_to_date)} of $1.00" in body
        assert f"projected {cents(projected)} at the period's end (2026-12-01 00:00 UTC)" in body

    # The state file next to the ledger: both destinations marked for the day.
    state = json.loads((ledger_copy.parent / "llmcost.db.digest-sent.json").read_text())
    assert set(state["sent"]) == {f"day:{DAY}"}
    assert len(state["sent"][f"day:{DAY}"]) == 2 and "SECRETPATH" not in json.dumps(state)


def test_a_second_run_sends_nothing_unless_forced(ledger_copy: Path, webhook: Webhook) -> None:
    args = digest_args(ledger_copy, "--to", f"slack:{webhook.url}")
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 0, again.output
    assert "was already sent to slack:127.0.0.1" in again.stdout and "nothing sent" in again.stdout
    assert len(webhook.payloads) == 1
    forced = run(*args, "--force")
    assert forced.exit_code == 0 and len(webhook.payloads) == 2
    assert webhook.payloads[0] == webhook.payloads[1]


def test_dry_run_prints_and_sends_nothing(ledger_copy: Path, webhook: Webhook) -> None:
    result = run(*digest_args(ledger_copy, "--to", f"slack:{webhook.url}", "--dry-run"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"LLM spend digest: Wednesday {DAY} (UTC)")
    assert f"Total {cents(expected(ledger_copy).total)} in 7 calls." in result.stdout
    assert "Dry run: nothing sent to slack:127.0.0.1, nothing recorded." in result.stdout
    assert webhook.payloads == []
    assert not list(ledger_copy.parent.glob("llmcost.db.digest-sent.json*"))  # no state, no lock file
    assert run(*digest_args(ledger_copy, "--to", f"slack:{webhook.url}")).exit_code == 0  # the real run sends
    assert len(webhook.payloads) == 1


def one_line_error(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_failing_webhook_is_one_error_and_not_marked(ledger_copy: Path, webhook: Webhook) -> None:
    webhook.status = 500
    args = digest_args(ledger_copy, "--to", f"slack:{webhook.url}")
    error = one_line_error(run(*args))
    assert "slack webhook at 127.0.0.1 answered HTTP 500 (invalid_payload)" in error
    assert "not recorded, the next run tries again" in error and "SECRETPATH" not in error
    assert not (ledger_copy.parent / "llmcost.db.digest-sent.json").exists()
    webhook.status = 200
    assert run(*args).exit_code == 0 and len(webhook.payloads) == 1  # the next run sends it


def test_failing_smtp_is_one_error_and_not_marked(ledger_copy: Path, mailbox: Mailbox, webhook: Webhook) -> None:
    args = digest_args(ledger_copy, "--to", f"slack:{webhook.url}", "--to", "email:finops@example.com")
    wrong = mailbox.env(**{names.ENV_SMTP_PASSWORD: "wrong-password"})
    error = one_line_error(run(*args, env=wrong))
    assert f"e-mail to finops@example.com through 127.0.0.1:{mailbox.port}: login as {USER} refused (535" in error
    assert "wrong-password" not in error and mailbox.messages == []
    assert len(webhook.payloads) == 1  # Slack took it: marked; the mail is not
    state = json.loads((ledger_copy.parent / "llmcost.db.digest-sent.json").read_text())
    assert [key.partition(":")[0] for key in state["sent"][f"day:{DAY}"]] == ["slack"]

    untrusted = mailbox.env(**{names.ENV_SMTP_CA_FILE: ""})  # the system's CAs do not know the test CA
    assert "TLS failed" in one_line_error(run(*args, env=untrusted))

    from conftest import free_port

    closed = mailbox.env(**{names.ENV_SMTP_PORT: str(free_port())})
    assert "Connection refused" in one_line_error(run(*args, env=closed))

    sent = run(*args, env=mailbox.env())  # the mail goes out; Slack is not sent twice
    assert sent.exit_code == 0, sent.output
    assert len(mailbox.messages) == 1 and len(webhook.payloads) == 1
    assert "already sent to slack:127.0.0.1; not sent again." in sent.stdout
    assert "Sent the digest of Wednesday 2026-11-25 to email:finops@example.com." in sent.stdout


def test_week_digest(ledger_copy: Path) -> None:
    result = run("--from", f"sqlite:{ledger_copy}", "--period", "week", "--date", DAY, "--dry-run")
    assert result.exit_code == 0, result.output
    week = sum((expected(ledger_copy, f"2026-11-{d}").total for d in range(23, 30)), Decimal(0))
    previous = sum((expected(ledger_copy, f"2026-11-{d}").total for d in range(16, 23)), Decimal(0))
    assert "LLM spend digest: week 2026-W48 (2026-11-23 to 2026-11-29) (UTC)" in result.stdout
    assert f"Total {cents(week)} in 10 calls." in result.stdout
    assert f"Previous week: {cents(previous)}" in result.stdout
    assert "Average of the 4 weeks before:" in result.stdout
    assert "2026-11-29: $0.00 against a daily average of" in result.stdout  # the week's last day


def test_bad_arguments_and_settings_are_one_line(ledger_copy: Path) -> None:
    base = ["--from", f"sqlite:{ledger_copy}", "--date", DAY]
    assert "--to slack:WEBHOOK, --to email:ADDRESS" in one_line_error(run(*base), 2)
    assert "is not slack:WEBHOOK_URL" in one_line_error(run(*base, "--to", "teams:x"), 2)
    assert "is not email:ADDRESS" in one_line_error(run(*base, "--to", "email:nobody"), 2)
    assert names.ENV_SLACK_WEBHOOK_URL in one_line_error(run(*base, "--to", "slack"), 2)
    assert names.ENV_SMTP_HOST in one_line_error(run(*base, "--to", "email:a@example.com"), 2)
    assert "is not over yet" in one_line_error(run("--from", f"sqlite:{ledger_copy}", "--date", "2999-01-01",
                                                   "--dry-run"), 2)
    assert "is not a date" in one_line_error(run(*base, "--date", "yesterday", "--dry-run"), 2)
    bad_port = one_line_error(run(*base, "--dry-run", env={names.ENV_SMTP_PORT: "70000"}), 2)
    assert f"{names.ENV_SMTP_PORT}='70000' is not a TCP port" in bad_port
    hidden = one_line_error(run(*base, "--dry-run", env={names.ENV_SLACK_WEBHOOK_URL: "not-a-url"}), 2)
    assert "<hidden>" in hidden and "not-a-url" not in hidden
    assert "no ledger file at" in one_line_error(run("--from", f"sqlite:{ledger_copy.parent / 'x.db'}", "--date",
                                                     DAY, "--dry-run"))


def test_settings_hide_secrets_and_check_the_trace_template() -> None:
    settings = DigestSettings.load({names.ENV_SMTP_USER: USER, names.ENV_SMTP_PASSWORD: PASSWORD,
                                    names.ENV_SLACK_WEBHOOK_URL: "https://h/x"})
    assert PASSWORD not in repr(settings) and "https://h/x" not in repr(settings)
    with pytest.raises(ConfigError, match=r"has no \{trace_id\}"):
        DigestSettings.load({names.ENV_TRACE_URL_TEMPLATE: "https://tempo/trace/"})
    assert DigestSettings.load({}).smtp_port == 587
    with pytest.raises(ConfigError, match=f"{names.ENV_SMTP_PASSWORD} is set but {names.ENV_SMTP_USER} is not"):
        DigestSettings.load({names.ENV_SMTP_PASSWORD: PASSWORD})
    with pytest.raises(ConfigError, match=f"{names.ENV_SMTP_USER} is set but {names.ENV_SMTP_PASSWORD} is not"):
        DigestSettings.load({names.ENV_SMTP_USER: USER})
    spaced = DigestSettings.load({names.ENV_SMTP_USER: USER, names.ENV_SMTP_PASSWORD: " pass word "})
    assert spaced.smtp_password == " pass word "  # a password is kept as given


def test_block_kit_limits_hold_for_a_long_digest(tmp_path: Path) -> None:
    """Hundreds of models with long names: every text is cut to Slack's limit, the blocks stay under 50."""
    path = tmp_path / "big.db"
    conn = sqlite3.connect(path)
    conn.executescript(ledger.SCHEMA)
    start, _ = day_bounds(DAY)
    for i in range(300):
        ledger.write(conn, ledger.row(
            ts=start + i, provider="openai", operation="chat", model=f"model-{'x' * 80}-{i}", response_model=None,
            tokens=(1, 1, 0, 0, 0), cost=Decimal("0.01") + i, price_source="genai-prices", batch=False,
            attribution={names.LLMCOST_FEATURE: f"feature-{'y' * 200}-{i}"}, trace_id=i + 1, span_id=1,
            request_id=None, error_type=None))
    conn.commit()
    conn.close()
    from otel_llmcost.digest.build import build
    from otel_llmcost.digest.periods import containing
    from otel_llmcost.digest.sources import LedgerSource

    made = build(LedgerSource(str(path)), containing("day", __import__("datetime").date(2026, 11, 25)))
    payload = render.slack(made)
    assert block_kit_problems(payload) == []
    assert made.total.cost == sum((Decimal("0.01") + i for i in range(300)), Decimal(0))
    assert "290 more" in slack_text(payload)  # the top 10 shown, the rest summed on one line


# --- from Prometheus --------------------------------------------------------------------------------------
def test_prometheus_digest_equals_the_counters(tmp_path: Path) -> None:
    """A real Prometheus with eight days of our counters, backfilled by promtool (blocks in its data folder).

    Each day's calls come from a process of their own (an instance label), born at 0 late that day, as our
    counters are (a new series is reported at 0 first), and scraped to the day's end: ``increase()`` over a day,
    at the day's end, is then exact.
    """
    import shutil
    import subprocess
    from datetime import datetime, timedelta, timezone

    from processes import running_prometheus

    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (Debian package 'prometheus'; scripts/test-deps.sh installs it)"
    today = datetime.now(timezone.utc).date()
    digest_day = today - timedelta(days=2)  # closed, and well inside the default 15 days of retention
    first = digest_day - timedelta(days=7)
    end = datetime.combine(digest_day + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc).timestamp()
    step = 300
    per_day: dict[str, list[tuple[str, str, str, int]]] = {}  # day -> (model, feature, cost, calls)
    lines = ["# TYPE llmcost_cost_USD counter", "# TYPE llmcost_requests counter"]
    cost_lines: list[str] = []
    request_lines: list[str] = []
    expected_by: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for offset in range(8):
        day = first + timedelta(days=offset)
        born = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc).timestamp() + 22 * 3600
        calls = [("gpt-4o", "chat", "0.02025", 1)]
        if day == digest_day:
            calls = [("gpt-4o", "chat", "0.0405", 2), ("claude-sonnet-4-6", "search", "0.75", 3)]
        per_day[day.isoformat()] = calls
        for index, (model, feature, cost, count) in enumerate(calls):
            labels = (f'gen_ai_request_model="{model}",gen_ai_provider_name="openai",llmcost_feature="{feature}",'
                      f'llmcost_team="t",instance="{day}-{index}"')
            # Sampled to the day's end, then gone (as a process that exits): few blocks for promtool to write.
            moments = [born + i * step for i in range(2 * 3600 // step + 1)]
            for moment in moments:
                grown = moment > born
                cost_lines.append(f"llmcost_cost_USD_total{{{labels}}} {cost if grown else 0} {moment:.0f}")
                request_lines.append(f"llmcost_requests_total{{{labels}}} {count if grown else 0} {moment:.0f}")
            if day == digest_day:
                expected_by["model"][model] += Decimal(cost)
                expected_by["feature"][feature] += Decimal(cost)
    gauge = ["# TYPE llmcost_budget_spend_USD gauge",
             f'llmcost_budget_spend_USD{{llmcost_budget_name="all-monthly"}} 0.5 {end - 600:.0f}',
             f'llmcost_budget_spend_USD{{llmcost_budget_name="all-monthly"}} 0.8 {end - 300:.0f}',
             f'llmcost_budget_spend_USD{{llmcost_budget_name="all-monthly"}} 0 {end:.0f}']  # the next period
    (tmp_path / "series.om").write_text("\n".join([*lines[:1], *cost_lines, *lines[1:], *request_lines, *gauge,
                                                   "# EOF"]) + "\n")
    (tmp_path / "tsdb").mkdir()
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "series.om"),
                    str(tmp_path / "tsdb")], check=True, capture_output=True)
    (tmp_path / "budgets.yaml").write_text("budgets:\n  - name: all-monthly\n    limit: 2\n    period: month\n"
                                           "  - name: not-exported\n    limit: 1\n")
    total = sum(expected_by["model"].values(), Decimal(0))
    with running_prometheus(tmp_path, "127.0.0.1:9") as prometheus:
        result = run("--prometheus", prometheus, "--date", digest_day.isoformat(), "--budgets",
                     str(tmp_path / "budgets.yaml"), "--dry-run")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"Total {cents(total)} in 5 calls." in text
    assert f"Previous day: {cents(Decimal('0.02025'))}" in text
    assert f"Average of the 7 days before: {cents(Decimal('0.02025'))}" in text
    for dimension, sums in expected_by.items():
        for key, amount in sums.items():
            assert any(key in line and cents(amount) in line for line in text.splitlines()), (dimension, key)
    assert "not available from http://127.0.0.1:" in text  # Prometheus keeps no single call
    assert not list(Path.cwd().glob("otel-llmcost-digest-sent.json*"))  # a dry run writes no state, nor its lock
    assert "all-monthly (all, month): $0.80 of $2.00 (40.0%)" in text
    assert "not-exported (all, day): limit $1.00; spend unknown" in text
    assert "ANOMALY: more than 2x the average" in text


def test_bare_slack_uses_the_webhook_setting(ledger_copy: Path, webhook: Webhook) -> None:
    result = run(*digest_args(ledger_copy, "--to", "slack"), env={names.ENV_SLACK_WEBHOOK_URL: webhook.url})
    assert result.exit_code == 0, result.output
    assert len(webhook.payloads) == 1 and "SECRETPATH" not in result.output


def test_the_compose_service_runs_a_valid_digest_command() -> None:
    """The stack's llmcost-digest service: opt-in, every OTEL_LLMCOST_* it sets is a digest setting (no unknown
    variable warnings), and it asks the stack's Prometheus for the day and the week."""
    import shlex

    import yaml

    from otel_llmcost.config import DIGEST_OPTIONS
    from otel_llmcost.stack import render

    compose = yaml.safe_load(render()["docker-compose.yaml"])
    service = compose["services"]["llmcost-digest"]
    assert service["profiles"] == ["digest"] and "digest-state" in compose["volumes"]
    settings = {option.env for option in DIGEST_OPTIONS.values()}
    assert {k for k in service["environment"] if k.startswith("OTEL_LLMCOST_")} <= settings
    [line] = [line.strip() for line in service["command"][0].splitlines() if "otel-llmcost digest" in line]
    words = shlex.split(line.replace("$$", "$"))
    assert words[:2] == ["otel-llmcost", "digest"]
    assert "--prometheus" in words and words[words.index("--prometheus") + 1] == "http://prometheus:9090"
    assert words[words.index("--period") + 1] == "$period" and "day week" in service["command"][0]


def write_ledger(path: Path, calls: list[tuple[str, str, dict[str, str]]]) -> Path:
    """A ledger written by ledger.py's own writer: (ISO time, cost, attribution) per call."""
    from datetime import datetime, timezone

    conn = sqlite3.connect(path)
    ledger.create(conn)
    for index, (when, cost, attributes) in enumerate(calls):
        moment = datetime.fromisoformat(when).replace(tzinfo=timezone.utc).timestamp()
        ledger.write(conn, ledger.row(
            ts=moment, provider="openai", operation="chat", model="gpt-4o", response_model=None,
            tokens=(10, 10, 0, 0, 0), cost=Decimal(cost), price_source="genai-prices", batch=False,
            attribution=attributes, trace_id=index + 1, span_id=1, request_id=None, error_type=None))
    conn.commit()
    conn.close()
    return path


def test_budget_projection_and_the_day_it_runs_out(tmp_path: Path) -> None:
    """$0.50 a day from 2026-11-01: on the 10th (day 10 of 30) $5 of $10 is spent; the pace reaches $10 at the
    end of the 20th, the month ends at $15. A team budget already past its limit says so."""
    calls = [(f"2026-11-{day:02d}T12:00:00", "0.5", {names.LLMCOST_TEAM: "a"}) for day in range(1, 11)]
    calls.append(("2026-11-10T13:00:00", "3", {names.LLMCOST_TEAM: "b"}))
    path = write_ledger(tmp_path / "l.db", calls)
    (tmp_path / "b.yaml").write_text(
        "budgets:\n"
        "  - {name: team-a, limit: 10, period: month, scope: {team: a}}\n"
        "  - {name: team-b, limit: 2, period: month, scope: {team: b}}\n"
        "  - {name: last-24h, limit: 100, period: 24h}\n"
        "  - {name: paris-day, limit: 1, period: day, timezone: Europe/Paris}\n"
    )
    result = run("--from", f"sqlite:{path}", "--date", "2026-11-10", "--budgets", str(tmp_path / "b.yaml"),
                 "--dry-run")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert ("team-a (llmcost.team=a, month): $5.00 of $10.00 (50.0%); projected $15.00 at the period's end "
            "(2026-12-01 00:00 UTC); at this pace it runs out on 2026-11-20") in text
    assert "team-b (llmcost.team=b, month): $3.00 of $2.00 (150.0%); projected $9.00" in text
    assert "LIMIT REACHED" in text
    assert "last-24h (all, 24h): $3.50 of $100.00 (3.5%) in the last 24h (a rolling window" in text
    # 2026-11-11 00:00 UTC is 01:00 in Paris: its day began an hour before the digest's end, with no spend.
    assert "paris-day (all, day (Europe/Paris)): $0.00 of $1.00 (0.0%)" in text


def test_an_empty_period_and_names_that_need_escaping(tmp_path: Path) -> None:
    path = write_ledger(tmp_path / "l.db", [("2026-11-10T12:00:00", "0.25", {names.LLMCOST_FEATURE: "<b>&x"})])
    empty = run("--from", f"sqlite:{path}", "--date", "2026-11-09", "--dry-run")
    assert empty.exit_code == 0, empty.output
    assert "Total $0.00 in 0 calls." in empty.stdout and "Previous day: $0.00 (n/a)." in empty.stdout
    assert "no calls" in empty.stdout and "no priced calls" in empty.stdout and "no budgets declared" in empty.stdout

    from datetime import date

    from otel_llmcost.digest.build import build
    from otel_llmcost.digest.periods import containing
    from otel_llmcost.digest.sources import LedgerSource

    made = build(LedgerSource(str(path)), containing("day", date(2026, 11, 10)))
    page = render.to_html(made)
    assert "&lt;b&gt;&amp;x" in page and "<b>&x" not in page
    slack = slack_text(render.slack(made))
    assert "&lt;b&gt;&amp;x" in slack and "<b>&x" not in slack
    assert "Previous day: $0.00 (n/a)." in render.text(made)


def test_check_validates_the_digest_settings() -> None:
    good = CliRunner().invoke(cli, ["check"], env={names.ENV_SMTP_HOST: "smtp.example.com"})
    assert f"✓ settings    valid ({names.ENV_SMTP_HOST})" in good.stdout
    bad = CliRunner().invoke(cli, ["check"], env={names.ENV_SMTP_PORT: "smtp"})
    assert bad.exit_code == 2 and f"{names.ENV_SMTP_PORT}='smtp' is not a whole number" in bad.stdout
