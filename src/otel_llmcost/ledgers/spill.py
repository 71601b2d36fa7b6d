"""The spill file: a local SQLite file where ledger rows wait while the PostgreSQL ledger does not answer.

Rows are kept in the order they were spilled (``seq``) under the ledger they are for (``target``, the URL
without its password), each with its ``row_id``. The writer replays them oldest first and deletes a batch only
after PostgreSQL committed it; a process killed in between replays it again, and ``ON CONFLICT (row_id) DO
NOTHING`` keeps the ledger's copy single. Several processes of a host may share one file (WAL, busy timeout):
any of them replays what any spilled, a killed process's rows included.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS ledger_spill (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    row_id TEXT NOT NULL UNIQUE,
    row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_spill_target ON ledger_spill (target, seq);
"""


def default_path() -> Path:
    """$XDG_STATE_HOME/otel-llmcost/ledger-spill.db, or ~/.local/state/otel-llmcost/ledger-spill.db."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "otel-llmcost" / "ledger-spill.db"


class Spill:
    """One spill file, opened on first use (by this process: a forked child opens its own connection)."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self._timeout = timeout
        self._lock = threading.RLock()  # reentrant: a SIGTERM handler may flush while its thread is in here
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a committed row survives the process's death
            for statement in (s.strip() for s in SCHEMA.split(";")):
                if statement:
                    conn.execute(statement)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def add(self, target: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append rows (each with its row_id) in one transaction; a row_id already spilled is kept once."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR IGNORE INTO ledger_spill (target, row_id, row) VALUES (?, ?, ?)",
                    [(target, row["row_id"], json.dumps(row, ensure_ascii=False)) for row in rows],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def oldest(self, target: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` rows for ``target``, oldest first, with their seq (to ``remove`` them once written)."""
        with self._lock:
            cursor = self._connection().execute(
                "SELECT seq, row FROM ledger_spill WHERE target = ? ORDER BY seq LIMIT ?", (target, limit)
            )
            return [(seq, json.loads(text)) for seq, text in cursor]

    def remove(self, seqs: Sequence[int]) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("DELETE FROM ledger_spill WHERE seq = ?", [(seq,) for seq in seqs])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def count(self, target: str | None = None) -> int:
        with self._lock:
            conn = self._connection()
            if target is None:
                (n,) = conn.execute("SELECT COUNT(*) FROM ledger_spill").fetchone()
            else:
                (n,) = conn.execute("SELECT COUNT(*) FROM ledger_spill WHERE target = ?", (target,)).fetchone()
            return int(n)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def forget_connection(self) -> None:
        """After a fork: the parent's connection is the parent's (never closed here)."""
        self._conn = None
        self._lock = threading.RLock()
