"""A digest as words: plain text (e-mail, ``--dry-run``), HTML (e-mail) and Slack Block Kit.

The three are made from the same ``Section`` list, so they cannot say different numbers. Amounts are shown
to the cent from $0.01 up, to 6 decimals below (Decimal, rounded half-even); an unpriced group says "unpriced",
never $0. Slack's limits (50 blocks a message, 3,000 characters a section text, 150 a header) are kept here
and checked by ``check_blocks`` before anything is sent.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from ..reporting import SpendRow, share
from .build import CENT, TOP, BudgetLine, Digest, change

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
TITLES = {"model": "By model", "provider": "By provider", "feature": "By feature", "team": "By team"}


def usd(amount: Decimal | None) -> str:
    """``$1,234.57``, ``$0.08``, ``$0.000150`` (below a cent: 6 places); ``unpriced`` for an unknown amount."""
    if amount is None:
        return "unpriced"
    sign = "-" if amount < 0 else ""
    places = 2 if abs(amount) >= CENT or amount == 0 else 6
    return f"{sign}${abs(amount):,.{places}f}"


def _pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:+}%"


@dataclass
class Line:
    """One line of a section: its text, and a link (a trace) shown after it where the medium can."""

    text: str
    link: str | None = None
    link_text: str | None = None


@dataclass
class Section:
    title: str
    lines: list[Line] = field(default_factory=list)
    table: bool = False
    """Lines are columns aligned with spaces (monospace in HTML and Slack)."""


def title(digest: Digest) -> str:
    return f"LLM spend digest: {digest.period.label} (UTC)"


def subject(digest: Digest) -> str:
    moved = change(digest.total.cost, digest.previous)
    versus = f", {_pct(moved)} vs the {digest.period.previous_name}" if moved is not None else ""
    return f"LLM spend {digest.period.key.partition(':')[2]}: {usd(digest.total.cost)}{versus}"


def _rows(rows: list[SpendRow], total: Decimal, limit: int = TOP) -> list[Line]:
    if not rows:
        return [Line("no calls")]
    shown = rows[:limit]
    width = max(len(r.key) for r in shown)
    lines = []
    for row in shown:
        cost = row.known_cost
        part = share(row, total)
        calls = f"{row.calls:,} calls" if row.calls is not None else ""
        lines.append(Line(f"{row.key:<{width}}  {usd(cost):>12}  {'' if part is None else f'{part:.1f}%':>6}  {calls}"))
    rest = rows[limit:]
    if rest:
        cost = sum((r.cost for r in rest), Decimal(0))
        lines.append(Line(f"{f'{len(rest)} more':<{width}}  {usd(cost):>12}"))
    return lines


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _budget(line: BudgetLine) -> Line:
    head = f"{line.name} ({line.scope}, {line.period})"
    if line.spend is None:
        return Line(f"{head}: limit {usd(line.limit)}; spend unknown (no {line.name} series in the source)")
    used = (line.spend * 100 / line.limit).quantize(Decimal("0.1"))
    text = f"{head}: {usd(line.spend)} of {usd(line.limit)} ({used}%)"
    if line.resets is None:
        return Line(f"{text} in the last {line.period} (a rolling window: no period end to project to)")
    end = datetime.fromtimestamp(line.resets, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text += f"; projected {usd(line.projected)} at the period's end ({end})"
    if line.reached:
        text += "; LIMIT REACHED"
    elif line.runs_out is not None:
        text += f"; at this pace it runs out on {line.runs_out.isoformat()}"
    else:
        text += "; at this pace it lasts the period"
    return Line(text)


def sections(digest: Digest) -> list[Section]:
    """The digest, in order, as sections of lines."""
    total = digest.total
    period = digest.period
    previous = change(total.cost, digest.previous)
    average = change(total.cost, digest.average)
    summary = Section("Summary", [
        Line(f"Total {usd(total.cost)} in {total.calls or 0:,} calls."),
        Line(f"{period.previous_name.capitalize()}: {usd(digest.previous)} ({_pct(previous)})."),
        Line(f"Average of the {digest.baseline} {period.kind}s before: {usd(digest.average)} ({_pct(average)})."),
        Line(f"Unpriced calls (usage, no known price: not in the total): {total.unpriced or 0:,}."),
        Line(f"Calls refused by a budget: {total.refused or 0:,}. Failed calls: {total.errors or 0:,}."),
    ])
    out = [summary]
    for dimension, rows in digest.breakdowns.items():
        out.append(Section(TITLES[dimension], _rows(rows, total.cost), table=True))
    out.append(Section("Top users", _rows(digest.users, total.cost, 5), table=True))
    calls = Section("Most expensive requests")
    if digest.costliest is None:
        calls.lines.append(Line(f"not available from {digest.source} (Prometheus keeps no single call; the "
                                "ledger does)"))
    elif not digest.costliest:
        calls.lines.append(Line("no priced calls"))
    for call in digest.costliest or []:
        who = ", ".join(f"{k} {v}" for k, v in (("feature", call.feature), ("team", call.team),
                                                   ("user", call.user_id)) if v)
        trace = f"trace {call.trace_id}" if call.trace_id else "no trace id"
        calls.lines.append(Line(
            f"{usd(call.cost)}  {call.model or '?'} ({call.provider}) at {_when(call.ts)}"
            f"{f'; {who}' if who else ''}; {trace}",
            digest.trace_url(call.trace_id), "open trace",
        ))
    out.append(calls)
    budgets = Section("Budgets", [_budget(line) for line in digest.budgets] or [Line("no budgets declared")])
    out.append(budgets)
    anomaly = digest.anomaly
    verdict = (f"ANOMALY: more than {anomaly.factor}x the average" if anomaly.firing
               else "no baseline yet (no spend in the 7 days before)" if not anomaly.average
               else f"normal (an anomaly is above {anomaly.factor}x the average)")
    out.append(Section("Anomaly check", [Line(
        f"{anomaly.day.isoformat()}: {usd(anomaly.spend)} against a daily average of {usd(anomaly.average)} "
        f"over the 7 days before: {verdict}."
    )]))
    return out


def footer(digest: Digest) -> str:
    return (f"From {digest.source}; period {_when(digest.period.start)} to {_when(digest.period.end)}. "
            "Sent by otel-llmcost digest.")


# --- plain text ------------------------------------------------------------------------------------------
def text(digest: Digest) -> str:
    parts = [title(digest), ""]
    for section in sections(digest):
        parts.append(section.title)
        for line in section.lines:
            parts.append(f"  {line.text}" + (f"\n    {line.link}" if line.link else ""))
        parts.append("")
    parts.append(footer(digest))
    return "\n".join(parts) + "\n"


# --- HTML ------------------------------------------------------------------------------------------------
def to_html(digest: Digest) -> str:
    e = html.escape
    body = [f"<h2>{e(title(digest))}</h2>"]
    for section in sections(digest):
        body.append(f"<h3>{e(section.title)}</h3>")
        if section.table:
            body.append("<pre>" + "\n".join(e(line.text) for line in section.lines) + "</pre>")
            continue
        items = []
        for line in section.lines:
            link = f' <a href="{e(line.link, quote=True)}">{e(line.link_text or line.link)}</a>' if line.link else ""
            items.append(f"<li>{e(line.text)}{link}</li>")
        body.append("<ul>" + "".join(items) + "</ul>")
    body.append(f"<p><small>{e(footer(digest))}</small></p>")
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>' + e(subject(digest)) + "</title></head>"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")


# --- Slack Block Kit -------------------------------------------------------------------------------------
def _mrkdwn(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fit(value: str, limit: int = MAX_TEXT) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def slack(digest: Digest) -> dict[str, Any]:
    """The webhook payload: a header, one section per part of the digest, a context footer; ``text`` is the
    notification's fallback."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _fit(title(digest), MAX_HEADER)}},
    ]
    for section in sections(digest):
        if section.table:
            # Fence after fitting, so a cut table still closes its code block.
            inner = _fit("\n".join(_mrkdwn(line.text) for line in section.lines), MAX_TEXT - 40)
            body = f"*{_mrkdwn(section.title)}*\n```{inner}```"
        else:
            lines = []
            for line in section.lines:
                link = f" <{line.link}|{_mrkdwn(line.link_text or 'link')}>" if line.link else ""
                lines.append(f"• {_mrkdwn(line.text)}{link}")
            body = _fit(f"*{_mrkdwn(section.title)}*\n" + "\n".join(lines))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(_mrkdwn(footer(digest)))}]})
    payload = {"text": _fit(subject(digest)), "blocks": blocks[:MAX_BLOCKS]}
    check_blocks(payload)
    return payload


def check_blocks(payload: dict[str, Any]) -> None:
    """Raise ValueError when the payload breaks a Block Kit limit Slack would refuse it for."""
    blocks = payload.get("blocks", [])
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks; Slack takes at most {MAX_BLOCKS}")
    for index, block in enumerate(blocks):
        texts = [block.get("text")] + list(block.get("elements", [])) + list(block.get("fields", []))
        for item in texts:
            if not item:
                continue
            limit = MAX_HEADER if block["type"] == "header" else MAX_TEXT
            if len(item["text"]) > limit:
                raise ValueError(f"block {index} ({block['type']}) has {len(item['text'])} characters; max {limit}")
