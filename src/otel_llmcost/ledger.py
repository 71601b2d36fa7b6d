"""The embedded spend ledger: one row per finished call, in the SQLite file the budget store uses.

A team without a metrics backend can still answer "what did we spend yesterday, by feature" from it
(``otel-llmcost report --from sqlite:PATH``). Everything that knows the ``llm_calls`` table is here, so
the writer and the reader cannot drift apart: the schema, the row a finished call becomes (``row``, from
plain values: the enforcer knows calls, this module does not), the writer (``create`` and ``write``, run
by the SQLite store inside its own transactions, so a call's spend and its row commit together) and the
reader (``spend``). Costs are stored as decimal text so sums stay exact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from . import names

if TYPE_CHECKING:
    import sqlite3

    from .reporting import SpendRow

# The reader's imports (sqlite3, reporting) are made when a ledger is read: an app whose budgets keep spend in
# memory imports this module (through the enforcer) and never needs them.

TABLE: Final = "llm_calls"

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
    conversation_id TEXT              -- gen_ai.conversation.id (added to older ledgers when opened)
);
CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (ts);
"""

COLUMNS: Final = (
    "ts", "provider", "operation", "model", "response_model", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "price_source", "batch",
    "feature", "team", "user_id", "attributes", "trace_id", "span_id", "request_id", "error_type",
    "conversation_id",
)
# Columns added after the first release, with their type: an existing ledger gains them when it is opened.
ADDED_COLUMNS: Final = (("conversation_id", "TEXT"),)


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
) -> dict[str, Any]:
    """The ledger row of a finished call.

    ``tokens`` is (input, output, cache read, cache write, reasoning), None when the call reported no usage.
    ``price_source`` is where the cost's price came from; usage without a cost is marked with the unknown
    price source instead, so a report can count it as unpriced.
    ``trace_id`` / ``span_id`` are None when the call had no valid span context.
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
        "conversation_id": attribution.get(names.GEN_AI_CONVERSATION_ID),
    }


# --- the writer ---------------------------------------------------------------------------------------
_INSERT: Final = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


def statements(script: str) -> list[str]:
    """The statements of a schema script (no string literals contain ';'), comments removed."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def create(conn: sqlite3.Connection) -> None:
    """Make the table and its index if missing, in the caller's transaction."""
    for statement in statements(SCHEMA):
        conn.execute(statement)
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    for column, kind in ADDED_COLUMNS:
        if column not in present:  # a ledger written by an older release: its rows read NULL
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {kind}")


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


def spend(path: str | Path, dimension: str, start: float, end: float) -> list[SpendRow]:
    """Spend per value of ``dimension`` for calls that ended in [start, end) (unix seconds), costliest first.

    Exact decimal sums grouped in SQL (the ``decimal_sum`` aggregate), so a report of a million calls is as
    exact as one call. Calls a budget refused are rows too (their error.type says so, no cost): counted as
    refused, apart from the calls that were sent and failed.
    """
    import sqlite3

    from .reporting import NONE, REFUSED_ERRORS, SpendRow

    column = BY_COLUMN[dimension]
    refused = ", ".join("?" for _ in REFUSED_ERRORS)
    conn = connect(path)
    try:
        cursor = conn.execute(
            f"""
            SELECT NULLIF({column}, '') AS grp, COUNT(*),
                   SUM(error_type IS NOT NULL AND error_type NOT IN ({refused})),
                   SUM(error_type IS NOT NULL AND error_type IN ({refused})),
                   SUM(cost_usd IS NULL AND error_type IS NULL AND input_tokens IS NOT NULL),
                   SUM(cost_usd IS NOT NULL),
                   SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                   decimal_sum(cost_usd)
            FROM {TABLE} WHERE ts >= ? AND ts < ? GROUP BY grp
            """,
            (*REFUSED_ERRORS, *REFUSED_ERRORS, start, end),
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
    return sorted(rows, key=lambda r: (-r.cost, r.key))


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
