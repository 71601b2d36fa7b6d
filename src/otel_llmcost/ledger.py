"""The embedded spend ledger: one row per finished call, in the SQLite file the budget store uses.

A team without a metrics backend can still answer "what did we spend yesterday, by feature" from it
(``otel-llmcost report --from sqlite:PATH``). Everything that knows the ``llm_calls`` table is here, so
the writer and the reader cannot drift apart: the schema, the row a finished call becomes (``row``, from
plain values: the enforcer knows calls, this module does not), the writer (``create`` and ``write``, run
by the SQLite store inside its own transactions, so a call's spend and its row commit together) and the
reader (``spend``: sums by a dimension, in total or over a budget's scope; ``costliest``: the most expensive calls,
for the digest). Costs are stored as decimal text so sums stay exact; the reader's SQL is plain (CASE, CAST,
GROUP BY) so that another database can run it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from . import names

if TYPE_CHECKING:
    import sqlite3

    from opentelemetry.trace import SpanContext

    from .records import Request
    from .reporting import SpendRow
    from .telemetry import Outcome

# The reader's imports (sqlite3, reporting) are made when a ledger is read: an app whose budgets keep spend in
# memory imports this module (through the enforcer) and never needs them.

TABLE: Final = "llm_calls"

# Columns added after 0.1.0 (issue 20: what otel-llmcost advise reads), all nullable: a ledger file made before
# them gains them when it is opened for writing (``create``: ALTER TABLE), and its old rows read as NULL.
ADDED_COLUMNS: Final = (
    ("request_fingerprint", "TEXT"),  # keyed hash of the whole request (fingerprints.py): never content
    ("prefix_fingerprints", "TEXT"),  # "boundary:tokens:hash" per prefix (0: system+tools, n: n messages)
    ("origin", "TEXT"),               # server | local | none: what the call ran under (llmcost.request.origin)
    ("max_tokens", "INTEGER"),        # the output cap the call asked for
    ("finish_reason", "TEXT"),        # the first finish / stop reason
    ("service_tier", "TEXT"),         # the tier that billed the call
    ("cache_write_1h_tokens", "INTEGER"),  # part of cache_write_tokens written with a 1-hour TTL
    ("conversation_id", "TEXT"),      # gen_ai.conversation.id (issue 18)
)

SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,                 -- unix seconds (UTC) when the call ended
    provider TEXT NOT NULL,           -- gen_ai.provider.name
    operation TEXT NOT NULL,          -- gen_ai.operation.name
    model TEXT,                       -- gen_ai.request.model
    response_model TEXT,              -- gen_ai.response.model
    input_tokens INTEGER,             -- inclusive of cache reads and writes
    output_tokens INTEGER,            -- inclusive of reasoning
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd TEXT,                    -- exact decimal; NULL when the model has no known price
    price_source TEXT,
    batch INTEGER NOT NULL DEFAULT 0,
    feature TEXT,                     -- llmcost.feature
    team TEXT,                        -- llmcost.team
    user_id TEXT,                     -- user.id
    attributes TEXT,                  -- JSON object of every attribution key of the call
    trace_id TEXT,                    -- 32 hex digits
    span_id TEXT,                     -- 16 hex digits
    request_id TEXT,                  -- gen_ai.response.id
    error_type TEXT,
    {", ".join(f"{name} {kind}" for name, kind in ADDED_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (ts);
"""

COLUMNS: Final = (
    "ts", "provider", "operation", "model", "response_model", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "price_source", "batch",
    "feature", "team", "user_id", "attributes", "trace_id", "span_id", "request_id", "error_type",
    *(name for name, _ in ADDED_COLUMNS),
)


# --- the row ------------------------------------------------------------------------------------------
def row(
    *,
    ts: float,
    provider: str,
    operation: str,
    model: str | None,
    response_model: str | None,
    tokens: tuple[int | None, int | None, int | None, int | None, int | None] | None,
    cost: Decimal | None,
    price_source: str | None,
    batch: bool,
    attribution: Mapping[str, Any],
    trace_id: int | None,
    span_id: int | None,
    request_id: str | None,
    error_type: str | None,
    fingerprints: Any = None,
    origin: str | None = None,
    max_tokens: int | None = None,
    finish_reason: str | None = None,
    service_tier: str | None = None,
    cache_write_1h_tokens: int | None = None,
) -> dict[str, Any]:
    """The ledger row of a finished call.

    ``tokens`` is (input, output, cache read, cache write, reasoning), None when the call reported no usage.
    ``price_source`` is where the cost's price came from; usage without a cost is marked with the unknown
    price source instead, so a report can count it as unpriced.
    ``trace_id`` / ``span_id`` are None when the call had no valid span context.
    ``fingerprints`` (``fingerprints.Fingerprints``) are keyed hashes and token estimates, never content.
    """
    input_tokens, output_tokens, cache_read, cache_write, reasoning = tokens or (None, None, None, None, None)
    if cost is None:
        price_source = names.PRICE_SOURCE_UNKNOWN if tokens is not None else None
    return {
        "ts": ts,
        "provider": provider,
        "operation": operation,
        "model": model,
        "response_model": response_model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
        "cost_usd": format(cost, "f") if cost is not None else None,
        "price_source": price_source,
        "batch": 1 if batch else 0,
        "feature": attribution.get(names.LLMCOST_FEATURE),
        "team": attribution.get(names.LLMCOST_TEAM),
        "user_id": attribution.get(names.USER_ID),
        "attributes": json.dumps(dict(attribution), sort_keys=True, ensure_ascii=False) if attribution else None,
        "trace_id": format(trace_id, "032x") if trace_id is not None else None,
        "span_id": format(span_id, "016x") if span_id is not None else None,
        "request_id": request_id,
        "error_type": error_type,
        "request_fingerprint": fingerprints.request if fingerprints is not None else None,
        "prefix_fingerprints": " ".join(
            f"{boundary}:{tokens}:{digest}" for boundary, tokens, digest in zip(
                fingerprints.boundaries, fingerprints.prefix_tokens, fingerprints.prefixes, strict=True
            )
        ) if fingerprints is not None and fingerprints.prefixes else None,
        "origin": origin,
        "max_tokens": max_tokens,
        "finish_reason": finish_reason,
        "service_tier": service_tier,
        "cache_write_1h_tokens": cache_write_1h_tokens,
        "conversation_id": attribution.get(names.GEN_AI_CONVERSATION_ID),
    }  # fmt: skip


# --- the writer ---------------------------------------------------------------------------------------
_INSERT: Final = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


def call_row(request: Request, outcome: Outcome, context: SpanContext, ts: float) -> dict[str, Any]:
    """The row of a finished call, for every kind of ledger (the SQLite store's and the PostgreSQL writer's):
    ``context`` is the span context the row links to (invalid: none)."""
    response, usage, cost = outcome.response, outcome.usage, outcome.cost
    return row(
        ts=ts,
        provider=request.provider,
        operation=request.operation,
        model=request.model,
        response_model=response.model if response is not None else None,
        tokens=(
            usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens,
            usage.reasoning_tokens,
        ) if usage is not None else None,
        cost=cost.exact if cost is not None else None,
        price_source=cost.source if cost is not None else None,
        batch=usage is not None and usage.batch,
        attribution=request.attribution,
        trace_id=context.trace_id if context.is_valid else None,
        span_id=context.span_id if context.is_valid else None,
        request_id=response.response_id if response is not None else None,
        error_type=type(outcome.error).__qualname__ if outcome.error is not None else None,
        fingerprints=request.fingerprints,
        origin=request.origin,
        max_tokens=request.max_tokens,
        finish_reason=response.finish_reasons[0] if response is not None and response.finish_reasons else None,
        service_tier=(usage.service_tier if usage is not None else None) or request.service_tier,
        cache_write_1h_tokens=usage.cache_write_1h_tokens if usage is not None else None,
    )  # fmt: skip


def statements(script: str) -> list[str]:
    """The statements of a schema script (no string literals contain ';'), comments removed."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


VERSION_TABLE: Final = "llmcost_schema_version"
"""Migrations applied to a ledger (SQLite here, PostgreSQL in ``ledgers.postgres``): one row per version."""

MIGRATIONS: Final = ((1, SCHEMA),)
"""The SQLite ledger's migrations, (version, script), applied in order by ``create``. Never edit one that
shipped; append. Version 1 is idempotent (IF NOT EXISTS), so a file made before versions were kept gets it."""


def create(conn: sqlite3.Connection) -> None:
    """Apply the migrations the file lacks (the table and its index at first), then add the columns a ledger made
    by an older version lacks (``ADDED_COLUMNS``), in the caller's transaction."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    (current,) = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}").fetchone()
    for version, script in MIGRATIONS:
        if version <= current:
            continue
        for statement in statements(script):
            conn.execute(statement)
        conn.execute(f"INSERT INTO {VERSION_TABLE} (version, applied_at) VALUES (?, strftime('%s', 'now'))", (version,))
    present = {name for (_, name, *_) in conn.execute(f"PRAGMA table_info({TABLE})")}
    for name, kind in ADDED_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {kind}")


def write(conn: sqlite3.Connection, values: Mapping[str, Any]) -> None:
    """Insert one row (made by ``row``), in the caller's transaction."""
    conn.execute(_INSERT, tuple(values.get(column) for column in COLUMNS))


# --- the reader ---------------------------------------------------------------------------------------
# --by value -> ledger column.
BY_COLUMN: Final = {"model": "model", "provider": "provider", "feature": "feature", "team": "team", "user": "user_id"}


class LedgerError(Exception):
    """The path is not a readable otel-llmcost ledger (the message says why)."""


class _DecimalSum:
    """SQLite aggregate: the exact sum of decimal text (NULLs skipped), returned as text."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: object) -> None:
        if value is not None:
            self.total += Decimal(str(value))

    def finalize(self) -> str:
        return format(self.total, "f")


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a ledger read-only (never created); LedgerError when it is missing, not SQLite, or has no calls table."""
    import sqlite3

    path = Path(path)
    if not path.is_file():
        raise LedgerError(f"no ledger file at {str(path)!r}")
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        conn.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone()
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"{str(path)!r} is not a SQLite database ({exc})") from None
    if found is None:
        conn.close()
        raise LedgerError(f"{str(path)!r} has no {TABLE} table: not an otel-llmcost ledger")
    return conn


def spend(
    path: str | Path, dimension: str | None, start: float, end: float, scope: tuple[str, str] | None = None
) -> list[SpendRow]:
    """Spend per value of ``dimension`` for calls that ended in [start, end) (unix seconds), costliest first.

    ``dimension`` None gives one row (key ``total``) for every call of the window, also when there is none.
    ``scope`` (ledger column, value) keeps only the calls with that value: a budget's scope (``SCOPE_COLUMNS``).
    Exact decimal sums grouped in SQL (the ``decimal_sum`` aggregate), so a report of a million calls is as
    exact as one call. Calls a budget refused are rows too (their error.type says so, no cost): counted as
    refused, apart from the calls that were sent and failed.
    """
    import sqlite3

    from .reporting import NONE, REFUSED_ERRORS, SpendRow

    group = "'total'" if dimension is None else f"NULLIF({BY_COLUMN[dimension]}, '')"
    refused = ", ".join("?" for _ in REFUSED_ERRORS)
    where, params = _where(start, end, scope)
    conn = connect(path)
    try:
        cursor = conn.execute(
            f"""
            SELECT {group} AS grp, COUNT(*),
                   SUM(CASE WHEN error_type IS NOT NULL AND error_type NOT IN ({refused}) THEN 1 ELSE 0 END),
                   SUM(CASE WHEN error_type IS NOT NULL AND error_type IN ({refused}) THEN 1 ELSE 0 END),
                   SUM(CASE WHEN cost_usd IS NULL AND error_type IS NULL AND input_tokens IS NOT NULL
                       THEN 1 ELSE 0 END),
                   SUM(CASE WHEN cost_usd IS NOT NULL THEN 1 ELSE 0 END),
                   SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                   decimal_sum(cost_usd)
            FROM {TABLE} WHERE {where} GROUP BY grp
            """,
            (*REFUSED_ERRORS, *REFUSED_ERRORS, *params),
        )
        rows = [
            SpendRow(
                key=NONE if key is None else str(key),
                calls=calls,
                errors=errors or 0,
                refused=refused_calls or 0,
                unpriced=unpriced or 0,
                priced=priced or 0,
                input_tokens=input_tokens or 0,
                output_tokens=output_tokens or 0,
                cache_read_tokens=cache_read or 0,
                cache_write_tokens=cache_write or 0,
                cost=Decimal(cost),
            )
            for (key, calls, errors, refused_calls, unpriced, priced, input_tokens, output_tokens, cache_read,
                 cache_write, cost) in cursor
        ]
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot read {str(path)!r}: {exc}") from None
    finally:
        conn.close()
    if dimension is None and not rows:
        rows = [SpendRow(key="total", calls=0, errors=0, refused=0, unpriced=0, priced=0, input_tokens=0,
                         output_tokens=0, cache_read_tokens=0, cache_write_tokens=0)]
    return sorted(rows, key=lambda r: (-r.cost, r.key))


# A budget's scope (the call attribute it matches) -> the ledger column that holds it.
SCOPE_COLUMNS: Final = {
    names.LLMCOST_FEATURE: "feature",
    names.LLMCOST_TEAM: "team",
    names.USER_ID: "user_id",
    names.GEN_AI_REQUEST_MODEL: "model",
}


def _where(start: float, end: float, scope: tuple[str, str] | None) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause of a window (and a scope column = value), with its parameters."""
    if scope is None:
        return "ts >= ? AND ts < ?", (start, end)
    column, value = scope
    if column not in SCOPE_COLUMNS.values():
        raise ValueError(f"{column!r} is no scope column of the ledger")
    return f"ts >= ? AND ts < ? AND {column} = ?", (start, end, value)


@dataclass(frozen=True)
class LedgerCall:
    """One priced call of the ledger, as the digest's list of the most expensive requests shows it."""

    ts: float
    provider: str
    model: str | None
    cost: Decimal
    feature: str | None
    team: str | None
    user_id: str | None
    trace_id: str | None
    request_id: str | None
    input_tokens: int | None
    output_tokens: int | None


def costliest(path: str | Path, start: float, end: float, limit: int) -> list[LedgerCall]:
    """The ``limit`` most expensive priced calls that ended in [start, end), costliest first (ties: earliest).

    SQL orders by the cost as NUMERIC (exact in PostgreSQL; SQLite may round a long decimal to a float), so a
    few more rows than asked are fetched and put in exact order here.
    """
    import sqlite3

    conn = connect(path)
    try:
        cursor = conn.execute(
            f"""
            SELECT ts, provider, model, cost_usd, feature, team, user_id, trace_id, request_id, input_tokens,
                   output_tokens
            FROM {TABLE} WHERE ts >= ? AND ts < ? AND cost_usd IS NOT NULL
            ORDER BY CAST(cost_usd AS NUMERIC) DESC, ts LIMIT ?
            """,
            (start, end, limit * 2 + 10),
        )
        calls = [
            LedgerCall(ts, provider, model, Decimal(cost), feature, team, user, trace, request, input_tokens,
                       output_tokens)
            for (ts, provider, model, cost, feature, team, user, trace, request, input_tokens, output_tokens)
            in cursor
        ]
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot read {str(path)!r}: {exc}") from None
    finally:
        conn.close()
    return sorted(calls, key=lambda c: (-c.cost, c.ts))[:limit]


def daily(path: str | Path, start: float, end: float) -> list[dict[str, Any]]:
    """Spend per UTC day, provider and model of calls that ended in [start, end), for reconciliation with a
    provider's bill: the day as ``YYYY-MM-DD``, the model that answered (the requested one when the response
    named none), calls, unpriced calls, tokens and the exact cost (Decimal). Refused calls (never sent) are left
    out; failed calls are kept (a provider may bill them)."""
    import sqlite3

    from .reporting import REFUSED_ERRORS

    refused = ", ".join("?" for _ in REFUSED_ERRORS)
    conn = connect(path)
    try:
        cursor = conn.execute(
            f"""
            SELECT date(ts, 'unixepoch') AS day, provider, COALESCE(NULLIF(response_model, ''), model) AS mdl,
                   COUNT(*), SUM(cost_usd IS NULL AND input_tokens IS NOT NULL),
                   SUM(input_tokens), SUM(output_tokens), decimal_sum(cost_usd)
            FROM {TABLE} WHERE ts >= ? AND ts < ? AND (error_type IS NULL OR error_type NOT IN ({refused}))
            GROUP BY day, provider, mdl ORDER BY day, provider, mdl
            """,
            (start, end, *REFUSED_ERRORS),
        )
        return [
            {"day": day, "provider": provider, "model": model, "calls": calls, "unpriced": unpriced or 0,
             "input_tokens": input_tokens or 0, "output_tokens": output_tokens or 0, "cost": Decimal(cost)}
            for day, provider, model, calls, unpriced, input_tokens, output_tokens, cost in cursor
        ]
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot read {str(path)!r}: {exc}") from None
    finally:
        conn.close()


# --- conversations ------------------------------------------------------------------------------------
def conversations(path: str | Path, start: float, end: float) -> list[dict[str, Any]]:
    """Per conversation (``gen_ai.conversation.id``) of the calls that ended in [start, end): its turns (calls),
    cost (exact; None when every priced part is unknown), tokens, and how its input grew per turn, costliest
    first. The first turn of an OpenAI ``previous_response_id`` chain carries no conversation id (it could not
    know it starts one): it is counted in the conversation named after its response id. A ledger written
    before conversation ids were recorded has none: its calls are all "(none)".
    """
    import sqlite3

    from .reporting import NONE

    conn = connect(path)
    try:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
        if "conversation_id" in present:
            key = (
                f"COALESCE(NULLIF(conversation_id, ''), CASE WHEN request_id IN (SELECT conversation_id FROM {TABLE} "
                "WHERE conversation_id IS NOT NULL) THEN request_id END)"
            )
        else:
            key = "NULL"
        cursor = conn.execute(
            f"SELECT {key}, input_tokens, output_tokens, cost_usd, error_type FROM {TABLE} "
            "WHERE ts >= ? AND ts < ? ORDER BY ts, id",
            (start, end),
        )
        groups: dict[str, dict[str, Any]] = {}
        for conversation, input_tokens, output_tokens, cost, error in cursor:
            name = NONE if conversation is None else str(conversation)
            group = groups.get(name)
            if group is None:
                group = groups[name] = {
                    "conversation": name, "calls": 0, "unpriced": 0, "input_tokens": 0, "output_tokens": 0,
                    "cost": Decimal(0), "priced": 0, "inputs": [],
                }  # fmt: skip
            group["calls"] += 1
            group["input_tokens"] += input_tokens or 0
            group["output_tokens"] += output_tokens or 0
            if cost is not None:
                group["cost"] += Decimal(str(cost))
                group["priced"] += 1
            elif error is None:
                group["unpriced"] += 1
            if input_tokens is not None:
                group["inputs"].append(input_tokens)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot read {str(path)!r}: {exc}") from None
    finally:
        conn.close()
    rows = []
    for group in groups.values():
        inputs = group.pop("inputs")
        priced = group.pop("priced")
        group["first_input_tokens"] = inputs[0] if inputs else None
        group["last_input_tokens"] = inputs[-1] if inputs else None
        group["input_growth_per_turn"] = (
            round((inputs[-1] - inputs[0]) / (len(inputs) - 1)) if len(inputs) > 1 else None
        )
        per_turn = (group["cost"] / group["calls"]).quantize(Decimal("1e-12")).normalize() if priced else None
        group["cost_per_turn"] = per_turn
        if not priced and group["unpriced"]:
            group["cost"] = None
        rows.append(group)
    return sorted(rows, key=lambda r: (-(r["cost"] or 0), r["conversation"]))
