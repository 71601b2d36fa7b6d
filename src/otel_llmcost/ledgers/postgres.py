"""The PostgreSQL ledger's side of the wire: connection, schema migrations, batched inserts, the reader's SQL.

Same columns as the SQLite ledger (``ledger.COLUMNS``), plus ``row_id``: a unique id given to each row by the
process that made it, so that a batch replayed after an outage (or by two processes reading one spill file)
is inserted once (``ON CONFLICT (row_id) DO NOTHING``); rows go in by COPY (see ``insert``). Costs are
``NUMERIC``: exact, summed exactly by the server. Migrations are numbered; ``migrate`` applies those above
the version recorded in ``llmcost_schema_version``, under an advisory lock, so processes starting together
apply each once.
psycopg (the ``postgres`` extra) is imported here only, and this module only when a ledger URL is set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .. import ledger

if TYPE_CHECKING:
    import psycopg

TABLE: Final = ledger.TABLE
VERSION_TABLE: Final = "llmcost_schema_version"
_LOCK_KEY: Final = 0x6C6C6D636F7374  # pg_advisory_xact_lock key: "llmcost"

# Each migration: (version, statements). Never edit one that shipped; append.
MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (1, (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            id BIGSERIAL PRIMARY KEY,
            row_id TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            provider TEXT NOT NULL,
            operation TEXT NOT NULL,
            model TEXT,
            response_model TEXT,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cache_read_tokens BIGINT,
            cache_write_tokens BIGINT,
            reasoning_tokens BIGINT,
            cost_usd NUMERIC,
            price_source TEXT,
            batch SMALLINT NOT NULL DEFAULT 0,
            feature TEXT,
            team TEXT,
            user_id TEXT,
            attributes TEXT,
            trace_id TEXT,
            span_id TEXT,
            request_id TEXT,
            error_type TEXT
        )""",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_row_id ON {TABLE} (row_id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (ts)",
    )),
    # What otel-llmcost advise reads (ledger.ADDED_COLUMNS), all nullable.
    (2, tuple(
        f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {name} {'BIGINT' if kind == 'INTEGER' else kind}"
        for name, kind in ledger.ADDED_COLUMNS
    )),
)  # fmt: skip
LATEST: Final = MIGRATIONS[-1][0]

INSERT_COLUMNS: Final = ("row_id", *ledger.COLUMNS)
BATCH: Final = 1000
"""Rows per transaction (the writer's batch): one commit, hence one WAL flush, per this many rows."""


class PostgresUnavailable(Exception):
    """The database did not answer or refused the statement (the message says why)."""


def import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        from ..errors import ConfigError

        raise ConfigError(
            "the PostgreSQL ledger needs psycopg 3, which is not installed. "
            "Fix: pip install 'otel-llmcost[postgres]'."
        ) from None
    return psycopg


def connect(url: str, timeout: float = 5.0) -> psycopg.Connection[Any]:
    """A connection (autocommit off), bounded by ``timeout`` to connect; PostgresUnavailable when it fails."""
    psycopg = import_psycopg()
    try:
        return psycopg.connect(url, connect_timeout=max(1, round(timeout)), application_name="otel-llmcost")  # type: ignore[no-any-return]
    except psycopg.Error as exc:
        raise PostgresUnavailable(_one_line(exc)) from None


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Apply the migrations the database lacks, in one transaction; return the version it is at."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}").fetchone()
        current = int(row[0]) if row else 0
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]  # our own literal SQL
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)", (version,))
            current = version
    return current


_STAGE: Final = "llmcost_stage"
_STAGE_TYPES: Final = {
    "row_id": "TEXT", "ts": "DOUBLE PRECISION", "provider": "TEXT", "operation": "TEXT", "model": "TEXT",
    "response_model": "TEXT", "input_tokens": "BIGINT", "output_tokens": "BIGINT", "cache_read_tokens": "BIGINT",
    "cache_write_tokens": "BIGINT", "reasoning_tokens": "BIGINT", "cost_usd": "NUMERIC", "price_source": "TEXT",
    "batch": "SMALLINT", "feature": "TEXT", "team": "TEXT", "user_id": "TEXT", "attributes": "TEXT",
    "trace_id": "TEXT", "span_id": "TEXT", "request_id": "TEXT", "error_type": "TEXT",
    **{name: "BIGINT" if kind == "INTEGER" else kind for name, kind in ledger.ADDED_COLUMNS},
}


def insert(conn: psycopg.Connection[Any], rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (each with its ``row_id``) in one transaction, in their order; rows already there are
    skipped. Returns how many were new. PostgresUnavailable when the database fails.

    COPY into a temporary staging table (this session's, emptied at commit), then one ``INSERT ... SELECT ...
    ORDER BY ord ON CONFLICT (row_id) DO NOTHING``: COPY is PostgreSQL's fast path, the INSERT gives the
    exactly-once that COPY alone cannot. (A multi-row VALUES statement of 500 rows spends most of its time in
    the driver parsing 11,500 placeholders.)"""
    psycopg = import_psycopg()
    columns = ", ".join(INSERT_COLUMNS)
    try:
        with conn.transaction():
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (ord BIGSERIAL, "  # type: ignore[arg-type]
                + ", ".join(f"{c} {_STAGE_TYPES[c]}" for c in INSERT_COLUMNS)
                + ") ON COMMIT DELETE ROWS"
            )
            with conn.cursor() as cursor:
                with cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
                    for row in rows:
                        copy.write_row([row.get(column) for column in INSERT_COLUMNS])
                cursor.execute(
                    f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {_STAGE} ORDER BY ord "  # type: ignore[arg-type]
                    "ON CONFLICT (row_id) DO NOTHING"
                )
                added = max(cursor.rowcount, 0)
    except psycopg.Error as exc:
        raise PostgresUnavailable(_one_line(exc)) from None
    return added


def safe_url(url: str) -> str:
    """The URL without its password (for messages, report titles and the spill file's target column)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}" if user else f"***@{netloc}"))
    except ValueError:
        return "postgresql://(unparsable URL)"


def _one_line(exc: BaseException) -> str:
    return " ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__
