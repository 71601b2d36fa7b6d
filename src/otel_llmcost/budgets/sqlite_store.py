"""The SQLite store: one file (WAL) shared by every process on a host, surviving restarts; also the spend ledger.

Each operation is one ``BEGIN IMMEDIATE`` transaction (the write lock is taken first, so a check and the
reservation it allows cannot interleave with another process's), bounded by the busy timeout. ``settle``
writes the spend and the call's ledger row in the same transaction: a process killed at any point either
settled a call completely or not at all. A reservation left by a process that died is released when it
expires, or earlier, when it stands in the way and its process (same host) no longer exists.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .. import ledger
from ..errors import ConfigError
from .store import Line, Refusal, SpendStore, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_spend (
    budget TEXT NOT NULL,
    bucket INTEGER NOT NULL,          -- unix seconds of the bucket's start
    spend INTEGER NOT NULL,           -- picodollars (USD x 10^12)
    expires REAL NOT NULL,
    PRIMARY KEY (budget, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budget_reservations (
    id TEXT NOT NULL,
    budget TEXT NOT NULL,
    amount INTEGER NOT NULL,          -- picodollars held while the call is in flight
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (id, budget)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS budget_reservations_budget ON budget_reservations (budget);
CREATE TABLE IF NOT EXISTS budget_marks (
    mark TEXT PRIMARY KEY,
    expires REAL NOT NULL
) WITHOUT ROWID;
"""

_INSERT_ROW = (
    f"INSERT INTO {ledger.TABLE} ({', '.join(ledger.COLUMNS)}) VALUES ({', '.join('?' for _ in ledger.COLUMNS)})"
)
_HOST = socket.gethostname()
_CLEAN_EVERY = 1000  # settlements between deletions of expired buckets and marks


class SQLiteStore(SpendStore):
    keeps_ledger = True

    def __init__(self, path: str, timeout: float) -> None:
        self.path = str(Path(path).expanduser())
        self.url = f"sqlite:{self.path}"
        self._timeout = timeout
        folder = Path(self.path).parent
        if not folder.is_dir():
            raise ConfigError(f"budget store sqlite:{path}: folder {folder} does not exist. Fix: create it.")
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._settled = 0
        try:
            with self._transaction() as conn:
                for statement in _statements(SCHEMA + ledger.SCHEMA):
                    conn.execute(statement)
        except StoreError as exc:
            raise ConfigError(f"budget store sqlite:{path} cannot be opened ({exc}).") from None

    # --- connection ----------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """This process's connection (a forked child opens its own; the parent's is never touched)."""
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a committed transaction survives a process crash
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite {self.path}: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"sqlite {self.path}: {exc}") from exc
                raise

    # --- the interface -------------------------------------------------------------------------------
    def reserve(
        self, reservation: str, lines: Sequence[Line], amount: int, now: float, expires: float, owner: int = 0
    ) -> Refusal | None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM budget_reservations WHERE expires <= ?", (now,))
            refusal = self._check(conn, lines, amount)
            if refusal is not None and self._release_dead(conn):
                refusal = self._check(conn, lines, amount)
            if refusal is not None:
                return refusal
            conn.executemany(
                "INSERT INTO budget_reservations (id, budget, amount, host, pid, expires) VALUES (?, ?, ?, ?, ?, ?)",
                [(reservation, line.budget, amount, _HOST, owner or os.getpid(), expires) for line in lines],
            )
        return None

    def _check(self, conn: sqlite3.Connection, lines: Sequence[Line], amount: int) -> Refusal | None:
        for index, line in enumerate(lines):
            settled = _settled(conn, line)
            pending = _pending(conn, line.budget)
            if settled + pending >= line.limit or settled + pending + amount > line.limit:
                return Refusal(index, settled, pending)
        return None

    @staticmethod
    def _release_dead(conn: sqlite3.Connection) -> bool:
        """Drop reservations of processes of this host that no longer exist; True when any were dropped."""
        pids = [pid for (pid,) in conn.execute("SELECT DISTINCT pid FROM budget_reservations WHERE host = ?", (_HOST,))]
        dead = [pid for pid in pids if not _alive(pid)]
        for pid in dead:
            conn.execute("DELETE FROM budget_reservations WHERE host = ? AND pid = ?", (_HOST, pid))
        return bool(dead)

    def settle(
        self, reservation: str | None, lines: Sequence[Line], amount: int, now: float, row: Mapping[str, Any] | None
    ) -> list[int]:
        with self._transaction() as conn:
            if reservation is not None:
                conn.execute("DELETE FROM budget_reservations WHERE id = ?", (reservation,))
            totals = []
            for line in lines:
                if amount:
                    conn.execute(
                        "INSERT INTO budget_spend (budget, bucket, spend, expires) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (budget, bucket) DO UPDATE SET spend = spend + excluded.spend",
                        (line.budget, line.window.bucket, amount, line.window.expires),
                    )
                totals.append(_settled(conn, line))
            if row is not None:
                conn.execute(_INSERT_ROW, tuple(row.get(column) for column in ledger.COLUMNS))
            self._settled += 1
            if self._settled % _CLEAN_EVERY == 0:
                conn.execute("DELETE FROM budget_spend WHERE expires < ?", (now,))
                conn.execute("DELETE FROM budget_marks WHERE expires < ?", (now,))
        return totals

    def spend(self, lines: Sequence[Line], now: float) -> list[tuple[int, int]]:
        with self._transaction() as conn:
            conn.execute("DELETE FROM budget_reservations WHERE expires <= ?", (now,))
            return [(_settled(conn, line), _pending(conn, line.budget)) for line in lines]

    def mark_once(self, key: str, expires: float, now: float) -> bool:
        with self._transaction() as conn:
            conn.execute("DELETE FROM budget_marks WHERE mark = ? AND expires <= ?", (key, now))
            cursor = conn.execute("INSERT OR IGNORE INTO budget_marks (mark, expires) VALUES (?, ?)", (key, expires))
            return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _settled(conn: sqlite3.Connection, line: Line) -> int:
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(spend), 0) FROM budget_spend WHERE budget = ? AND bucket >= ? AND bucket <= ?",
        (line.budget, line.window.first, line.window.bucket),
    ).fetchone()
    return int(total)


def _pending(conn: sqlite3.Connection, budget: str) -> int:
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM budget_reservations WHERE budget = ?", (budget,)
    ).fetchone()
    return int(total)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _statements(script: str) -> list[str]:
    """The statements of a schema script (no string literals contain ';'), comments removed."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
